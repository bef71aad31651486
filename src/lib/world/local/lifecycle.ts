import {rm} from 'node:fs/promises'
import path from 'node:path'

import type {ProvisionResult} from '../../cloud/provision.js'
import type {MonitoringStartResult} from '../../monitoring/local.js'
import type {DownResult, UpResult, WorldOperationOptions} from '../types.js'

import {primaryRegion} from '../../config/regions.js'
import {PreconditionError} from '../../errors.js'
import {
  isGroupAlive,
  isListening,
  isPortFree,
  killProcessGroup,
  postgresOsUser,
  stopProcessGroup,
  waitForPort,
} from '../../proc/index.js'
import {runStep, silentProgress} from '../../progress.js'
import {CommandRunner} from '../../tools/runner.js'
import {formatConfigChanges} from '../plan-format.js'
import {type LocalContext, readState, regionLayout, writeState} from './context.js'
import {reconcileDynamicConfig} from './dynamic-config.js'
import {
  placeEtcdLeader,
  waitConverged,
  waitEtcdQuorum,
  waitEtcdServingPeers,
  waitForInitializeKey,
  waitForLeader,
} from './health.js'
import {allPorts, type LocalLayout} from './layout.js'
import {patroniWaker} from './patroni-wake.js'
import {ensurePki, pkiPaths} from './pki.js'
import {downPlan, upPlan} from './plan.js'
import {checkPortsFree, startProcess} from './process-start.js'
import {childrenOf, liveProcesses, type ManagedProcess, patroniPid, postmasterPid, processGroupOf} from './processes.js'
import {
  backupsAvailable,
  createLedgerSchema,
  prepareDirs,
  provisionCloud,
  refusePlainTextWorld,
  refuseSharedAddressWorld,
  writePatroniConfigs,
} from './provision.js'
import {worldSecrets} from './secrets.js'
import {endpoints} from './status.js'

export async function up(
  ctx: LocalContext,
  options: WorldOperationOptions & {monitoring?: boolean} = {},
): Promise<UpResult> {
  const started = Date.now()
  const progress = options.progress ?? silentProgress
  // a dry run writes nothing, not even the log directory
  const runner = new CommandRunner({
    dryRun: options.dryRun,
    logFile: options.dryRun ? undefined : path.join(ctx.layout.logDir, 'atlas.log'),
    planRoot: ctx.layout.baseDir,
  })
  if (options.dryRun) return upPlan(ctx, options.monitoring !== false)
  const live = await liveProcesses(ctx.processes)
  // a blast-radius that was itself killed (no Ctrl-C) can leave a region paused: continuing a running process is harmless
  await continueAll(ctx, live)
  // ... or a partition's nftables table: a world coming up starts whole
  const leftovers = await removePartitionTables(ctx.layout, runner)
  if (leftovers.length > 0) progress.info(`removed nftables tables a crashed partition left: ${leftovers.join(', ')}`)
  // the state file is written last: a world without it was interrupted half-way, and up finishes it (every step is idempotent)
  const complete = (await readState(ctx))?.complete === true
  const wantMonitoring = options.monitoring !== false
  const monitoringLive = await ctx.monitoring.live()
  const monitoringComplete =
    !wantMonitoring ||
    ctx.monitoring.processes().every((p) => monitoringLive.has(p.name)) ||
    (await ctx.monitoring.tools()).missing.length > 0
  if (complete && ctx.processes.every((p) => live.has(p.name)) && monitoringComplete) {
    // a running world may still have an older version's Patroni timing: that is all up changes in it
    const dynamicConfig = await reconcileStep(
      ctx,
      progress,
      async () => (await worldSecrets(ctx.layout)).restApiPassword,
      options.signal,
    )
    const monitoring = wantMonitoring
      ? await monitoringSummary(ctx)
      : {enabled: false, reason: 'left out (--no-monitoring)'}
    return {
      driver: 'local',
      started: false,
      dryRun: false,
      regions: await endpoints(ctx),
      durationSeconds: (Date.now() - started) / 1000,
      monitoring,
      ...dynamicConfig,
    }
  }

  const user = await postgresOsUser()
  await prepareDirs(ctx.layout, user)
  await refuseSharedAddressWorld(ctx.layout)
  const secrets = await worldSecrets(ctx.layout, true)
  const missing = ctx.processes.filter((p) => !live.has(p.name))
  await checkPortsFree(ctx, missing)
  const backups = await ctx.backups()
  if (missing.some((p) => p.kind === 'moto')) {
    const {tlsPort} = backups.b
    if (!(await isPortFree(tlsPort, ctx.layout.host))) {
      throw new PreconditionError(
        `port ${ctx.layout.host}:${tlsPort} (for moto's HTTPS listener) is already in use by another program`,
        {
          code: 'PORT_BUSY',
          hint: 'stop that program, or set local.basePort in atlas.yaml to another block',
          details: {port: tlsPort, owner: 'moto (HTTPS)'},
        },
      )
    }

    await backups.ensureTlsCertificate(runner)
  }

  await runStep(
    progress,
    "the world's CA and the TLS certificates of etcd, PostgreSQL and their clients",
    async () => {
      await refusePlainTextWorld(ctx.layout)
      return ensurePki(ctx.layout, runner, user)
    },
    (issued) => (issued > 0 ? `${issued} issued in ${pkiPaths(ctx.layout).dir}` : 'already issued'),
  )

  let motoReady: Promise<void> = Promise.resolve()
  let etcdLeaderPlaced: Promise<boolean> = Promise.resolve(false)
  await runStep(
    progress,
    'start etcd (one member per region) and moto',
    async () => {
      const others = Promise.all(
        missing.filter((p) => p.kind !== 'patroni' && p.kind !== 'etcd').map((p) => startProcess(ctx, runner, p, user)),
      )
      others.catch(() => {})
      // One member at a time: a new member first asks each peer whether it was bootstrapped already, and a peer
      // whose port is open but that does not serve yet holds it for etcd's bootstrap timeout (1 s). Started all
      // at once, every member waited 2 s (bench/up); started in turn, each peer answers or refuses at once.
      for (const p of missing.filter((m) => m.kind === 'etcd')) {
        await startProcess(ctx, runner, p, user)
        await waitEtcdServingPeers(ctx, p.region!, {timeoutMs: 1500, signal: options.signal})
      }

      await others
      // moto loads its snapshot and replays its journal before it listens: allow for a large state.
      // Only the cloud steps need it, so PostgreSQL does not wait for it (awaited there)
      motoReady = waitForPort(ctx.layout.motoPort, {
        host: ctx.layout.host,
        timeoutMs: 120_000,
        what: 'moto',
        signal: options.signal,
      })
      motoReady.catch(() => {})
      await waitEtcdQuorum(ctx, options.signal)
      // the etcd leader goes to the witness now (see placeEtcdLeader), while Patroni starts, rather than once
      // the world has converged; waitConverged still moves it there if it has moved since
      etcdLeaderPlaced = placeEtcdLeader(ctx).catch(() => false)
    },
    () =>
      `etcd on ${ctx.layout.regions.map((r) => r.etcdClientPort).join(', ')}; moto on ${ctx.layout.motoPort} (starting)`,
  )

  const provisioning = motoReady.then(() => provisionCloud(ctx))
  provisioning.catch(() => {})
  const withBackups = await backupsAvailable()
  // The leader takes writes before its standbys are in sync (synchronous_mode_strict: until then a
  // commit waits for any streaming standby), so the schema and the backup repository are made
  // while the standbys are cloned and catch up; their steps below report them in order.
  let early: undefined | {repository?: Promise<void>; schema: Promise<string>}
  // a failed Patroni step stops the wait for a leader, so nothing starts behind the error
  const stopEarly = new AbortController()
  const startEarly = (leaderUp: Promise<void>) => {
    const schema = leaderUp.then(() => createLedgerSchema(ctx))
    schema.catch(() => {})
    const repository = withBackups
      ? Promise.all([leaderUp, motoReady]).then(() => backups.ensureRepository())
      : undefined
    repository?.catch(() => {})
    early = {schema, repository}
  }

  await runStep(
    progress,
    'start PostgreSQL under Patroni (synchronous replication)',
    async () => {
      try {
        await writePatroniConfigs(ctx, secrets, user)
        const patronis = missing.filter((p) => p.kind === 'patroni')
        // the primary region bootstraps the cluster: start it first and let it claim the initialize key
        const primary = regionLayout(ctx, primaryRegion(ctx.config).name)
        const primaryProc = patronis.find((p) => p.region === primary.region.name)
        if (primaryProc) {
          await startProcess(ctx, runner, primaryProc, user)
          await waitForInitializeKey(ctx, options.signal)
        }

        await Promise.all(patronis.filter((p) => p !== primaryProc).map((p) => startProcess(ctx, runner, p, user)))
        startEarly(
          waitForLeader(ctx, {
            timeoutMs: 60_000,
            signal: options.signal ? AbortSignal.any([options.signal, stopEarly.signal]) : stopEarly.signal,
          }),
        )
        await etcdLeaderPlaced
        // each Patroni acts once per loop: wake the loops that have work, instead of waiting up to two loop_waits
        const onSample = patroniWaker(ctx, secrets.restApiPassword)
        return await waitConverged(ctx, {timeoutMs: 60_000, signal: options.signal, onSample})
      } catch (error) {
        stopEarly.abort()
        throw error
      }
    },
    (health) =>
      `database leader ${health.leaderRegion}; etcd leader ${health.groups.find((g) => g.group === 'etcd')?.leaderRegion}`,
  )

  // monitoring starts once the world is healthy (no CPU taken from its bootstrap, no alert about a bootstrap in
  // progress) and comes up while the cloud resources, the schema and the backups are set up; up waits for it at the end
  const monitoring: MonitoringStartResult = wantMonitoring
    ? await ctx.monitoring.start(runner, secrets.monitorPassword!)
    : {enabled: false, reason: 'left out (--no-monitoring)', started: [], ready: Promise.resolve()}

  const cloud: ProvisionResult = await runStep(
    progress,
    ctx.provisioner === 'terraform'
      ? 'provision S3 audit buckets and SQS queues (terraform/ against moto)'
      : 'provision S3 audit buckets and SQS queues (SDK, as terraform/modules/region declares)',
    async () => {
      const provisioned = await provisioning
      for (const w of provisioned.warnings) progress.info(w)
      return provisioned
    },
    (provisioned) => provisioned.regions.map((r) => r.auditBucket).join(', '),
  )

  await runStep(
    progress,
    'initialise the ledger schema and mint the accounts',
    () => early?.schema ?? createLedgerSchema(ctx),
    (note) => note,
  )

  if (withBackups) {
    await runStep(
      progress,
      `create the backup repository (pgBackRest stanza ${backups.b.stanza} in s3://${backups.b.bucket})`,
      async () => early?.repository ?? backups.ensureRepository(),
    )
  } else {
    progress.info(
      'pgBackRest was not found: the world runs without WAL archiving and `atlas backup` is unavailable (apt-get install pgbackrest)',
    )
  }

  // last, so that a failure leaves nothing of up's own in flight; world.json is not written until it holds
  const dynamicConfig = await reconcileStep(ctx, progress, async () => secrets.restApiPassword, options.signal)
  const monitoringResult = await awaitMonitoring(monitoring, progress)
  await writeState(ctx, {
    driver: 'local',
    startedAt: new Date().toISOString(),
    basePort: ctx.layout.basePort,
    host: ctx.layout.host,
    cloud,
    complete: true,
  })
  return {
    driver: 'local',
    started: true,
    dryRun: false,
    regions: await endpoints(ctx),
    durationSeconds: (Date.now() - started) / 1000,
    monitoring: monitoringResult,
    ...dynamicConfig,
  }
}

/**
 * The step that brings Patroni's dynamic configuration in etcd to this version's values (dynamic-config.ts):
 * what it changed, and what differs but is left as it is, for up's result.
 */
async function reconcileStep(
  ctx: LocalContext,
  progress: NonNullable<WorldOperationOptions['progress']>,
  restApiPassword: () => Promise<string>,
  signal: AbortSignal | undefined,
): Promise<Pick<UpResult, 'notReconciled' | 'reconciled'>> {
  const result = await runStep(
    progress,
    "Patroni's dynamic configuration in etcd (GET /config; PATCH what differs from this version's)",
    async () => {
      const reconciled = await reconcileDynamicConfig(ctx, {restApiPassword, signal})
      for (const c of reconciled.notReconciled)
        progress.info(`left as it is: ${formatConfigChanges([c])} (${c.reason})`)
      return reconciled
    },
    (r) =>
      r.reconciled.length > 0
        ? `set ${formatConfigChanges(r.reconciled)}; GET /config on ${r.confirmedBy.join(', ')} shows it`
        : "this version's values already",
  )
  return {reconciled: result.reconciled, notReconciled: result.notReconciled}
}

/** The end of up: Prometheus and Alertmanager answer (monitoring never fails up: it says why it is off). */
async function awaitMonitoring(
  monitoring: MonitoringStartResult,
  progress: NonNullable<WorldOperationOptions['progress']>,
): Promise<NonNullable<UpResult['monitoring']>> {
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

async function monitoringSummary(ctx: LocalContext): Promise<NonNullable<UpResult['monitoring']>> {
  const {missing} = await ctx.monitoring.tools()
  if (missing.length > 0) return {enabled: false, reason: `${missing.join(', ')} not installed`}
  const {prometheusUrl, alertmanagerUrl, monitoringLayout} = await import('../../monitoring/layout.js')
  const m = monitoringLayout(ctx.layout)
  return {enabled: true, prometheusUrl: prometheusUrl(m), alertmanagerUrl: alertmanagerUrl(m)}
}

/** Deletes this world's nftables tables (partitions); see partition.ts. */
async function removePartitionTables(layout: LocalLayout, runner: CommandRunner): Promise<string[]> {
  const {removeWorldTables} = await import('./partition.js')
  return removeWorldTables(layout, runner)
}

/**
 * Stops the backup scheduler and every Patroni with its PostgreSQL, and leaves etcd and moto running:
 * an in-place restore swaps the data directories and clears Patroni's state in etcd under it, then
 * `up` starts what is missing. The state file stays: the world is still made, only its database is down.
 */
export async function stopDatabase(ctx: LocalContext): Promise<string[]> {
  const live = await liveProcesses(ctx.processes)
  await continueAll(ctx, live)
  const stopped: string[] = []
  const stopOne = (proc: ManagedProcess) => stopManaged(ctx, live, proc, stopped)
  await Promise.all(ctx.processes.filter((p) => p.kind === 'scheduler').map(stopOne))
  await Promise.all(ctx.processes.filter((p) => p.kind === 'patroni').map(stopOne))
  return stopped
}

/** Stops one managed process (by its PID file's process group), and for Patroni whatever of it and its PostgreSQL outlived that. */
async function stopManaged(
  ctx: LocalContext,
  live: Map<string, number>,
  proc: ManagedProcess,
  stopped: string[],
): Promise<void> {
  const pid = live.get(proc.name)
  const patroni = proc.kind === 'patroni' ? await patroniPid(ctx.processes, regionLayout(ctx, proc.region!)) : undefined
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
    const pm = await postmasterPid(regionLayout(ctx, proc.region!).postgresDataDir)
    if (pm !== undefined) {
      const groups = [
        await processGroupOf(pm),
        ...(await Promise.all((await childrenOf(pm)).map((c) => processGroupOf(c)))),
      ]
      for (const g of groups) if (g !== undefined) killProcessGroup(g, 'SIGCONT')
      for (const g of groups) if (g !== undefined) await stopProcessGroup(g, 10_000)
      stopped.push(`postgres-${proc.region}`)
    }
  }
}

/** Continues every process of the world (a blast-radius that was itself killed can leave a region paused). */
async function continueAll(ctx: LocalContext, live: Map<string, number>): Promise<void> {
  for (const pid of live.values()) killProcessGroup(pid, 'SIGCONT')
  for (const r of ctx.layout.regions) {
    const patroni = await patroniPid(ctx.processes, r)
    if (patroni !== undefined) killProcessGroup(patroni, 'SIGCONT')
    const pm = await postmasterPid(r.postgresDataDir)
    if (pm === undefined) continue
    for (const p of [pm, ...(await childrenOf(pm))]) {
      const g = await processGroupOf(p)
      if (g !== undefined) killProcessGroup(g, 'SIGCONT')
    }
  }
}

export async function down(
  ctx: LocalContext,
  options: WorldOperationOptions & {purge?: boolean} = {},
): Promise<DownResult> {
  const progress = options.progress ?? silentProgress
  const kinds: Array<ManagedProcess['kind']> = ['scheduler', 'patroni', 'moto', 'etcd']
  const order = kinds.flatMap((kind) => ctx.processes.filter((p) => p.kind === kind))
  if (options.dryRun) return downPlan(ctx, order, options.purge)
  const live = await liveProcesses(ctx.processes)
  const stopped: string[] = []
  const done = progress.step('stop the local world')
  // monitoring first: a world going down is not an outage to alert on
  stopped.push(...(await ctx.monitoring.stop({purge: options.purge})))
  // a paused region (an interrupted blast-radius) cannot act on SIGTERM: continue it first
  const runningBefore = [...live.keys()]
  await continueAll(ctx, live)
  for (const name of runningBefore.filter((n) => !live.has(n))) stopped.push(name)
  // Patroni first (all at once: each takes seconds): it shuts its PostgreSQL down cleanly while etcd still answers
  const stopOne = (proc: ManagedProcess) => stopManaged(ctx, live, proc, stopped)
  await Promise.all(order.filter((p) => p.kind === 'patroni').map(stopOne))
  await Promise.all(order.filter((p) => p.kind !== 'patroni').map(stopOne))
  const stillListening: string[] = []
  for (const {port, owner, host} of allPorts(ctx.layout)) {
    if (await isListening(port, host, 200)) stillListening.push(`${host}:${port} (${owner})`)
  }

  await rm(ctx.layout.stateFile, {force: true})
  const leftovers = await removePartitionTables(
    ctx.layout,
    new CommandRunner({logFile: path.join(ctx.layout.logDir, 'atlas.log')}),
  )
  if (leftovers.length > 0) progress.info(`removed nftables tables a crashed partition left: ${leftovers.join(', ')}`)
  const {removeRegionCgroups} = await import('./partition.js')
  await removeRegionCgroups(ctx.layout)
  if (options.purge) {
    for (const dir of [
      ctx.layout.dataDir,
      ctx.layout.postgresHome,
      ctx.layout.pidDir,
      ctx.layout.logDir,
      pkiPaths(ctx.layout).dir,
    ])
      await rm(dir, {recursive: true, force: true})
    await rm(ctx.layout.secretsFile, {force: true})
  }

  done({note: stopped.length > 0 ? `stopped ${stopped.join(', ')}` : 'nothing was running'})
  if (stillListening.length > 0) {
    throw new PreconditionError(`after stopping the world, something still listens on ${stillListening.join(', ')}`, {
      hint: 'another program holds these ports',
    })
  }

  return {driver: 'local', dryRun: false, stopped, purged: Boolean(options.purge)}
}
