import {randomBytes} from 'node:crypto'
import {chmod, chown, mkdir, readFile, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import type {AtlasConfig, Region} from '../../config/schema.js'
import {cloudResourceNames} from '../../cloud/names.js'
import {findRegion, primaryRegion} from '../../config/regions.js'
import {PreconditionError, RestoreError, UsageError} from '../../errors.js'
import {etcdGroupHealth, sampleEtcd} from '../../health/etcd.js'
import {fetchJson, type ClientTls} from '../../health/http.js'
import {clusterHealth, type ClusterHealth} from '../../health/model.js'
import {patroniGroupHealth, samplePatroni} from '../../health/patroni.js'
import {isAlive, isGroupAlive, isListening, isPortFree, killProcessGroup, mkdirOwned, postgresOsUser, sleep, stopProcessGroup, waitForExit, waitForPort, writePidFile, readPidFile, type OsUser} from '../../proc/index.js'
import {silentProgress} from '../../progress.js'
import {registerSecret} from '../../redact.js'
import {CommandRunner} from '../../tools/runner.js'
import {findExecutable} from '../../tools/discovery.js'
import type {CloudEndpoint, DownResult, FaultComponent, FaultHandle, FaultMode, PlanStep, RegionEndpoints, UpResult, World, WorldOperationOptions, WorldStatus} from '../types.js'
import {allPorts, databaseUrl, etcdClientUrl, localLayout, patroniConfig, patroniUrl, type DatabaseRole, type DatabaseSecrets, type LocalLayout, type RegionLayout} from './layout.js'
import {atlasEtcdTls, ensurePki, pkiPaths} from './pki.js'
import type {PartitionKind} from './partition.js'
import {childrenOf, cmdlineOf, managedProcesses, postmasterPid, processGroupOf, type ManagedProcess} from './processes.js'
import type {ProvisionResult} from '../../cloud/provision.js'
import {backupSchedulerProcesses} from '../../backup/schedule.js'
import {LocalMonitoring, type MonitoringStartResult} from '../../monitoring/local.js'

/** moto accepts any credentials; these are its documented test values, never real ones. */
const EMULATOR_CREDENTIALS = {accessKeyId: 'test', secretAccessKey: 'test'}

interface WorldState {
  driver: 'local'
  startedAt: string
  basePort: number
  host: string
  cloud?: ProvisionResult
  /** every step of `up` finished (processes, cloud resources, ledger schema) */
  complete?: boolean
}

export interface LocalWorldOptions {
  baseDir?: string
  /** how the cloud resources are created: the AWS SDK (default; no provider download) or terraform/ against moto */
  provisioner?: 'sdk' | 'terraform'
}

/**
 * The local world: per region an etcd member and a Patroni-managed PostgreSQL
 * node on loopback, plus one moto server for S3/SQS/IAM. Every process is
 * started detached in its own process group with a pid file under
 * <baseDir>/run, so status, down and faults work from any later invocation.
 */
export class LocalWorld implements World {
  readonly driver = 'local' as const
  readonly config: AtlasConfig
  readonly regions: Region[]
  readonly layout: LocalLayout
  private readonly processes: ManagedProcess[]
  private readonly provisioner: 'sdk' | 'terraform'
  private etcdTls?: Promise<ClientTls>
  /** Prometheus, Alertmanager and the exporters (src/lib/monitoring): started by up, stopped by down */
  readonly monitoring: LocalMonitoring
  /** the region cgroups processes start in (partition.ts); undefined: not available here */
  private cgroups?: Promise<{regions: Map<string, string>; home: string} | undefined>

  constructor(config: AtlasConfig, options: LocalWorldOptions = {}) {
    this.provisioner = options.provisioner ?? 'sdk'
    this.config = config
    this.regions = config.regions
    const configDir = config.source ? path.dirname(config.source) : process.cwd()
    const baseDir = options.baseDir ?? path.resolve(configDir, config.local.baseDir)
    this.layout = localLayout(config, baseDir)
    this.processes = [...managedProcesses(this.layout), ...backupSchedulerProcesses(config, this.layout)]
    this.monitoring = new LocalMonitoring(this.layout)
  }

  runsDir(): string {
    return this.layout.runsDir
  }

  /** Backups, WAL archiving and restores of this world (src/lib/backup). */
  async backups(): Promise<import('../../backup/local.js').LocalBackups> {
    const {LocalBackups} = await import('../../backup/local.js')
    return new LocalBackups(this)
  }

  // ------------------------------------------------------------------ up --

  async up(options: WorldOperationOptions & {monitoring?: boolean} = {}): Promise<UpResult> {
    const started = Date.now()
    const progress = options.progress ?? silentProgress
    // a dry run writes nothing, not even the log directory
    const runner = new CommandRunner({dryRun: options.dryRun, logFile: options.dryRun ? undefined : path.join(this.layout.logDir, 'atlas.log'), planRoot: this.layout.baseDir})
    if (options.dryRun) return this.upPlan(options.monitoring !== false)
    const live = await this.liveProcesses()
    // a blast-radius that was itself killed (no Ctrl-C) can leave a region paused: continuing a running process is harmless
    await this.continueAll(live)
    // ... or a partition's nftables table: a world coming up starts whole
    const leftovers = await this.removePartitionTables(runner)
    if (leftovers.length > 0) progress.info(`removed nftables tables a crashed partition left: ${leftovers.join(', ')}`)
    // the state file is written last: a world without it was interrupted half-way, and up finishes it (every step is idempotent)
    const complete = (await this.readState())?.complete === true
    const wantMonitoring = options.monitoring !== false
    const monitoringLive = await this.monitoring.live()
    const monitoringComplete = !wantMonitoring || this.monitoring.processes().every((p) => monitoringLive.has(p.name)) || (await this.monitoring.tools()).missing.length > 0
    if (complete && this.processes.every((p) => live.has(p.name)) && monitoringComplete) {
      const monitoring = wantMonitoring ? await this.monitoringSummary() : {enabled: false, reason: 'left out (--no-monitoring)'}
      return {driver: 'local', started: false, dryRun: false, regions: await this.endpoints(), durationSeconds: (Date.now() - started) / 1000, monitoring}
    }
    const user = await postgresOsUser()
    await this.prepareDirs(user)
    await this.refuseSharedAddressWorld()
    const secrets = await this.secrets(true)
    const missing = this.processes.filter((p) => !live.has(p.name))
    await this.checkPortsFree(missing)
    const backups = await this.backups()
    if (missing.some((p) => p.kind === 'moto')) {
      const {tlsPort} = backups.b
      if (!(await isPortFree(tlsPort, this.layout.host))) {
        throw new PreconditionError(`port ${this.layout.host}:${tlsPort} (for moto's HTTPS listener) is already in use by another program`, {code: 'PORT_BUSY', hint: 'stop that program, or set local.basePort in atlas.yaml to another block', details: {port: tlsPort, owner: 'moto (HTTPS)'}})
      }
      await backups.ensureTlsCertificate(runner)
    }

    let done = progress.step("the world's CA and the TLS certificates of etcd, PostgreSQL and their clients")
    try {
      await this.refusePlainTextWorld()
      const issued = await ensurePki(this.layout, runner, user)
      done({note: issued > 0 ? `${issued} issued in ${pkiPaths(this.layout).dir}` : 'already issued'})
    } catch (error) {
      done({error: error as Error})
      throw error
    }

    done = progress.step('start etcd (one member per region) and moto')
    let motoReady: Promise<void> = Promise.resolve()
    try {
      await Promise.all(missing.filter((p) => p.kind !== 'patroni').map((p) => this.startProcess(runner, p, user)))
      // moto loads its snapshot and replays its journal before it listens: allow for a large state.
      // Only the cloud steps need it, so PostgreSQL does not wait for it (awaited there)
      motoReady = waitForPort(this.layout.motoPort, {host: this.layout.host, timeoutMs: 120_000, what: 'moto', signal: options.signal})
      motoReady.catch(() => {})
      await this.waitEtcdQuorum(options.signal)
      done({note: `etcd on ${this.layout.regions.map((r) => r.etcdClientPort).join(', ')}; moto on ${this.layout.motoPort} (starting)`})
    } catch (error) {
      done({error: error as Error})
      throw error
    }

    done = progress.step('start PostgreSQL under Patroni (synchronous replication)')
    const provisioning = motoReady.then(() => this.provisionCloud())
    provisioning.catch(() => {})
    const withBackups = await backupsAvailable()
    // The leader takes writes before its standbys are in sync (synchronous_mode_strict: until then a
    // commit waits for any streaming standby), so the schema and the backup repository are made
    // while the standbys are cloned and catch up; their steps below report them in order.
    let early: {schema: Promise<string>; repository?: Promise<void>} | undefined
    // a failed Patroni step stops the wait for a leader, so nothing starts behind the error
    const stopEarly = new AbortController()
    const startEarly = (leaderUp: Promise<void>) => {
      const schema = leaderUp.then(() => this.createLedgerSchema())
      schema.catch(() => {})
      const repository = withBackups ? Promise.all([leaderUp, motoReady]).then(() => backups.ensureRepository()) : undefined
      repository?.catch(() => {})
      early = {schema, repository}
    }
    try {
      await this.writePatroniConfigs(secrets, user)
      const patronis = missing.filter((p) => p.kind === 'patroni')
      // the primary region bootstraps the cluster: start it first and let it claim the initialize key
      const primary = this.regionLayout(primaryRegion(this.config).name)
      const primaryProc = patronis.find((p) => p.region === primary.region.name)
      if (primaryProc) {
        await this.startProcess(runner, primaryProc, user)
        await this.waitForInitializeKey(options.signal)
      }
      await Promise.all(patronis.filter((p) => p !== primaryProc).map((p) => this.startProcess(runner, p, user)))
      startEarly(this.waitForLeader({timeoutMs: 60_000, signal: options.signal ? AbortSignal.any([options.signal, stopEarly.signal]) : stopEarly.signal}))
      const health = await this.waitConverged({timeoutMs: 60_000, signal: options.signal})
      done({note: `database leader ${health.leaderRegion}; etcd leader ${health.groups.find((g) => g.group === 'etcd')?.leaderRegion}`})
    } catch (error) {
      stopEarly.abort()
      done({error: error as Error})
      throw error
    }
    // monitoring starts once the world is healthy (no CPU taken from its bootstrap, no alert about a bootstrap in
    // progress) and comes up while the cloud resources, the schema and the backups are set up; up waits for it at the end
    const monitoring: MonitoringStartResult = wantMonitoring ? await this.monitoring.start(runner, secrets.monitorPassword!) : {enabled: false, reason: 'left out (--no-monitoring)', started: [], ready: Promise.resolve()}

    let cloud: ProvisionResult
    done = progress.step(this.provisioner === 'terraform' ? 'provision S3 audit buckets and SQS queues (terraform/ against moto)' : 'provision S3 audit buckets and SQS queues (SDK, as terraform/modules/region declares)')
    try {
      cloud = await provisioning
      for (const w of cloud.warnings) progress.info(w)
      done({note: cloud.regions.map((r) => r.auditBucket).join(', ')})
    } catch (error) {
      done({error: error as Error})
      throw error
    }
    done = progress.step('initialise the ledger schema and mint the accounts')
    try {
      done({note: await (early?.schema ?? this.createLedgerSchema())})
    } catch (error) {
      done({error: error as Error})
      throw error
    }
    if (withBackups) {
      done = progress.step(`create the backup repository (pgBackRest stanza ${backups.b.stanza} in s3://${backups.b.bucket})`)
      try {
        await (early?.repository ?? backups.ensureRepository())
        done({})
      } catch (error) {
        done({error: error as Error})
        throw error
      }
    } else {
      progress.info('pgBackRest was not found: the world runs without WAL archiving and `atlas backup` is unavailable (apt-get install pgbackrest)')
    }
    const monitoringResult = await this.awaitMonitoring(monitoring, progress)
    await this.writeState({driver: 'local', startedAt: new Date().toISOString(), basePort: this.layout.basePort, host: this.layout.host, cloud, complete: true})
    return {driver: 'local', started: true, dryRun: false, regions: await this.endpoints(), durationSeconds: (Date.now() - started) / 1000, monitoring: monitoringResult}
  }

  /** The end of up: Prometheus and Alertmanager answer (monitoring never fails up: it says why it is off). */
  private async awaitMonitoring(monitoring: MonitoringStartResult, progress: NonNullable<WorldOperationOptions['progress']>): Promise<NonNullable<UpResult['monitoring']>> {
    if (!monitoring.enabled) {
      progress.info(`monitoring is off: ${monitoring.reason}`)
      return {enabled: false, reason: monitoring.reason}
    }
    const done = progress.step('monitoring: Prometheus, Alertmanager, a postgres_exporter per region')
    for (const w of monitoring.warnings ?? []) progress.info(w)
    try {
      await monitoring.ready
      done({note: `Prometheus ${monitoring.prometheusUrl}, Alertmanager ${monitoring.alertmanagerUrl}`})
      return {enabled: true, prometheusUrl: monitoring.prometheusUrl, alertmanagerUrl: monitoring.alertmanagerUrl}
    } catch (error) {
      done({error: error as Error})
      return {enabled: false, reason: (error as Error).message}
    }
  }

  private async monitoringSummary(): Promise<NonNullable<UpResult['monitoring']>> {
    const {missing} = await this.monitoring.tools()
    if (missing.length > 0) return {enabled: false, reason: `${missing.join(', ')} not installed`}
    const {prometheusUrl, alertmanagerUrl, monitoringLayout} = await import('../../monitoring/layout.js')
    const m = monitoringLayout(this.layout)
    return {enabled: true, prometheusUrl: prometheusUrl(m), alertmanagerUrl: alertmanagerUrl(m)}
  }

  /**
   * `up --dry-run`: every step a real `up` would take, in order, with the exact
   * commands, and what it would skip because it is already running or done. Reads
   * the world's pid and state files; writes nothing.
   */
  private async upPlan(withMonitoring = true): Promise<UpResult> {
    const live = await this.liveProcesses({clean: false})
    const complete = (await this.readState())?.complete === true
    const steps: PlanStep[] = []
    const missingTools = new Set<string>()
    const processStep = async (id: string, title: string, procs: ManagedProcess[], files?: string[]) => {
      const runner = new CommandRunner({dryRun: true, planRoot: this.layout.baseDir})
      for (const proc of procs.filter((p) => !live.has(p.name))) await this.startProcess(runner, proc, undefined)
      for (const tool of runner.missingTools) missingTools.add(tool)
      const running = procs.filter((p) => live.has(p.name)).map((p) => `${p.name} (pid ${live.get(p.name)})`)
      const skip = running.length === procs.length ? `already running: ${running.join(', ')}` : undefined
      steps.push({id, title: running.length > 0 && !skip ? `${title}; already running: ${running.join(', ')}` : title, commands: runner.plan, ...(files && !skip ? {files} : {}), ...(skip ? {skip} : {})})
    }
    const pki = pkiPaths(this.layout)
    const {access} = await import('node:fs/promises')
    const haveCa = await access(pki.caKey).then(() => true, () => false)
    steps.push({id: 'pki', title: `create the world's CA and issue the TLS certificates of etcd (peers and clients), PostgreSQL (servers) and their clients with openssl, 0600 in ${pki.dir} and ${pki.postgresDir}`, commands: [], files: [pki.dir, pki.postgresDir], ...(haveCa ? {skip: `the CA exists already (${pki.caCert}); missing certificates are issued by it`} : {})})
    await processStep('etcd-moto', 'start etcd (one member per region) and moto', this.processes.filter((p) => p.kind !== 'patroni'))
    await processStep('patroni', 'start PostgreSQL under Patroni (synchronous replication), each Patroni under its software watchdog', this.processes.filter((p) => p.kind === 'patroni'), this.layout.regions.map((r) => r.patroniConfigFile))
    const done = complete ? 'done by an earlier `up` (world.json says so)' : undefined
    const names = this.config.regions.filter((r) => r.role !== 'witness').map((r) => cloudResourceNames(this.config.namePrefix, r.name))
    if (this.provisioner === 'terraform') {
      const runner = new CommandRunner({dryRun: true, planRoot: this.layout.baseDir})
      await this.runTerraform(runner, path.join(this.layout.baseDir, 'terraform'))
      for (const tool of runner.missingTools) missingTools.add(tool)
      steps.push({id: 'cloud', title: 'provision S3 audit buckets and SQS queues (terraform/ against moto)', commands: runner.plan, ...(done ? {skip: done} : {})})
    } else {
      const resources = names.flatMap((n) => [n.auditBucket, n.queue, n.deadLetterQueue])
      steps.push({id: 'cloud', title: `provision S3 audit buckets and SQS queues through the AWS SDK, as terraform/modules/region declares: ${resources.join(', ')}`, commands: [], ...(done ? {skip: done} : {})})
    }
    const {accounts, openingBalance} = this.config.ledger
    if (withMonitoring) steps.push(await this.monitoring.planStep())
    steps.push({id: 'schema', title: `create the ledger schema and mint ${openingBalance} to each of ${accounts} accounts`, commands: [], files: [this.layout.stateFile], ...(done ? {skip: done} : {})})
    return {driver: 'local', started: false, dryRun: true, plan: steps.flatMap((st) => st.commands), steps, missingTools: [...missingTools], regions: await this.endpoints(), durationSeconds: 0}
  }

  /** Creates the ledger schema and mints the opening balances (idempotent: the ledger library records both); returns what it did. */
  private async createLedgerSchema(): Promise<string> {
    const [{connectLedger}, {initLedger}, {ensureRoles}] = await Promise.all([import('../../ledger/db.js'), import('../../ledger/schema.js'), import('./roles.js')])
    // the superuser's one use outside Patroni: the schema, the mint and the least-privilege roles
    const sql = await connectLedger(await this.databaseUrls('admin'), {max: 1, applicationName: 'atlas-up'})
    try {
      const result = await initLedger(sql, {accounts: this.config.ledger.accounts, openingBalance: this.config.ledger.openingBalance, allowNegativeBalances: this.config.ledger.allowNegativeBalances})
      await ensureRoles(sql, await this.secrets())
      return `${result.minted ? `minted ${result.mint.total} across ${result.mint.accounts} accounts` : 'already minted'}; roles atlas_ledger (transfers) and atlas_verify (read-only)`
    } finally {
      await sql.end({timeout: 5})
    }
  }

  /**
   * A world made before TLS (data, no CA) cannot be upgraded in place: etcd keeps its members'
   * http:// peer URLs in its data, and the nodes' replicas were made without certificates.
   */
  private async refusePlainTextWorld(): Promise<void> {
    const {access} = await import('node:fs/promises')
    const exists = (file: string) => access(file).then(() => true, () => false)
    if (await exists(pkiPaths(this.layout).caKey)) return
    const data = [...this.layout.regions.map((r) => r.etcdDataDir), ...this.layout.regions.map((r) => r.postgresDataDir)]
    const found = (await Promise.all(data.map(exists))).some(Boolean)
    if (found) {
      throw new PreconditionError(`the local world in ${this.layout.baseDir} was made without TLS (it has data but no CA) and cannot be upgraded in place`, {
        code: 'WORLD_WITHOUT_TLS',
        hint: '`atlas down --purge --yes` removes it (runs/ is kept); then `atlas up` makes a new one',
      })
    }
  }

  /**
   * A world made before each region had its own address cannot be moved in place: etcd keeps
   * its members' peer URLs in its data, and the certificates name the old address.
   */
  private async refuseSharedAddressWorld(): Promise<void> {
    const r = this.layout.regions[0]
    const pem = await readFile(pkiPaths(this.layout).etcdMember(r).cert, 'utf8').catch(() => undefined)
    if (!pem) return
    const {X509Certificate} = await import('node:crypto')
    const names = new X509Certificate(pem).subjectAltName ?? ''
    if (names.includes(`IP Address:${r.address}`)) return
    throw new PreconditionError(`the local world in ${this.layout.baseDir} was made before each region had its own address (${r.region.name} is now ${r.address}; its certificates name ${names || 'another address'})`, {
      code: 'WORLD_ADDRESSES_CHANGED',
      hint: '`atlas down --purge --yes` removes it (runs/ is kept); then `atlas up` makes a new one',
    })
  }

  /** Deletes this world's nftables tables (partitions); see partition.ts. */
  private async removePartitionTables(runner: CommandRunner): Promise<string[]> {
    const {removeWorldTables} = await import('./partition.js')
    return removeWorldTables(this.layout, runner)
  }

  /** Continues every process of the world (a blast-radius that was itself killed can leave a region paused). */
  private async continueAll(live: Map<string, number>): Promise<void> {
    for (const pid of live.values()) killProcessGroup(pid, 'SIGCONT')
    for (const r of this.layout.regions) {
      const patroni = await this.patroniPid(r)
      if (patroni !== undefined) killProcessGroup(patroni, 'SIGCONT')
      const pm = await postmasterPid(r.postgresDataDir)
      if (pm === undefined) continue
      for (const p of [pm, ...(await childrenOf(pm))]) {
        const g = await processGroupOf(p)
        if (g !== undefined) killProcessGroup(g, 'SIGCONT')
      }
    }
  }

  /** Patroni's own PID: the child of its software watchdog (libexec/patroni-softdog.py), in a process group of its own. */
  private async patroniPid(r: RegionLayout): Promise<number | undefined> {
    const watchdog = await readPidFile(this.processes.find((p) => p.kind === 'patroni' && p.region === r.region.name)!.pidFile)
    if (watchdog === undefined) return undefined
    for (const child of await childrenOf(watchdog)) {
      if ((await cmdlineOf(child))?.includes(r.patroniConfigFile)) return child
    }
    return undefined
  }

  private async prepareDirs(user: OsUser | undefined): Promise<void> {
    // a base dir atlas creates can be entered (the postgres OS user reaches its home in it) but not listed; one
    // that exists keeps its mode (it may be the user's own directory): everything atlas keeps in it is 0700 or 0600
    await mkdir(this.layout.baseDir, {recursive: true, mode: 0o711})
    for (const dir of [this.layout.runDir, this.layout.logDir, this.layout.dataDir, this.layout.runsDir]) {
      await mkdir(dir, {recursive: true, mode: 0o700})
      await chmod(dir, 0o700)
    }
    await mkdirOwned(this.layout.postgresHome, user)
    await chmod(this.layout.postgresHome, 0o700)
    await mkdirOwned(path.join(this.layout.postgresHome, 'data'), user)
    if (user) await this.checkTraversable(user)
  }

  /** The postgres user must reach its data dirs: every parent of baseDir needs the x bit for others. */
  private async checkTraversable(user: OsUser): Promise<void> {
    const {stat} = await import('node:fs/promises')
    let dir = this.layout.baseDir
    while (true) {
      const st = await stat(dir)
      if (!(st.mode & 0o001) && st.uid !== user.uid) {
        throw new PreconditionError(`PostgreSQL runs as the "${user.name}" OS user, which cannot enter ${dir} (mode ${(st.mode & 0o777).toString(8)})`, {
          hint: `chmod o+x ${dir}, or set local.baseDir to a directory under /tmp`,
        })
      }
      const parent = path.dirname(dir)
      if (parent === dir) return
      dir = parent
    }
  }

  /** Generated once per base dir (mode 0600) and registered so they are masked in every output. */
  private async secrets(create = false): Promise<DatabaseSecrets> {
    const generate = () => randomBytes(18).toString('base64url')
    let secrets: Partial<DatabaseSecrets> | undefined
    try {
      secrets = JSON.parse(await readFile(this.layout.secretsFile, 'utf8')) as Partial<DatabaseSecrets>
    } catch {
      if (!create) throw new PreconditionError(`the local world in ${this.layout.baseDir} has not been set up`, {hint: 'run `atlas up`'})
      secrets = {}
    }
    // the monitoring role's password is optional until the next `up` makes it (a world from before monitoring works without it)
    const missing = (['superuserPassword', 'replicationPassword', 'ledgerPassword', 'verifyPassword', 'restApiPassword', ...(create ? ['monitorPassword'] as const : [])] as const).filter((k) => !secrets![k])
    if (missing.length > 0) {
      // a world set up before the least-privilege roles existed gets their passwords on its next `up`
      if (!create) throw new PreconditionError(`the local world in ${this.layout.baseDir} has no ${missing.join(', ')}`, {hint: 'run `atlas up`'})
      for (const k of missing) secrets[k] = generate()
      await mkdir(this.layout.baseDir, {recursive: true})
      await writeFile(this.layout.secretsFile, JSON.stringify(secrets), {mode: 0o600})
    }
    if (create) await chmod(this.layout.secretsFile, 0o600)
    for (const value of Object.values(secrets)) registerSecret(value)
    return secrets as DatabaseSecrets
  }

  private async writePatroniConfigs(secrets: DatabaseSecrets, user: OsUser | undefined): Promise<void> {
    const {stringify} = await import('yaml')
    const postgres = await findExecutable('postgres')
    if (!postgres) throw new PreconditionError('PostgreSQL server binaries were not found', {hint: 'apt-get install -y postgresql'})
    // Debian symlinks some server binaries into PATH; Patroni needs the real bin dir (pg_controldata, pg_rewind, ...)
    const {realpath} = await import('node:fs/promises')
    const binDir = path.dirname(await realpath(postgres))
    // continuous WAL archiving to the backup repository, where pgBackRest is installed
    const backups = (await backupsAvailable()) ? await this.backups() : undefined
    await backups?.writeConfigs(user)
    for (const r of this.layout.regions) {
      const config = patroniConfig(this.layout, r, secrets, binDir) as {postgresql: {parameters: Record<string, unknown>}}
      if (backups) config.postgresql.parameters = {...config.postgresql.parameters, ...backups.archiveParameters(r)}
      await writeFile(r.patroniConfigFile, stringify(config), {mode: 0o600})
      if (user) await chown(r.patroniConfigFile, user.uid, user.gid)
    }
  }

  private async checkPortsFree(procs: ManagedProcess[]): Promise<void> {
    const starting = new Set(procs.filter((p) => p.kind !== 'scheduler').map((p) => p.kind === 'patroni' ? `pg-${p.region}` : p.kind === 'etcd' ? `etcd-${p.region}` : 'moto'))
    // a PostgreSQL this world left running without its Patroni (Patroni killed alone) is ours: the Patroni
    // started next adopts it (and demotes it if another node leads now), so its port does not count as busy
    const adopted = new Set<number>()
    for (const r of this.layout.regions) if ((await postmasterPid(r.postgresDataDir)) !== undefined) adopted.add(r.postgresPort)
    for (const {port, owner, host} of allPorts(this.layout)) {
      if (![...starting].some((s) => owner.startsWith(s)) || adopted.has(port)) continue
      if (!(await isPortFree(port, host))) {
        throw new PreconditionError(`port ${host}:${port} (for ${owner}) is already in use by another program`, {
          code: 'PORT_BUSY',
          hint: `stop that program, or set local.basePort in atlas.yaml to another block (the local world uses ${this.layout.basePort}-${this.layout.motoPort})`,
          details: {port, owner},
        })
      }
    }
  }

  private async startProcess(runner: CommandRunner, proc: ManagedProcess, user: OsUser | undefined): Promise<number> {
    const env: Record<string, string> = proc.kind === 'patroni' ? {HOME: this.layout.postgresHome, PGPASSFILE: path.join(this.layout.postgresHome, `pgpass-${proc.region}`)} : {}
    if (proc.kind === 'etcd') env.ETCD_UNSUPPORTED_ARCH = process.arch === 'x64' || process.arch === 'arm64' ? '' : process.arch
    let {tool, args} = proc
    if (proc.kind === 'patroni') {
      const patroni = await findExecutable('patroni')
      if (!patroni && runner.dryRun) runner.missingTools.add('patroni')
      else if (!patroni) throw new PreconditionError('Patroni was not found', {hint: 'npm run setup (installs Patroni from PyPI into .tools)'})
      // the watchdog runs on the interpreter Patroni was installed with: one the postgres OS user can run
      const {realpath} = await import('node:fs/promises')
      const python = patroni ? path.join(path.dirname(await realpath(patroni)), 'python3') : 'python3'
      tool = python
      args = args.map((a) => a === 'python3' ? python : a)
    }
    if (proc.kind === 'moto') tool = await motoInterpreter(runner)
    // each region's processes in a cgroup of its own, so a partition can tell their sockets apart
    let cgroup: {dir: string; home: string} | undefined
    if (proc.region && !runner.dryRun) {
      this.cgroups ??= import('./partition.js').then((m) => m.ensureRegionCgroups(this.layout))
      const groups = await this.cgroups
      const dir = groups?.regions.get(proc.region)
      if (groups && dir) cgroup = {dir, home: groups.home}
    }
    const pid = await runner.start(tool, args, {
      cgroup,
      logFile: proc.logFile,
      label: proc.name,
      cwd: proc.asPostgres ? this.layout.postgresHome : this.layout.baseDir,
      env,
      uid: proc.asPostgres ? user?.uid : undefined,
      gid: proc.asPostgres ? user?.gid : undefined,
    })
    if (!runner.dryRun) await writePidFile(proc.pidFile, pid)
    return pid
  }

  /** name -> pid of every managed process that is alive and really ours (a reused PID is not); stale pid files are removed. */
  private async liveProcesses(options: {clean?: boolean} = {}): Promise<Map<string, number>> {
    const live = new Map<string, number>()
    for (const proc of this.processes) {
      const pid = await readPidFile(proc.pidFile)
      if (pid === undefined) continue
      const cmd = isAlive(pid) ? await cmdlineOf(pid) : undefined
      if (cmd && cmd.includes(proc.marker)) live.set(proc.name, pid)
      else if (options.clean !== false) await rm(proc.pidFile, {force: true})
    }
    return live
  }

  private async waitEtcdQuorum(signal?: AbortSignal, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let last = ''
    while (Date.now() < deadline) {
      signal?.throwIfAborted()
      const {samples} = await sampleEtcd(await this.etcdTargets())
      const group = etcdGroupHealth(samples)
      if (group.quorumHeld && group.leaderRegion) return
      last = `${group.votersAlive}/${group.voters} members answering, leader ${group.leaderRegion ?? 'none'}`
      await sleep(100, signal)
    }
    throw new PreconditionError(`etcd did not form a cluster within ${timeoutMs / 1000} s (${last})`, {hint: `see ${this.layout.logDir}/etcd-*.log`})
  }

  /** Waits until some Patroni node has claimed the bootstrap (the DCS initialize key exists). */
  private async waitForInitializeKey(signal?: AbortSignal, timeoutMs = 30_000): Promise<void> {
    const key = Buffer.from(`/service/${this.layout.scope}/initialize`).toString('base64')
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      signal?.throwIfAborted()
      for (const target of await this.etcdTargets()) {
        try {
          const body = await fetchJson<{kvs?: unknown[]}>(`${target.clientUrl}/v3/kv/range`, {body: {key}, tls: target.tls})
          if (body.kvs && body.kvs.length > 0) return
          break
        } catch {
          // try the next member
        }
      }
      await sleep(100, signal)
    }
    throw new PreconditionError(`the primary's Patroni did not bootstrap the cluster within ${timeoutMs / 1000} s`, {hint: `see ${this.layout.logDir}/patroni-*.log`})
  }

  private async provisionCloud(): Promise<ProvisionResult> {
    if (this.provisioner === 'terraform') return this.provisionWithTerraform()
    const {provisionCloud} = await import('../../cloud/provision.js')
    return provisionCloud(this.config, await this.cloudEndpoint())
  }

  /**
   * terraform/ (the k3d world's stack) applied against moto. Needs the AWS provider,
   * which `terraform init` downloads: a user's machine, not an offline sandbox.
   * State and provider cache live under <baseDir>/terraform, never in the package.
   */
  private async provisionWithTerraform(): Promise<ProvisionResult> {
    const {terraformVariables} = await import('../../tools/terraform-vars.js')
    const dir = path.join(this.layout.baseDir, 'terraform')
    await mkdir(dir, {recursive: true})
    const varFile = path.join(dir, 'local.tfvars.json')
    const cloud = await this.cloudEndpoint()
    await writeFile(varFile, JSON.stringify(terraformVariables(this.config, {endpoint: cloud.endpoint}), null, 2))
    const out = await this.runTerraform(new CommandRunner({logFile: path.join(this.layout.logDir, 'terraform.log')}), dir)
    const regions = (JSON.parse(out.stdout) as {regions: {value: Record<string, Record<string, string>>}}).regions.value
    return {
      regions: Object.entries(regions).map(([region, o]) => ({
        region,
        awsRegion: o.aws_region,
        auditBucket: o.audit_bucket_name,
        queueUrl: o.queue_url,
        queueArn: o.queue_arn,
        deadLetterQueueUrl: o.dead_letter_queue_url,
        deadLetterQueueArn: o.dead_letter_queue_arn,
        replicationRoleArn: o.replication_role_arn,
      })),
      replication: Object.entries(regions).filter(([, o]) => o.replicates_to_bucket).map(([region]) => `${region}->${this.config.cloud.replication.find((r) => r.from === region)?.to ?? '?'}`),
      warnings: [],
    }
  }

  /** terraform init, apply and output for the local world (state and var file under dir); returns the output run. */
  private async runTerraform(runner: CommandRunner, dir: string): Promise<{stdout: string}> {
    const {packagePath} = await import('../../paths.js')
    const env = {TF_DATA_DIR: path.join(dir, '.terraform'), TF_IN_AUTOMATION: '1'}
    const chdir = `-chdir=${packagePath('terraform')}`
    const state = `-state=${path.join(dir, 'terraform.tfstate')}`
    await runner.run('terraform', [chdir, 'init', '-input=false', '-no-color'], {env, label: 'terraform init'})
    await runner.run('terraform', [chdir, 'apply', '-input=false', '-no-color', '-auto-approve', state, `-var-file=${path.join(dir, 'local.tfvars.json')}`], {env, label: 'terraform apply'})
    return runner.run('terraform', [chdir, 'output', '-json', state], {env, label: 'terraform output'})
  }

  private async writeState(state: WorldState): Promise<void> {
    await writeFile(this.layout.stateFile, `${JSON.stringify(state, null, 2)}\n`)
  }

  private async readState(): Promise<WorldState | undefined> {
    try {
      return JSON.parse(await readFile(this.layout.stateFile, 'utf8')) as WorldState
    } catch {
      return undefined
    }
  }

  // ---------------------------------------------------------------- down --

  async down(options: WorldOperationOptions & {purge?: boolean} = {}): Promise<DownResult> {
    const progress = options.progress ?? silentProgress
    const order = [...this.processes.filter((p) => p.kind === 'scheduler'), ...this.processes.filter((p) => p.kind === 'patroni'), ...this.processes.filter((p) => p.kind === 'moto'), ...this.processes.filter((p) => p.kind === 'etcd')]
    if (options.dryRun) {
      const live = await this.liveProcesses({clean: false})
      const monitoringLive = await this.monitoring.live()
      const plan = [
        ...[...monitoringLive].map(([name, pid]) => ({argv: ['kill', '-TERM', `-${pid}`], cwd: '.', label: `stop ${name} (process group ${pid})`})),
        ...order.filter((p) => live.has(p.name)).map((p) => ({argv: ['kill', '-TERM', `-${live.get(p.name)}`], cwd: '.', label: `stop ${p.name} (process group ${live.get(p.name)})`})),
      ]
      const notRunning = order.filter((p) => !live.has(p.name)).map((p) => p.name)
      const steps: PlanStep[] = [{id: 'stop', title: plan.length > 0 ? `stop the local world (SIGTERM, then SIGKILL after a grace period)${notRunning.length > 0 ? `; not running: ${notRunning.join(', ')}` : ''}` : 'stop the local world', commands: plan, ...(plan.length === 0 ? {skip: 'nothing is running'} : {})}]
      if (options.purge) steps.push({id: 'purge', title: `remove the data, logs, certificates and secrets (runs/ is kept): ${[this.layout.dataDir, this.layout.postgresHome, this.layout.runDir, this.layout.logDir, pkiPaths(this.layout).dir, this.layout.secretsFile].join(', ')}`, commands: []})
      return {driver: 'local', dryRun: true, plan, steps, stopped: [], purged: false}
    }
    const live = await this.liveProcesses()
    const stopped: string[] = []
    const done = progress.step('stop the local world')
    // monitoring first: a world going down is not an outage to alert on
    stopped.push(...(await this.monitoring.stop({purge: options.purge})))
    // a paused region (an interrupted blast-radius) cannot act on SIGTERM: continue it first
    const runningBefore = [...live.keys()]
    await this.continueAll(live)
    for (const name of runningBefore.filter((n) => !live.has(n))) stopped.push(name)
    // Patroni first (all at once: each takes seconds): it shuts its PostgreSQL down cleanly while etcd still answers
    const stopOne = async (proc: ManagedProcess) => {
      const pid = live.get(proc.name)
      const patroni = proc.kind === 'patroni' ? await this.patroniPid(this.regionLayout(proc.region!)) : undefined
      if (pid !== undefined) {
        // etcd's leader tries to hand leadership over on SIGTERM, and waits for peers that are stopping too;
        // after 2 s it is killed (its WAL is crash-safe)
        // moto writes a last snapshot of its state on SIGTERM (its journal already holds every write)
        await stopProcessGroup(pid, proc.kind === 'patroni' ? 20_000 : proc.kind === 'moto' ? 60_000 : 2000)
        stopped.push(proc.name)
      }
      await rm(proc.pidFile, {force: true})
      // the watchdog forwards SIGTERM to Patroni; a Patroni that outlived it is stopped directly
      if (patroni !== undefined && isGroupAlive(patroni)) await stopProcessGroup(patroni, 5000)
      // a postmaster left behind by a killed Patroni runs in its own session, and so does each of its children
      if (proc.kind === 'patroni') {
        const pm = await postmasterPid(this.regionLayout(proc.region!).postgresDataDir)
        if (pm !== undefined) {
          const groups = [await processGroupOf(pm), ...(await Promise.all((await childrenOf(pm)).map((c) => processGroupOf(c))))]
          for (const g of groups) if (g !== undefined) killProcessGroup(g, 'SIGCONT')
          for (const g of groups) if (g !== undefined) await stopProcessGroup(g, 10_000)
          stopped.push(`postgres-${proc.region}`)
        }
      }
    }
    await Promise.all(order.filter((p) => p.kind === 'patroni').map(stopOne))
    await Promise.all(order.filter((p) => p.kind !== 'patroni').map(stopOne))
    const stillListening: string[] = []
    for (const {port, owner, host} of allPorts(this.layout)) {
      if (await isListening(port, host, 200)) stillListening.push(`${host}:${port} (${owner})`)
    }
    await rm(this.layout.stateFile, {force: true})
    const leftovers = await this.removePartitionTables(new CommandRunner({logFile: path.join(this.layout.logDir, 'atlas.log')}))
    if (leftovers.length > 0) progress.info(`removed nftables tables a crashed partition left: ${leftovers.join(', ')}`)
    const {removeRegionCgroups} = await import('./partition.js')
    await removeRegionCgroups(this.layout)
    if (options.purge) {
      for (const dir of [this.layout.dataDir, this.layout.postgresHome, this.layout.runDir, this.layout.logDir, pkiPaths(this.layout).dir]) await rm(dir, {recursive: true, force: true})
      await rm(this.layout.secretsFile, {force: true})
    }
    done({note: stopped.length > 0 ? `stopped ${stopped.join(', ')}` : 'nothing was running'})
    if (stillListening.length > 0) {
      throw new PreconditionError(`after stopping the world, something still listens on ${stillListening.join(', ')}`, {hint: 'another program holds these ports'})
    }
    return {driver: 'local', dryRun: false, stopped, purged: Boolean(options.purge)}
  }

  // -------------------------------------------------------------- status --

  async status(): Promise<WorldStatus> {
    const live = await this.liveProcesses()
    const up = live.size > 0
    const complete = up && this.processes.every((p) => live.has(p.name)) && (await this.readState())?.complete === true
    const [health, monitoring] = await Promise.all([up ? this.health() : null, this.monitoring.status()])
    return {driver: 'local', up, complete, regions: await this.endpoints(), health, ...(monitoring ? {monitoring} : {})}
  }

  /**
   * Every node's URL for a role (default: the ledger's), the current database leader's first:
   * clients try hosts in order, so they reach the writable node at once.
   */
  async databaseUrls(role: DatabaseRole = 'ledger'): Promise<string[]> {
    const secrets = await this.secrets()
    const leader = patroniGroupHealth(await samplePatroni(this.patroniTargets(), 300)).leaderRegion
    const ordered = [...this.layout.regions].sort((a, b) => Number(b.region.name === leader) - Number(a.region.name === leader))
    return ordered.map((r) => databaseUrl(this.layout, r, secrets, role))
  }

  async cloudEndpoint(): Promise<CloudEndpoint> {
    return {endpoint: this.config.cloud.endpoint ?? `http://${this.layout.host}:${this.layout.motoPort}`, ...EMULATOR_CREDENTIALS}
  }

  async endpoints(): Promise<RegionEndpoints[]> {
    const state = await this.readState()
    let secrets: DatabaseSecrets | undefined
    try {
      secrets = await this.secrets()
    } catch {
      secrets = undefined
    }
    return this.layout.regions.map((r) => {
      const cloud = state?.cloud?.regions.find((c) => c.region === r.region.name)
      return {
        region: r.region.name,
        databaseUrl: secrets ? databaseUrl(this.layout, r, secrets) : undefined,
        serviceUrl: `http://${this.layout.host}:${r.servicePort}`,
        auditBucket: cloud?.auditBucket,
        queueUrl: cloud?.queueUrl,
        deadLetterQueueUrl: cloud?.deadLetterQueueUrl,
      }
    })
  }

  // -------------------------------------------------------------- health --

  /** The etcd members with atlas's client certificate (not enumerable: a target never reaches any output). */
  private async etcdTargets() {
    this.etcdTls ??= atlasEtcdTls(this.layout)
    const tls = await this.etcdTls.catch((error: NodeJS.ErrnoException) => {
      this.etcdTls = undefined
      throw new PreconditionError(`the local world in ${this.layout.baseDir} has no etcd client certificate (${error.code ?? error.message})`, {hint: 'run `atlas up`'})
    })
    return this.layout.regions.map((r) => Object.defineProperty({region: r.region.name, name: r.etcdName, clientUrl: etcdClientUrl(this.layout, r)}, 'tls', {value: tls, enumerable: false}) as {region: string; name: string; clientUrl: string; tls: ClientTls})
  }

  private patroniTargets() {
    return this.layout.regions.map((r) => ({region: r.region.name, name: r.postgresName, apiUrl: patroniUrl(this.layout, r)}))
  }

  async health(): Promise<ClusterHealth> {
    const at = new Date()
    const [etcd, patroni] = await Promise.all([this.etcdTargets().then((t) => sampleEtcd(t)), samplePatroni(this.patroniTargets())])
    const etcdGroup = etcdGroupHealth(etcd.samples, etcd.members)
    const patroniGroup = patroniGroupHealth(patroni)
    const health = clusterHealth([etcdGroup, patroniGroup], 'patroni', this.regions.map((r) => r.name), at)
    // the database leader holds its lease in etcd: without etcd quorum it demotes itself
    return {...health, writable: health.writable && etcdGroup.quorumHeld}
  }

  /**
   * Converged: every etcd member answers and follows one leader; one Patroni
   * leader; every other node runs, is a synchronous standby (synchronous_node_count
   * is regions-1) and has no replication lag.
   */
  static isConverged(health: ClusterHealth): boolean {
    const etcd = health.groups.find((g) => g.group === 'etcd')
    const pg = health.groups.find((g) => g.group === 'patroni')
    if (!etcd || !pg) return false
    if (!etcd.leaderRegion || etcd.members.some((m) => !m.alive || m.role === 'unknown')) return false
    if (!pg.leaderRegion || pg.members.some((m) => !m.alive)) return false
    return pg.members.every((m) => m.role === 'leader' || (m.detail?.syncStandby === true && m.detail?.state !== 'starting' && (m.lag ?? 1) === 0))
  }

  /** Waits until a Patroni leader runs (it takes writes; its standbys may still be on their way). */
  private async waitForLeader(options: {timeoutMs: number; signal?: AbortSignal}): Promise<void> {
    const deadline = Date.now() + options.timeoutMs
    for (;;) {
      const pg = (await this.health()).groups.find((g) => g.group === 'patroni')
      const leader = pg?.members.find((m) => m.role === 'leader' && m.alive)
      if (leader && leader.detail?.state === 'running') return
      if (Date.now() > deadline) throw new PreconditionError(`no PostgreSQL leader within ${options.timeoutMs / 1000} s`, {hint: `see ${this.layout.logDir}/patroni-*.log`})
      await sleep(250, options.signal)
    }
  }

  async waitConverged(options: {timeoutMs?: number; signal?: AbortSignal} = {}): Promise<ClusterHealth> {
    const timeoutMs = options.timeoutMs ?? 90_000
    const deadline = Date.now() + timeoutMs
    let health = await this.health()
    while (!LocalWorld.isConverged(health)) {
      if (Date.now() > deadline) {
        throw new PreconditionError(`the world did not converge within ${timeoutMs / 1000} s: ${describeHealth(health)}`, {hint: `see ${this.layout.logDir}`})
      }
      await sleep(250, options.signal)
      health = await this.health()
    }
    if (await this.placeEtcdLeader(health)) {
      // the hand-over takes a few heartbeats: return the settled state, with the new Raft leader in it
      health = await this.health()
      while (!LocalWorld.isConverged(health) && Date.now() < deadline) {
        await sleep(100, options.signal)
        health = await this.health()
      }
    }
    return health
  }

  /**
   * Steady state puts the etcd (Raft) leader on the witness. Why: etcd renews every
   * lease when its leader changes, so a region that held both the etcd leader and
   * the database leader would keep its dead leader lease for a whole extra TTL.
   * Best effort: returns whether leadership was moved.
   */
  private async placeEtcdLeader(health: ClusterHealth): Promise<boolean> {
    const witness = this.regions.find((r) => r.role === 'witness')
    const etcd = health.groups.find((g) => g.group === 'etcd')
    if (!witness || !etcd?.leaderRegion || etcd.leaderRegion === witness.name) return false
    const {samples} = await sampleEtcd(await this.etcdTargets())
    const target = samples.find((s) => s.target.region === witness.name)?.status?.header?.member_id
    const leader = samples.find((s) => s.target.region === etcd.leaderRegion)
    if (!target || !leader) return false
    // etcd's gRPC gateway (MoveLeader), so that no etcdctl is needed
    try {
      await fetchJson(`${leader.target.clientUrl}/v3/maintenance/transfer-leadership`, {body: {targetID: target}, timeoutMs: 5000, tls: leader.target.tls})
      return true
    } catch {
      return false
    }
  }

  // --------------------------------------------------------------- chaos --

  regionLayout(name: string): RegionLayout {
    const region = findRegion(this.config, name)
    return this.layout.regions.find((r) => r.region.name === region.name)!
  }

  /**
   * What a fault signals, as process groups: the region's etcd member, Patroni's
   * watchdog and Patroni itself (each a group of its own), and PostgreSQL. PostgreSQL
   * needs care: the postmaster runs in the group of Patroni's setsid() helper, and
   * every backend, walsender and auxiliary process calls setsid() itself, so each is
   * a group of its own.
   */
  private async faultTargets(region: string, component: FaultComponent): Promise<{groups: Array<{name: string; pgid: number}>; postmaster?: {pid: number; pgid: number}}> {
    // read-only: blast-radius validates the fault with a dry run before anything starts
    const live = await this.liveProcesses({clean: false})
    const r = this.regionLayout(region)
    const groups: Array<{name: string; pgid: number}> = []
    const etcd = this.processes.find((p) => p.kind === 'etcd' && p.region === region)!
    const watchdog = this.processes.find((p) => p.kind === 'patroni' && p.region === region)!
    if ((component === 'region' || component === 'etcd') && live.has(etcd.name)) groups.push({name: etcd.name, pgid: live.get(etcd.name)!})
    if (component === 'region' && live.has(watchdog.name)) groups.push({name: `${watchdog.name} watchdog`, pgid: live.get(watchdog.name)!})
    if (component === 'region' || component === 'patroni') {
      const patroni = await this.patroniPid(r)
      if (patroni !== undefined) groups.push({name: watchdog.name, pgid: patroni})
    }
    if (component !== 'region' && component !== 'postgres') return {groups}
    const pm = await postmasterPid(r.postgresDataDir)
    const pgid = pm === undefined ? undefined : await processGroupOf(pm)
    return {groups, postmaster: pm !== undefined && pgid !== undefined ? {pid: pm, pgid} : undefined}
  }

  async injectFault(regionName: string, mode: FaultMode, options: WorldOperationOptions & {component?: FaultComponent; partition?: PartitionKind} = {}): Promise<FaultHandle> {
    const region = findRegion(this.config, regionName).name
    const component = options.component ?? 'region'
    if (mode === 'partition') return this.partitionRegion(region, component, options.partition ?? 'isolate', options)
    if (options.partition) throw new UsageError(`--partition ${options.partition} goes with --mode partition, not --mode ${mode}`, {code: 'PARTITION_UNSUPPORTED'})
    const {groups, postmaster} = await this.faultTargets(region, component)
    const what = component === 'region' ? `region ${region}` : `the ${component} of ${region}`
    if (groups.length === 0 && !postmaster) throw new PreconditionError(`${what} has no running process to break`, {hint: 'run `atlas up` first'})
    const signal: NodeJS.Signals = mode === 'kill' ? 'SIGKILL' : 'SIGSTOP'
    const describe = (children: number) =>
      `${signal} to ${[...groups.map((g) => `${g.name} (pgid ${g.pgid})`), ...(postmaster ? [`postgres-${region} (postmaster ${postmaster.pid} and ${children} child processes)`] : [])].join(', ')}`
    if (options.dryRun) return {region, mode, component, injectedAt: new Date(), description: describe(0), undo: async () => {}}
    const signalled: Array<{name: string; pgid: number}> = []
    let children = 0
    if (postmaster) {
      // the postmaster first: once it is stopped or dead it cannot fork new children behind our back.
      // Its children are listed before a kill: a dead postmaster's children are re-parented at once.
      const withGroups = async (pids: number[]) => Promise.all(pids.map(async (pid) => ({pid, pgid: (await processGroupOf(pid)) ?? pid})))
      const before = mode === 'kill' ? await withGroups(await childrenOf(postmaster.pid)) : []
      killProcessGroup(postmaster.pgid, signal)
      signalled.push({name: `postgres-${region}`, pgid: postmaster.pgid})
      const all = mode === 'kill' ? before : await withGroups(await childrenOf(postmaster.pid))
      for (const child of all) {
        killProcessGroup(child.pgid, signal)
        signalled.push({name: `postgres-${region} child ${child.pid}`, pgid: child.pgid})
      }
      children = all.length
    }
    // then Patroni (a stopped Patroni must not react to its postgres vanishing), its watchdog and the etcd member
    for (const g of [...groups].reverse()) {
      killProcessGroup(g.pgid, signal)
      signalled.push(g)
    }
    const injectedAt = new Date()
    let undone: Promise<void> | undefined
    const undo = () => {
      undone ??= mode === 'kill' ? this.restartRegion(region, signalled) : this.continueRegion(region, signalled)
      return undone
    }
    return {region, mode, component, injectedAt, description: describe(children), undo}
  }

  /**
   * A partition (partition.ts): one nftables table, applied in one transaction, deleted by
   * undo. Checked first, also in a dry run (blast-radius's check before the workload):
   * CAP_NET_ADMIN, nft, cgroup v2 and every region's processes in their cgroups.
   */
  private async partitionRegion(region: string, component: FaultComponent, kind: PartitionKind, options: WorldOperationOptions): Promise<FaultHandle> {
    if (component !== 'region') {
      throw new UsageError(`the local world partitions whole regions: --mode partition with --component ${component} is not supported`, {code: 'PARTITION_UNSUPPORTED', hint: 'drop --component, or use --mode kill/stop for one component'})
    }
    const partition = await import('./partition.js')
    const target = this.regionLayout(region)
    const {from, to} = partition.partitionPeers(this.layout, target, kind)
    const runner = new CommandRunner({logFile: path.join(this.layout.logDir, 'atlas.log')})
    const pids = new Map<string, number[]>()
    const live = await this.liveProcesses({clean: false})
    for (const r of this.layout.regions) {
      const list = this.processes.filter((p) => p.region === r.region.name && live.has(p.name)).map((p) => live.get(p.name)!)
      const patroni = await this.patroniPid(r)
      const pm = await postmasterPid(r.postgresDataDir)
      pids.set(r.region.name, [...list, ...(patroni === undefined ? [] : [patroni]), ...(pm === undefined ? [] : [pm])])
    }
    const cgroupOf = await partition.checkPartitionable(this.layout, runner, pids)
    const table = partition.partitionTableName(this.layout, region)
    const names = (rs: RegionLayout[]) => rs.map((r) => r.region.name).join(', ') || 'none'
    const description = `nftables table inet ${table}: ${kind} ${region} (${target.address}, ports ${target.firstPort}-${target.firstPort + 19}); drops ${region} -> ${names(to)} and ${names(from)} -> ${region}`
    if (options.dryRun) return {region, mode: 'partition', component, injectedAt: new Date(), description, undo: async () => {}}
    const ruleset = partition.partitionRuleset(this.layout, target, kind, cgroupOf)
    // a table of the same name (an earlier crash) is replaced, never added to
    await runner.run('nft', ['delete', 'table', 'inet', table], {label: `nft delete table ${table}`, reject: false, timeoutMs: 10_000})
    await runner.run('nft', ['-f', '-'], {input: ruleset, label: `nft -f (table ${table})`, timeoutMs: 10_000})
    const injectedAt = new Date()
    let undone: Promise<void> | undefined
    const undo = () => {
      undone ??= (async () => {
        const result = await runner.run('nft', ['delete', 'table', 'inet', table], {label: `nft delete table ${table}`, reject: false, timeoutMs: 10_000})
        if (result.exitCode !== 0 && (await partition.listWorldTables(this.layout, runner).catch(() => [table])).includes(table)) {
          throw new RestoreError(`the partition of ${region} could not be removed: ${result.stderr.trim()}`, {hint: `nft delete table inet ${table}`, details: {region, table}})
        }
      })()
      return undone
    }
    return {region, mode: 'partition', component, injectedAt, description, undo}
  }

  /**
   * Undo of stop: SIGCONT to exactly what was stopped, the reverse of the stop order.
   * A resumed Patroni (4.x) checks the leader lock before acting and demotes itself
   * when another node leads now; a resumed primary whose lease expired meanwhile was
   * already killed by its watchdog (libexec/patroni-softdog.py) before the new
   * leader was promoted.
   */
  private async continueRegion(region: string, groups: Array<{name: string; pgid: number}>): Promise<void> {
    const broken: string[] = []
    for (const g of [...groups].reverse()) {
      try {
        killProcessGroup(g.pgid, 'SIGCONT')
      } catch (error) {
        broken.push(`${g.name} (pgid ${g.pgid}): SIGCONT failed: ${(error as Error).message}`)
      }
    }
    if (broken.length > 0) {
      throw new RestoreError(`region ${region} could not be resumed: ${broken.join('; ')}`, {
        hint: `see ${this.layout.logDir}; \`atlas down && atlas up\` rebuilds the world`,
        details: {region, broken},
      })
    }
  }

  private async restartRegion(region: string, groups: Array<{name: string; pgid: number}>): Promise<void> {
    // make sure the old incarnation is really gone before its ports are reused
    for (const g of groups) {
      const deadline = Date.now() + 5000
      while (isGroupAlive(g.pgid) && Date.now() < deadline) await sleep(50)
    }
    // Patroni's watchdog exits right after Patroni (Patroni killed alone): let it, so both start again
    const watchdog = this.processes.find((p) => p.kind === 'patroni' && p.region === region)!
    const watchdogPid = await readPidFile(watchdog.pidFile)
    if (watchdogPid !== undefined && (await this.patroniPid(this.regionLayout(region))) === undefined) {
      await waitForExit(watchdogPid, {timeoutMs: 5000})
    }
    const user = await postgresOsUser()
    const runner = new CommandRunner({logFile: path.join(this.layout.logDir, 'atlas.log')})
    const live = await this.liveProcesses()
    const broken: string[] = []
    for (const proc of this.processes.filter((p) => p.region === region && !live.has(p.name))) {
      try {
        await this.startProcess(runner, proc, user)
      } catch (error) {
        broken.push(`${proc.name} did not restart: ${(error as Error).message.split('\n')[0]}`)
      }
    }
    const r = this.regionLayout(region)
    try {
      await waitForPort(r.etcdClientPort, {host: r.address, timeoutMs: 15_000, what: r.etcdName})
    } catch (error) {
      broken.push((error as Error).message)
    }
    try {
      await waitForPort(r.patroniApiPort, {host: r.address, timeoutMs: 20_000, what: `Patroni of ${region}`})
    } catch (error) {
      broken.push((error as Error).message)
    }
    if (broken.length > 0) {
      throw new RestoreError(`region ${region} could not be restored: ${broken.join('; ')}`, {
        hint: `see ${this.layout.logDir}; \`atlas down && atlas up\` rebuilds the world`,
        details: {region, broken},
      })
    }
  }
}

async function backupsAvailable(): Promise<boolean> {
  return (await findExecutable('pgbackrest')) !== undefined
}

/**
 * The Python that has moto installed: the interpreter of the moto_server script when it names one
 * (pip's entry-point scripts do), else python3 from PATH (a pyenv shim runs the same Python as moto_server).
 */
async function motoInterpreter(runner: CommandRunner): Promise<string> {
  const motoServer = await findExecutable('moto_server')
  if (!motoServer) {
    if (runner.dryRun) {
      runner.missingTools.add('moto_server')
      return 'python3'
    }
    throw new PreconditionError('moto_server was not found', {hint: "pip install 'moto[server]>=5,<6' (npm run setup does)"})
  }
  const firstLine = (await readFile(motoServer, 'utf8').catch(() => '')).split('\n', 1)[0] ?? ''
  const shebang = /^#!\s*(\S*python[\d.]*)\s*$/.exec(firstLine)?.[1]
  return shebang && path.isAbsolute(shebang) ? shebang : 'python3'
}

/** One line per group, for error messages and progress. */
export function describeHealth(health: ClusterHealth): string {
  return health.groups
    .map((g) => `${g.group}: ${g.members.map((m) => `${m.region}=${m.alive ? `${m.role}${m.detail?.state ? `/${m.detail.state}` : ''}${m.detail?.patroniRole ? `/${m.detail.patroniRole}` : ''}${m.lag ? ` lag ${m.lag}` : ''}` : 'down'}`).join(' ')}`)
    .join('; ')
}
