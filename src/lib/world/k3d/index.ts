import {existsSync} from 'node:fs'
import {rm} from 'node:fs/promises'
import path from 'node:path'

import type {AtlasConfig, Region} from '../../config/schema.js'
import type {CockroachHealthProbe, CockroachProbeOptions} from '../../health/cockroach.js'
import type {ClusterHealth} from '../../health/model.js'
import type {
  CloudEndpoint,
  DatabaseRole,
  DownResult,
  FaultComponent,
  FaultHandle,
  FaultMode,
  PartitionKind,
  PlanStep,
  RegionEndpoints,
  UpResult,
  World,
  WorldOperationOptions,
  WorldStatus,
} from '../types.js'

import {cloudResourceNames} from '../../cloud/names.js'
import {PreconditionError, UsageError} from '../../errors.js'
import {COCKROACH_NODEPORT_BASE, k3dTopology} from '../../gitops/topology.js'
import {PACKAGE_ROOT} from '../../paths.js'
import {silentProgress} from '../../progress.js'
import {registerSecret} from '../../redact.js'
import {CommandRunner, type PlannedCommand} from '../../tools/runner.js'
import {readTerraformOutputs, type TerraformRegionOutputs} from '../../tools/terraform-outputs.js'
import {pollUntil} from '../../wait.js'
import {LEDGER_DATABASE, LEDGER_USER, VERIFY_USER} from './ddl.js'
import {runPipeline} from './pipeline.js'
import {downSteps, k3dLayout, type K3dLayout, type K3dStep, localstackEndpoint, upSteps} from './plan.js'
import {databasePassword, renderK3d, writeK3dRendered} from './render.js'
import {StepState} from './state.js'

/**
 * The k3d world's health probe: a paused region's API server accepts and
 * never answers, so each request gives up quickly and a sample takes well
 * under a second whatever state the regions are in.
 */
export const K3D_PROBE_OPTIONS: CockroachProbeOptions = {requestTimeoutMs: 700}
/** the shared probe stops after this long without a sample */
const PROBE_IDLE_MS = 2000

/** Tools each direction needs (names of src/lib/tools/catalog.ts). */
export const K3D_UP_TOOLS = ['docker', 'k3d', 'kubectl', 'helm', 'terraform', 'ansible-playbook'] as const
export const K3D_DOWN_TOOLS = ['docker', 'k3d', 'terraform'] as const

/** Placeholders that make plans identical on every machine. */
export const BASE_DIR_PLACEHOLDER = '<base>'
export const PACKAGE_PLACEHOLDER = '<package>'

export interface K3dPlan {
  /** every command in order (the same as the steps' commands, flattened) */
  commands: PlannedCommand[]
  direction: 'down' | 'up'
  missingTools: string[]
  renderedFiles: string[]
  steps: PlanStep[]
}

/** The base dir: config.local.baseDir next to the config file (or the current directory for built-in defaults). */
export function defaultBaseDir(config: AtlasConfig): string {
  return path.resolve(config.source ? path.dirname(config.source) : process.cwd(), config.local.baseDir)
}

/**
 * The k3d world: Terraform -> LocalStack, Ansible -> k3d clusters + Argo CD,
 * ApplicationSets -> CockroachDB and the ledger. up/down are ordered, resumable
 * pipelines; a dry run returns the exact plan without touching anything.
 */
export class K3dWorld implements World {
  readonly config: AtlasConfig
  readonly driver = 'k3d' as const
  readonly layout: K3dLayout
  readonly regions: Region[]
  private probe?: CockroachHealthProbe
  private probeIdle?: NodeJS.Timeout

  constructor(config: AtlasConfig, options: {baseDir?: string} = {}) {
    this.config = config
    this.regions = config.regions
    this.layout = k3dLayout(options.baseDir ?? defaultBaseDir(config))
  }

  /** Converged: every region reachable, every node alive, quorum held, no unavailable or under-replicated range. */
  static isConverged(health: ClusterHealth): boolean {
    const db = health.groups.find((g) => g.group === 'cockroachdb')
    if (!db || !health.quorumHeld || health.unreachableRegions.length > 0) return false
    if (db.members.some((m) => !m.alive || !m.reachable)) return false
    return (db.unavailableRanges ?? 0) === 0 && (db.underReplicatedRanges ?? 0) === 0
  }

  /** Stops the shared health probe (its pod watches). */
  async close(): Promise<void> {
    clearTimeout(this.probeIdle)
    const {probe} = this
    this.probe = undefined
    await probe?.stop()
  }

  async cloudEndpoint(): Promise<CloudEndpoint> {
    // LocalStack accepts any credentials; these are its documented test values
    return {endpoint: localstackEndpoint(this.config), accessKeyId: 'test', secretAccessKey: 'test'}
  }

  /**
   * pgwire URLs of the CockroachDB node of every region whose server container
   * is up: its address on the shared Docker network (reachable from a Linux
   * host) and the node's NodePort, over TLS that verifies the node against the
   * world's CA. As a role: `verify` (the default of `atlas verify`, `env`, `psql`)
   * logs in as the read-only VERIFY_USER with its client certificate; `ledger` and
   * `admin` as the atlas user with its password (insert transfers, move balances;
   * the schema itself is made by root in the SQL Job, never from the host).
   */
  async databaseUrls(role: DatabaseRole = 'ledger'): Promise<string[]> {
    const login = await this.databaseLogin(role)
    const topology = k3dTopology(this.config)
    const runner = new CommandRunner({logFile: this.layout.logFile})
    const urls: string[] = []
    for (const region of topology.regions) {
      const result = await runner.run(
        'docker',
        ['inspect', '--format', '{{json .NetworkSettings.Networks}}', region.serverContainer],
        {
          reject: false,
          label: `read the address of ${region.serverContainer}`,
        },
      )
      if (result.exitCode !== 0) continue // the container is gone: the region is down
      let address: string | undefined
      try {
        address = (JSON.parse(result.stdout) as Record<string, {IPAddress?: string}>)[topology.network]?.IPAddress
      } catch {
        address = undefined
      }

      if (!address) continue // stopped, paused or disconnected from the network
      urls.push(k3dDatabaseUrl(this.layout, address, login))
    }

    if (urls.length === 0) {
      throw new PreconditionError('no CockroachDB node of the k3d world is reachable', {
        code: 'WORLD_NOT_UP',
        hint: '`docker ps` shows whether the k3d-dc-* containers run; `atlas up --driver k3d` starts what is missing',
      })
    }

    return urls
  }

  async down(options: WorldOperationOptions & {purge?: boolean} = {}): Promise<DownResult> {
    const {plan} = await this.execute('down', options)
    if (options.purge && !options.dryRun) await rm(this.layout.k3dDir, {recursive: true, force: true})
    return {
      driver: 'k3d',
      dryRun: options.dryRun ?? false,
      ...(options.dryRun ? {plan: plan.commands, steps: plan.steps, planLegend: this.planLegend()} : {}),
      stopped: plan.steps.filter((s) => !s.skip && s.commands.length > 0).map((s) => s.id),
      purged: Boolean(options.purge && !options.dryRun),
    }
  }

  /** From `terraform output -json` when up has run, else the names Terraform will use. */
  async endpoints(): Promise<RegionEndpoints[]> {
    // no file: not provisioned yet (computed names); a file that is not terraform's output is an error (exit 2)
    const outputs: Partial<TerraformRegionOutputs> = existsSync(this.layout.terraformOutputsFile)
      ? await readTerraformOutputs(this.layout.terraformOutputsFile)
      : {}

    const endpoint = localstackEndpoint(this.config).replace(/\/+$/, '')
    return this.regions.map((region) => {
      if (region.role === 'witness') return {region: region.name}
      const names = cloudResourceNames(this.config.namePrefix, region.name)
      const out = outputs[region.name]
      return {
        region: region.name,
        auditBucket: out?.auditBucket ?? names.auditBucket,
        queueUrl: out?.queueUrl ?? `${endpoint}/000000000000/${names.queue}`,
        deadLetterQueueUrl: out?.deadLetterQueueUrl ?? `${endpoint}/000000000000/${names.deadLetterQueue}`,
      }
    })
  }

  /**
   * One sample of CockroachDB's Raft health in every region, through the
   * Kubernetes API (src/lib/health/cockroach.ts). Successive calls (a
   * blast-radius timeline, waitConverged) share one probe whose pod watches
   * keep running, so a sample costs the proxy requests only; the probe stops
   * once no sample was asked for PROBE_IDLE_MS (or on close()).
   */
  async health(): Promise<ClusterHealth> {
    if (!this.probe) {
      const {CockroachHealthProbe, cockroachTargets} = await import('../../health/cockroach.js')
      this.probe ??= new CockroachHealthProbe(cockroachTargets(this.config), K3D_PROBE_OPTIONS)
    }

    const {probe} = this
    clearTimeout(this.probeIdle)
    try {
      return await probe.health()
    } finally {
      clearTimeout(this.probeIdle)
      // unref: the timer alone never keeps the process running, the pod watches do until it fires
      this.probeIdle = setTimeout(() => void this.close(), PROBE_IDLE_MS).unref()
    }
  }

  async injectFault(
    region: string,
    mode: FaultMode,
    options: WorldOperationOptions & {component?: FaultComponent; partition?: PartitionKind} = {},
  ): Promise<FaultHandle> {
    const {findRegion} = await import('../../config/regions.js')
    findRegion(this.config, region)
    if (mode === 'partition' && (options.partition ?? 'isolate') !== 'isolate') {
      throw new UsageError(
        `the k3d world partitions by disconnecting a region's containers from the network, both ways: --partition ${options.partition} is for the local world`,
        {code: 'PARTITION_UNSUPPORTED'},
      )
    }

    if ((options.component ?? 'region') !== 'region') {
      throw new UsageError(
        `the k3d world breaks whole regions only (their node containers); --component ${options.component} is for the local world`,
        {code: 'COMPONENT_UNSUPPORTED'},
      )
    }

    const {injectK3dFault} = await import('./faults.js')
    const runner = new CommandRunner({
      dryRun: options.dryRun ?? false,
      ...(options.dryRun ? {} : {logFile: this.layout.logFile}),
    })
    return injectK3dFault(runner, k3dTopology(this.config), region, mode, {corednsFile: this.layout.corednsCustomFile})
  }

  /** Replaces the base dir and the package root in every string of the plan. */
  placeholders<T>(value: T): T {
    const base = this.layout.baseDir
    const swap = (s: string) => s.split(base).join(BASE_DIR_PLACEHOLDER).split(PACKAGE_ROOT).join(PACKAGE_PLACEHOLDER)
    const walk = (v: unknown): unknown => {
      if (typeof v === 'string') return swap(v)
      if (Array.isArray(v)) return v.map(walk)
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item)]))
      return v
    }

    return walk(value) as T
  }

  /** The ordered plan of up or down, as a dry run would report it, with placeholders for machine paths. */
  async plan(direction: 'down' | 'up' = 'up'): Promise<K3dPlan> {
    const {plan} = await this.execute(direction, {dryRun: true})
    return plan
  }

  /** what the plan's path placeholders stand for on this machine */
  planLegend(): Record<string, string> {
    return {[BASE_DIR_PLACEHOLDER]: this.layout.baseDir, [PACKAGE_PLACEHOLDER]: PACKAGE_ROOT}
  }

  runsDir(): string {
    return this.layout.runsDir
  }

  async status(): Promise<WorldStatus> {
    const state = await StepState.load(this.layout.stateFile)
    const up = state.wasDone('ledger-synced')
    if (!up) return {driver: 'k3d', up, regions: [], health: null}
    // one sample with a probe of its own, stopped at once: status must not linger
    const {CockroachHealthProbe, cockroachTargets} = await import('../../health/cockroach.js')
    const probe = new CockroachHealthProbe(cockroachTargets(this.config), K3D_PROBE_OPTIONS)
    try {
      return {driver: 'k3d', up, regions: await this.endpoints(), health: await probe.health()}
    } finally {
      await probe.stop()
    }
  }

  async up(options: WorldOperationOptions = {}): Promise<UpResult> {
    const started = Date.now()
    const {plan, ranSteps} = await this.execute('up', options)
    return {
      driver: 'k3d',
      started: !options.dryRun && ranSteps > 0,
      dryRun: options.dryRun ?? false,
      ...(options.dryRun
        ? {
            plan: plan.commands,
            steps: plan.steps,
            planLegend: this.planLegend(),
            renderedFiles: plan.renderedFiles,
            missingTools: plan.missingTools,
          }
        : {}),
      regions: options.dryRun ? [] : await this.endpoints(),
      durationSeconds: Math.round((Date.now() - started) / 100) / 10,
    }
  }

  async waitConverged(options: {signal?: AbortSignal; timeoutMs?: number} = {}): Promise<ClusterHealth> {
    const timeoutMs = options.timeoutMs ?? 300_000
    let health!: ClusterHealth
    const notConverged = () => {
      const db = health.groups.find((g) => g.group === 'cockroachdb')
      const down = db?.members.filter((m) => !m.alive || !m.reachable).map((m) => `${m.region}/${m.name}`) ?? []
      return new PreconditionError(
        `CockroachDB did not converge within ${timeoutMs / 1000} s (not alive: ${down.join(', ') || 'none'}; unavailable ranges: ${db?.unavailableRanges ?? '?'}; under-replicated: ${db?.underReplicatedRanges ?? '?'})`,
        {
          code: 'NOT_CONVERGED',
          hint: 'kubectl --context k3d-dc-<region> -n atlas get pods shows which node is not ready; `docker ps -a` whether a node container is still stopped or paused',
        },
      )
    }

    await pollUntil(async () => K3dWorld.isConverged((health = await this.health())), {
      timeoutMs,
      intervalMs: 2000,
      signal: options.signal,
      timeoutError: notConverged,
    })
    return health
  }

  private attach(steps: K3dStep[], id: string, before: (dryRun: boolean) => Promise<void>): void {
    const step = steps.find((s) => s.id === id)
    if (step) step.before = before
  }

  /** Who a role logs in as: the verify user's client certificate, or the atlas user's password. */
  private async databaseLogin(role: DatabaseRole): Promise<DatabaseLogin> {
    if (role === 'verify') {
      const {access} = await import('node:fs/promises')
      const files = verifyCertificateFiles(this.layout)
      for (const file of [files.cert, files.key]) {
        await access(file).catch(() => {
          throw new PreconditionError(
            `the k3d world has no client certificate for its read-only user ${VERIFY_USER} (${file})`,
            {
              code: 'WORLD_NOT_UP',
              hint: '`atlas up --driver k3d` issues it (ansible/roles/cluster_secrets)',
            },
          )
        })
      }

      return {user: VERIFY_USER, certificate: files}
    }

    const password = await databasePassword(this.layout, false)
    if (!password) {
      throw new PreconditionError('the k3d world has no database user yet', {
        code: 'WORLD_NOT_UP',
        hint: 'run `atlas up --driver k3d` first',
      })
    }

    registerSecret(password)
    return {user: LEDGER_USER, password}
  }

  private async execute(
    direction: 'down' | 'up',
    options: WorldOperationOptions,
  ): Promise<{plan: K3dPlan; ranSteps: number}> {
    const dryRun = options.dryRun ?? false
    const progress = options.progress ?? silentProgress
    const endpoint = localstackEndpoint(this.config)
    // the password is made by the first real up and then kept; a dry run shows a placeholder
    const password = direction === 'up' && !dryRun ? await databasePassword(this.layout, true) : undefined
    registerSecret(password)
    const rendered = await renderK3d(this.config, this.layout, endpoint, password)
    const inputs = {
      config: this.config,
      layout: this.layout,
      endpoint,
      renderedFiles: rendered.gitops.map((f) => f.path),
    }
    const steps = direction === 'up' ? upSteps(inputs) : downSteps(inputs)
    const missing = new Set<string>()
    const state = await StepState.load(this.layout.stateFile)

    this.attach(steps, 'doctor', async (dry) => {
      for (const tool of await missingTools(direction === 'up' ? K3D_UP_TOOLS : K3D_DOWN_TOOLS)) missing.add(tool)
      if (missing.size === 0) return
      const list = [...missing].join(', ')
      if (dry) progress.info(`warning: not found or not usable here: ${list} (the plan is still exact)`)
      else
        throw new PreconditionError(`the k3d world needs ${list}`, {
          code: 'TOOL_MISSING',
          hint: 'run `atlas doctor` for how to install them',
          details: {missing: [...missing]},
        })
    })
    this.attach(steps, 'render', async (dry) => {
      if (!dry) await writeK3dRendered(rendered, this.layout)
    })
    this.attach(steps, 'forget', async (dry) => {
      if (!dry) await state.clear()
    })
    const outputStep = steps.find((s) => s.id === 'terraform-output')
    if (outputStep) {
      outputStep.commands[0].after = async (result) => {
        const {writeFile} = await import('node:fs/promises')
        JSON.parse(result.stdout) // refuse to store something that is not the outputs
        await writeFile(this.layout.terraformOutputsFile, `${result.stdout}\n`)
      }
    }

    // a dry run writes nothing, not even a log
    const runner = new CommandRunner({dryRun, ...(dryRun ? {} : {logFile: this.layout.logFile})})
    const planSteps = await runPipeline(steps, {
      runner,
      state,
      progress,
      dryRun,
      inputsDigest: rendered.digest,
      reverse: direction === 'down',
      signal: options.signal,
    })
    for (const tool of runner.missingTools) missing.add(tool)
    const normalised = this.placeholders(planSteps)
    const plan: K3dPlan = {
      direction,
      steps: normalised,
      commands: normalised.flatMap((s) => s.commands),
      renderedFiles: normalised.flatMap((s) => s.files ?? []),
      missingTools: [...missing].sort(),
    }
    return {plan, ranSteps: planSteps.filter((s) => !s.skip).length}
  }
}

/** A login to the ledger database: a password, or a client certificate (cert authentication, CN = user). */
export type DatabaseLogin =
  | {certificate: {cert: string; key: string}; password?: undefined; user: string}
  | {certificate?: undefined; password: string; user: string}

/** The read-only verify user's client certificate and key (client.<user>.crt/.key, as CockroachDB names them). */
export function verifyCertificateFiles(layout: K3dLayout): {cert: string; key: string} {
  return {
    cert: path.join(layout.certsDir, `client.${VERIFY_USER}.crt`),
    key: path.join(layout.certsDir, `client.${VERIFY_USER}.key`),
  }
}

/**
 * One node's URL for a login. The node certificate names the server containers, not
 * their addresses on the network, which the host dials: the chain is verified against
 * the world's own CA (libpq verify-ca).
 */
export function k3dDatabaseUrl(
  layout: K3dLayout,
  address: string,
  login: DatabaseLogin,
  database: string = LEDGER_DATABASE,
): string {
  const params = new URLSearchParams({sslmode: 'verify-ca', sslrootcert: path.join(layout.certsDir, 'ca.crt')})
  if (login.certificate) {
    params.set('sslcert', login.certificate.cert)
    params.set('sslkey', login.certificate.key)
  }

  const credentials =
    login.password === undefined
      ? encodeURIComponent(login.user)
      : `${encodeURIComponent(login.user)}:${encodeURIComponent(login.password)}`
  return `postgresql://${credentials}@${address}:${COCKROACH_NODEPORT_BASE}/${encodeURIComponent(database)}?${params.toString()}`
}

/** Tools of the list that are not found or not usable (Docker without an engine counts as missing). */
async function missingTools(names: readonly string[]): Promise<string[]> {
  const {TOOL_CATALOG} = await import('../../tools/catalog.js')
  const {inspectTool} = await import('../../tools/discovery.js')
  const missing: string[] = []
  for (const name of names) {
    const spec = TOOL_CATALOG.find((t) => t.name === name)
    if (!spec) continue
    const status = await inspectTool(spec)
    if (!status.ok) missing.push(name)
  }

  return missing
}
