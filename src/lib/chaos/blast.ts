import {mkdir} from 'node:fs/promises'
import path from 'node:path'

import type {ClusterHealth} from '../health/model.js'
import type {VerifyResult} from '../ledger/verify.js'
import type {WorkloadResult, WorkloadStats} from '../ledger/workload.js'
import type {
  FaultComponent,
  FaultHandle,
  FaultMode,
  PartitionKind,
  ProgressReporter,
  TargetComponent,
  World,
} from '../world/types.js'
import type {BlastEvent, BlastResult, IsolatedLeaderWrites, RoundTransfers} from './types.js'

import {dataRegions, primaryRegion} from '../config/regions.js'
import {AtlasError, ExitCode, PreconditionError, RestoreError, UsageError} from '../errors.js'
import {assessFaults} from '../health/quorum.js'
import {runStep, silentProgress} from '../progress.js'
import {OutcomeRecorder} from '../report/series.js'
import {sleep} from '../wait.js'
import {HealthSampler, longestWriteGap, type TimelinePoint, unavailableSeconds} from './timeline.js'
import {
  type ChaosWorkload,
  leaderFirstUrls,
  type OutcomeListener,
  startChaosWorkload,
  type WorkloadWindow,
} from './workload.js'

export type {BlastResult} from './types.js'

export interface BlastOptions {
  /** also check the S3 audit records (off by default, as in `atlas verify`: unknown-outcome commits have none) */
  auditCheck?: boolean
  /** after the round, restore the last backup into a scratch PostgreSQL and verify it (backup/check.ts prepareBackupCheck) */
  backupCheck?: import('../backup/check.js').BackupCheck
  /** the whole region (default), one of its components, or the etcd leader's member (etcdLeaderTarget) */
  component?: TargetComponent
  /** per region, overriding component: a double fault of different parts (us's Patroni while eu's etcd member is stopped) */
  components?: Record<string, FaultComponent>
  /** how long to wait for convergence after the restore */
  convergeTimeoutMs?: number
  /** how long the regions stay broken */
  durationMs: number
  /** break them even when quorum would be lost */
  force?: boolean
  mode: FaultMode
  /** --mode partition: its shape (default isolate) */
  partition?: PartitionKind
  progress?: ProgressReporter
  /** regions to break together (usually one); with component etcd-leader, none or the leader's */
  regions: string[]
  runDir?: string
  sampleIntervalMs?: number
  /**
   * a workload already running (a campaign's, started once for all its rounds): the round
   * watches it through a window and leaves it running. Its figures are the window's
   * (round start to convergence); instead of a full verify (which needs the writes to have
   * stopped), the transfers acknowledged in the window are looked up by id after
   * convergence, and whoever started the workload verifies its run log after stopping it.
   */
  sharedWorkload?: ChaosWorkload
  /** Ctrl-C: skip ahead to restoring the regions */
  signal?: AbortSignal
  /** upload the report to the primary region's audit bucket (default on) */
  upload?: boolean
  /** warm-up with the workload running before the fault */
  warmupMs?: number
  /** run the transfer workload during the fault (default on) */
  workload?: boolean
  workloadConcurrency?: number
}

/**
 * One blast-radius round against any world: survivability pre-check, workload,
 * fault, health timeline, RTO, restore, convergence, verify, report. Whatever
 * happens after the fault (an error, Ctrl-C), the regions are restored before
 * this returns or throws; a failed restore is a RestoreError (exit 5).
 */
export async function blastRadius(world: World, options: BlastOptions): Promise<BlastResult> {
  const {reportFiles, writeReport} = await import('../report/blast.js')
  const progress = options.progress ?? silentProgress
  const targetsEtcdLeader = options.component === 'etcd-leader'
  let regions = targetsEtcdLeader ? await etcdLeaderTarget(world, options) : [...new Set(options.regions)]
  const componentOf = (region: string): FaultComponent =>
    options.components?.[region] ?? (options.component === 'etcd-leader' ? 'etcd' : options.component) ?? 'region'
  // a bridge cuts data regions from each other only: every one still sees the witness, so quorum holds
  let survivability = assessFaults(
    world.regions,
    options.mode === 'partition' && options.partition === 'bridge'
      ? []
      : regions.map((region) => ({region, component: options.mode === 'partition' ? 'region' : componentOf(region)})),
  )
  if (!survivability.survives && !options.force) {
    throw new PreconditionError(`refusing to break ${regions.join(' + ')}: ${survivability.explanation}`, {
      code: 'FAULT_REFUSED',
      hint: 'pass --force to break it anyway (the ledger becomes unavailable until the regions are restored)',
      details: {...survivability},
    })
  }

  const component = componentOf(regions[0])
  // the parts broken, in words: "us", "the patroni of us", "the patroni of us + the etcd of eu"
  const uniform = regions.every((r) => componentOf(r) === component)
  const components = uniform ? undefined : Object.fromEntries(regions.map((r) => [r, componentOf(r)]))
  const describeParts = () =>
    uniform
      ? `${component === 'region' ? '' : `the ${component} of `}${regions.join(' + ')}`
      : regions.map((r) => (componentOf(r) === 'region' ? r : `the ${componentOf(r)} of ${r}`)).join(' + ')
  let what = describeParts()
  // an unsupported fault (a mode or component this world cannot do) fails here, before any workload starts
  const partition = options.mode === 'partition' ? (options.partition ?? 'isolate') : undefined
  if (options.partition && options.mode !== 'partition') {
    throw new UsageError(`--partition ${options.partition} goes with --mode partition`, {code: 'PARTITION_UNSUPPORTED'})
  }

  for (const region of regions)
    await world.injectFault(region, options.mode, {dryRun: true, component: componentOf(region), partition})
  const {signal} = options
  const {defaultRunDir} = await import('../ledger/workload.js')
  const runDir = path.resolve(options.runDir ?? defaultRunDir(world.runsDir()))
  // alerts are recorded from here on (an alert already firing before the run shows with a negative time to detect)
  const monitoringFrom = new Date()
  const events: BlastEvent[] = []
  let faultAt: Date | undefined
  const note = (event: string) => {
    const now = new Date()
    events.push({t: faultAt ? (now.getTime() - faultAt.getTime()) / 1000 : 0, at: now.toISOString(), event})
    progress.info(event)
  }

  const before = await runStep(
    progress,
    CHECK_CONVERGED,
    async () => {
      const health = await convergedWorld(world, signal)
      await mkdir(runDir, {recursive: true})
      return health
    },
    (health) => `database leader ${health.leaderRegion}; ${survivability.explanation}`,
  )
  // the step in progress (the first ones are marked done below)
  let done: ReturnType<ProgressReporter['step']> = () => {}

  // acknowledgement times of new commits: unavailability as the clients saw it
  const ackTimes: number[] = []
  // every finished transfer, for the picture and the live line
  const outcomes = new OutcomeRecorder()
  // every outcome with its id, for the writes issued against a cut-off leader (partitions) and, under a shared workload, the round's lookup
  const idOutcomes: Array<{at: number; id: string; latencyMs: number; outcome: string}> = []
  const keepIds = options.mode === 'partition' || options.sharedWorkload !== undefined
  // only new commits: "already applied" is a read and can be answered while no node takes writes
  const record: OutcomeListener = (event) => {
    if (event.outcome === 'applied') ackTimes.push(event.at.getTime())
    outcomes.record(event.outcome, event.at.getTime())
    if (keepIds)
      idOutcomes.push({id: event.id, outcome: event.outcome, at: event.at.getTime(), latencyMs: event.latencyMs})
  }

  let workloadStoppedAt = 0
  let workload: ChaosWorkload | undefined
  // under a shared workload: this round's window onto it
  let window: undefined | WorkloadWindow
  if (options.sharedWorkload) {
    done = progress.step('watch the running transfer workload')
    workload = options.sharedWorkload
    window = workload.observe(record)
  } else if (options.workload !== false) {
    done = progress.step('start the transfer workload')
    workload = await startChaosWorkload(world, {
      runDir,
      concurrency: options.workloadConcurrency ?? 4,
      leaderRegion: before.leaderRegion,
      progress,
      onOutcome: record,
    })
  }

  if (workload) {
    try {
      // a write issued in this round: the workload is writing before the fault
      await workload.handle.waitForAcknowledgedAfter(window ? monitoringFrom : new Date(0), {signal, timeoutMs: 30_000})
      if (options.warmupMs ?? 1000) await sleep(options.warmupMs ?? 1000, signal)
      done({note: `${workload.handle.stats().acknowledged} acknowledged so far`})
    } catch (error) {
      done({error: error as Error})
      if (window) window.close()
      else await workload.stop().catch(() => {})
      throw error
    }
  }

  const sampler = new HealthSampler(world, options.sampleIntervalMs ?? 250)
  const handles: FaultHandle[] = []
  let interrupted = false
  let rtoAt: Date | undefined
  let restoredAt: Date | undefined
  // the live line while the fault holds
  let ticker: undefined | {stop(): void}
  let restoreError: RestoreError | undefined
  let failure: Error | undefined
  try {
    if (targetsEtcdLeader) {
      // the etcd leader at fault time: it may have moved since the check before the workload
      const now = (await world.health()).groups.find((g) => g.group === 'etcd')?.leaderRegion
      if (now && now !== regions[0]) {
        note(`the etcd leader moved from ${regions[0]} to ${now} before the fault: breaking ${now}'s member`)
        regions = [now]
        survivability = assessFaults(world.regions, [{region: now, component: 'etcd'}])
        what = describeParts()
      }
    }

    done = progress.step(`inject ${partition ? `a partition (${partition})` : options.mode} into ${what}`)
    for (const region of regions)
      handles.push(await world.injectFault(region, options.mode, {component: componentOf(region), partition}))
    // the fault holds once every region is broken: a transfer issued between two injections may still commit
    faultAt = new Date(Math.max(...handles.map((h) => h.injectedAt.getTime())))
    sampler.markFault(faultAt)
    note(`fault injected: ${handles.map((h) => h.description).join('; ')}`)
    done()

    done = progress.step(`hold the fault for ${options.durationMs / 1000} s, waiting for the first acknowledged write`)
    const holdUntil = faultAt.getTime() + options.durationMs
    const {startHoldTicker} = await import('../report/live.js')
    ticker = startHoldTicker({
      progress,
      faultAtMs: faultAt.getTime(),
      holdUntilMs: holdUntil,
      recorder: workload ? outcomes : undefined,
      latest: () => sampler.points.at(-1),
    })
    if (workload) {
      try {
        rtoAt = await workload.handle.waitForAcknowledgedAfter(faultAt, {signal, timeoutMs: options.durationMs})
        note(`first acknowledged write after the fault: ${((rtoAt.getTime() - faultAt.getTime()) / 1000).toFixed(2)} s`)
      } catch {
        if (signal?.aborted) throw signal.reason
        note('no write acknowledged while the fault held')
      }
    }

    const left = holdUntil - Date.now()
    if (left > 0) await sleep(left, signal)
    ticker.stop()
    done({
      note: rtoAt
        ? `recovered after ${((rtoAt.getTime() - faultAt.getTime()) / 1000).toFixed(2)} s`
        : 'not recovered during the fault',
    })
  } catch (error) {
    if (signal?.aborted) {
      interrupted = true
      note('interrupted: restoring the regions before exiting')
    } else {
      failure = error as Error
    }
  } finally {
    ticker?.stop()
    // restore whatever happened above; undo() is idempotent
    if (handles.length > 0) {
      done = progress.step(`restore ${regions.join(' + ')}`)
      const problems: string[] = []
      for (const h of handles) {
        try {
          await h.undo()
        } catch (error) {
          problems.push((error as Error).message)
        }
      }

      if (problems.length > 0) {
        restoreError = new RestoreError(
          `the fault could not be undone, the world is left broken: ${problems.join('; ')}`,
          {
            hint: 'see `atlas status`; `atlas down && atlas up` rebuilds the local world',
            details: {regions, mode: options.mode, problems},
          },
        )
        done({error: restoreError})
      } else {
        restoredAt = new Date()
        note('regions restored')
        done()
      }
    }
  }

  if (restoreError) {
    const timeline = await sampler.stop()
    if (window) window.close()
    else if (workload) await workload.stop().catch(() => {})
    // what is known so far, for whoever repairs the world
    const file = path.join(runDir, 'restore-failed.json')
    const {writeFile} = await import('node:fs/promises')
    const {redactObject} = await import('../redact.js')
    await writeFile(
      file,
      `${JSON.stringify(redactObject({regions, mode: options.mode, fault: handles.map((h) => h.description), error: restoreError.message, details: restoreError.details, events, timeline}), null, 2)}\n`,
    ).catch(() => {})
    throw new RestoreError(restoreError.message, {
      hint: `${restoreError.hint}; what happened: ${file}`,
      details: restoreError.details,
    })
  }

  // writes may only come back after the restore (a forced loss of quorum)
  if (workload && !rtoAt && !interrupted && !failure && faultAt) {
    try {
      rtoAt = await workload.handle.waitForAcknowledgedAfter(faultAt, {signal, timeoutMs: 60_000})
      note(
        `first acknowledged write after the fault (after the restore): ${((rtoAt.getTime() - faultAt.getTime()) / 1000).toFixed(2)} s`,
      )
    } catch {
      if (signal?.aborted) interrupted = true
      else note('no write acknowledged within 60 s of the restore')
    }
  }

  let workloadResult: undefined | WorkloadResult
  if (workload && !window) {
    done = progress.step('stop the workload')
    workloadStoppedAt = Date.now()
    workloadResult = await workload.stop()
    done({note: `${workloadResult.stats.acknowledged} acknowledged, ${workloadResult.stats.unknown} unknown outcome`})
  }

  let converged = false
  let convergeSeconds: null | number = null
  let after: ClusterHealth | undefined
  if (!interrupted && !failure) {
    done = progress.step('wait for convergence (old leader rejoins, replication caught up)')
    const restoredAt = Date.now()
    try {
      after = await world.waitConverged({timeoutMs: options.convergeTimeoutMs ?? 90_000, signal})
      converged = true
      convergeSeconds = (Date.now() - restoredAt) / 1000
      note(`converged: database leader ${after.leaderRegion}`)
      done({note: `${convergeSeconds.toFixed(1)} s`})
    } catch (error) {
      if (signal?.aborted) interrupted = true
      else failure = error as Error
      done({error: error as Error})
    }
  }

  const timeline = await sampler.stop()
  // a shared workload goes on: the round's window ends once the world converged
  let windowStats: undefined | WorkloadStats
  if (window) {
    workloadStoppedAt = Date.now()
    windowStats = window.close()
  }

  let verify: undefined | VerifyResult
  let roundTransfers: RoundTransfers | undefined
  if (window && !interrupted && !failure) {
    done = progress.step(
      'look up the transfers acknowledged in this round (the whole run log is verified after the campaign)',
    )
    try {
      roundTransfers = await acknowledgedPresent(world, idOutcomes, after?.leaderRegion ?? null)
      if (roundTransfers.lost > 0)
        note(
          `${roundTransfers.lost} of the ${roundTransfers.acknowledged} transfers acknowledged in this round are missing from the ledger`,
        )
      done({note: `${roundTransfers.present} of ${roundTransfers.acknowledged} present`})
    } catch (error) {
      failure = error as Error
      done({error: error as Error})
    }
  } else if (!interrupted && !failure) {
    done = progress.step(
      `verify the ledger (conservation, replay, durability, phantoms${options.auditCheck ? ', audit' : ''})`,
    )
    try {
      verify = await verifyWorld(
        world,
        workload ? [runDir] : [],
        after?.leaderRegion ?? null,
        Boolean(options.auditCheck),
        signal,
      )
      done({note: verify.ok ? 'all invariants hold' : `${verify.violations.length} violation(s)`})
    } catch (error) {
      if (signal?.aborted) interrupted = true
      else failure = error as Error
      done({error: error as Error})
    }
  }

  const backupCheck =
    options.backupCheck && !interrupted && !failure
      ? await options.backupCheck.run({progress, signal, note})
      : undefined

  let isolatedLeader: IsolatedLeaderWrites | null = null
  if (
    partition &&
    workload &&
    faultAt &&
    before.leaderRegion &&
    regions.includes(before.leaderRegion) &&
    (verify || roundTransfers)
  ) {
    try {
      isolatedLeader = await isolatedLeaderWrites(
        world,
        before.leaderRegion,
        faultAt,
        faultAt.getTime() + options.durationMs,
        timeline,
        idOutcomes,
        after?.leaderRegion ?? null,
      )
      note(
        `writes issued while the cut-off ${before.leaderRegion} led: ${isolatedLeader.attempted}, acknowledged ${isolatedLeader.acknowledged} (${isolatedLeader.acknowledgedInWindow} before another region led), present after the restore ${isolatedLeader.present}, lost ${isolatedLeader.lost}`,
      )
    } catch (error) {
      failure = error as Error
    }
  }

  // a cut-off leader still answers the health probes (they run outside every region) and looks writable:
  // under a partition, the leader during the fault is the first one seen outside the cut-off regions
  const afterFault =
    (partition
      ? timeline.find((p) => p.t > 0 && p.writable && p.leaderRegion !== null && !regions.includes(p.leaderRegion))
      : undefined) ?? timeline.find((p) => p.t > 0 && p.writable)
  const stats = workloadResult?.stats ?? windowStats
  const writeGap =
    workload && faultAt ? longestWriteGap(ackTimes, faultAt.getTime(), workloadStoppedAt || Date.now()) : null
  if (writeGap)
    note(
      `longest gap between acknowledged writes: ${writeGap.seconds.toFixed(2)} s (t = ${writeGap.fromSeconds.toFixed(2)} to ${writeGap.toSeconds.toFixed(2)} s${writeGap.open ? ', still open when the workload stopped' : ''})`,
    )
  const result: BlastResult = {
    region: regions.join('+'),
    regions,
    mode: options.mode,
    component,
    ...(components ? {components} : {}),
    ...(targetsEtcdLeader ? {etcdLeaderTarget: true} : {}),
    partition: partition ?? null,
    isolatedLeader,
    driver: world.driver,
    runDir,
    forced: Boolean(options.force) && !survivability.survives,
    survivability,
    faultInjectedAt: faultAt?.toISOString() ?? '',
    faultDescription: handles.map((h) => h.description).join('; '),
    durationSeconds: options.durationMs / 1000,
    rtoSeconds: rtoAt && faultAt ? Math.round(rtoAt.getTime() - faultAt.getTime()) / 1000 : null,
    recoveredDuringFault: Boolean(rtoAt && faultAt && rtoAt.getTime() <= faultAt.getTime() + options.durationMs),
    unavailableSeconds: writeGap?.seconds ?? null,
    longestWriteGapSeconds: writeGap?.seconds ?? null,
    longestWriteGap: writeGap,
    healthModel: {
      unavailableSeconds: unavailableSeconds(timeline),
      samples: timeline.length,
      sampleIntervalSeconds: (options.sampleIntervalMs ?? 250) / 1000,
    },
    leaderBefore: before.leaderRegion,
    leaderAfterFault: afterFault?.leaderRegion ?? null,
    leaderAfterRestore: after?.leaderRegion ?? null,
    failover: Boolean(afterFault?.leaderRegion && afterFault.leaderRegion !== before.leaderRegion),
    acknowledged: stats?.acknowledged ?? 0,
    unknown: stats?.unknown ?? 0,
    // the round's lookup covers the writes against a cut-off leader too
    lost: roundTransfers ? roundTransfers.lost : (verify?.violationCounts.lost ?? 0) + (isolatedLeader?.lost ?? 0),
    attempted: stats?.attempted ?? 0,
    acknowledgedDuringFault: faultAt
      ? outcomes.count('acknowledged', faultAt.getTime()) -
        (restoredAt ? outcomes.count('acknowledged', restoredAt.getTime() + 1) : 0)
      : 0,
    verified: (Boolean(verify?.ok) || roundTransfers?.lost === 0) && (isolatedLeader?.lost ?? 0) === 0,
    violations: roundTransfers
      ? roundTransfers.lost > 0
        ? {lost: roundTransfers.lost}
        : {}
      : ({...verify?.violationCounts} as Record<string, number>),
    ...(roundTransfers ? {roundTransfers} : {}),
    ...(options.sharedWorkload
      ? {
          sharedWorkload: {
            runLog: options.sharedWorkload.handle.runLog,
            startedAt: options.sharedWorkload.startedAt.toISOString(),
            pid: options.sharedWorkload.pid,
          },
        }
      : {}),
    converged,
    convergeSeconds,
    timeline,
    events,
    outcomes: workload && faultAt ? outcomes.series(faultAt.getTime(), {endMs: workloadStoppedAt || undefined}) : null,
    faultWindows: faultAt
      ? [
          {
            fromSeconds: 0,
            toSeconds: restoredAt ? Math.round(restoredAt.getTime() - faultAt.getTime()) / 1000 : null,
            label: `fault: ${options.mode} ${what.replace(/^the /, '').replaceAll(' + the ', ' + ')}`,
          },
        ]
      : [],
    worldRegions: world.regions.map((r) => r.name),
    workload: stats,
    verify: verify ? {ok: verify.ok, checks: verify.checks, summary: verify.summary} : undefined,
    report: reportFiles(runDir),
    interrupted,
    ...(backupCheck ? {backupCheck} : {}),
  }
  if (world.monitoring && faultAt) {
    done = progress.step('record the alerts that fired (Prometheus)')
    const {recordAlerts} = await import('../monitoring/chaos.js')
    // a short wait for alerts still firing to resolve, now that the world has converged
    result.alerts = await recordAlerts(world, monitoringFrom, faultAt, {
      settleMs: interrupted || failure ? 0 : 20_000,
      signal,
      progress,
    })
    done({
      note:
        result.alerts === undefined
          ? 'monitoring is not running'
          : `${result.alerts.filter((a) => a.firedAt).length} fired, ${result.alerts.filter((a) => a.firedAt && a.resolvedAt).length} resolved`,
    })
  }

  done = progress.step('write the report')
  await writeReport(result)
  if (options.upload !== false && !interrupted) {
    try {
      result.report.uploaded = await uploadReport(world, result)
    } catch (error) {
      progress.info(`report not uploaded: ${(error as Error).message}`)
    }

    await writeReport(result)
  }

  done({note: result.report.markdown})

  if (interrupted) {
    throw new AtlasError(
      `interrupted: ${regions.join(' + ')} restored; partial report in ${result.report.markdown}`,
      ExitCode.Unexpected,
      'INTERRUPTED',
      {details: {runDir}},
    )
  }

  if (failure) throw failure
  return result
}

/** Verifies the ledger against the given run logs (and every other run log of this world). */
/** The first step of a round and of a campaign */
export const CHECK_CONVERGED = 'check that the world is up and converged'

/** The world is running and has converged: its settled health, the baseline of a round or a campaign. */
export async function convergedWorld(world: World, signal?: AbortSignal): Promise<ClusterHealth> {
  const status = await world.status()
  if (!status.up) throw new PreconditionError('the world is not running', {hint: 'run `atlas up` first'})
  return world.waitConverged({timeoutMs: 60_000, signal})
}

export async function verifyWorld(
  world: World,
  runLogs: string[],
  leaderRegion: null | string,
  auditCheck: boolean,
  signal?: AbortSignal,
): Promise<VerifyResult> {
  const {verifyLedger} = await import('../ledger/verify.js')
  const {s3Client} = await import('../cloud/clients.js')
  const cloud = await world.cloudEndpoint()
  const endpoints = await world.endpoints()
  const clients: Array<{destroy(): void}> = []
  try {
    const buckets: Record<string, import('../cloud/audit.js').AuditTarget> = {}
    for (const region of dataRegions(world.config)) {
      const bucket = endpoints.find((e) => e.region === region.name)?.auditBucket
      if (!bucket) continue
      const s3 = await s3Client(cloud, region.awsRegion)
      clients.push(s3)
      buckets[region.name] = {s3, bucket}
    }

    const urls = await leaderFirstUrls(world, leaderRegion, 'verify')
    const audit =
      auditCheck && Object.keys(buckets).length > 0
        ? {buckets, replication: world.config.cloud.replication, timeoutMs: 10_000}
        : undefined
    // every run of this world wrote to the same ledger: all their logs are needed to tell phantoms from earlier runs' transfers
    return await verifyLedger({db: urls, runLogs, runsDir: world.runsDir(), audit, signal})
  } finally {
    for (const c of clients) c.destroy()
  }
}

/** Uploads the report (report.json, report.md and the picture) to the primary region's audit bucket; returns the s3:// prefix. */
async function uploadReport(world: World, result: BlastResult): Promise<string | undefined> {
  const primary = primaryRegion(world.config)
  const bucket = (await world.endpoints()).find((e) => e.region === primary.name)?.auditBucket
  if (!bucket) return undefined
  const {s3Client} = await import('../cloud/clients.js')
  const {PutObjectCommand} = await import('@aws-sdk/client-s3')
  const {readFile} = await import('node:fs/promises')
  const s3 = await s3Client(await world.cloudEndpoint(), primary.awsRegion)
  const prefix = `reports/blast-radius/${path.basename(result.runDir)}/`
  try {
    const {reportUploads} = await import('../report/blast.js')
    for (const {file, contentType} of reportUploads(result.report)) {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `${prefix}${path.basename(file)}`,
          Body: await readFile(file),
          ContentType: contentType,
        }),
      )
    }
  } finally {
    s3.destroy()
  }

  return `s3://${bucket}/${prefix}`
}

/**
 * The writes issued while a cut-off region still held the database leadership: from the
 * fault until a health sample saw another region lead (or the end of the fault), and
 * whether every acknowledged one is in the database now (looked up by id on the leader).
 */
async function isolatedLeaderWrites(
  world: World,
  region: string,
  faultAt: Date,
  holdUntil: number,
  timeline: TimelinePoint[],
  outcomes: Array<{at: number; id: string; latencyMs: number; outcome: string}>,
  leaderAfter: null | string,
): Promise<IsolatedLeaderWrites> {
  const moved = timeline.find((p) => p.t > 0 && p.leaderRegion !== null && p.leaderRegion !== region)
  const from = faultAt.getTime()
  const until = moved ? new Date(moved.at).getTime() : holdUntil
  const issued = outcomes.filter((o) => o.at - o.latencyMs >= from && o.at - o.latencyMs < until)
  const acked = issued.filter((o) => o.outcome === 'applied' || o.outcome === 'already_applied')
  const ids = [...new Set(acked.map((o) => o.id))]
  const present = await countPresent(world, ids, leaderAfter)
  return {
    region,
    leadershipLostSeconds: moved ? moved.t : null,
    attempted: issued.length,
    acknowledgedInWindow: acked.filter((o) => o.at < until).length,
    acknowledged: ids.length,
    unknown: issued.filter((o) => o.outcome === 'unknown').length,
    present,
    lost: ids.length - present,
  }
}

/** Under a shared workload: the transfers acknowledged in the round's window, looked up by id in the ledger. */
async function acknowledgedPresent(
  world: World,
  outcomes: Array<{id: string; outcome: string}>,
  leaderAfter: null | string,
): Promise<RoundTransfers> {
  const ids = [
    ...new Set(outcomes.filter((o) => o.outcome === 'applied' || o.outcome === 'already_applied').map((o) => o.id)),
  ]
  const present = await countPresent(world, ids, leaderAfter)
  return {acknowledged: ids.length, present, lost: ids.length - present}
}

/** How many of the transfer ids are stored (read on the leader). */
async function countPresent(world: World, ids: string[], leaderRegion: null | string): Promise<number> {
  if (ids.length === 0) return 0
  const {connectLedger} = await import('../ledger/db.js')
  const sql = await connectLedger(await leaderFirstUrls(world, leaderRegion, 'verify'), {
    max: 1,
    applicationName: 'atlas-blast-radius',
  })
  try {
    let present = 0
    // a few thousand ids per statement; an array literal: the pool does not fetch types, so it cannot serialise a JS array (ids are UUIDs)
    for (let i = 0; i < ids.length; i += 5000) {
      const [row] = await sql.unsafe('SELECT count(*)::int AS n FROM transfers WHERE id = ANY($1::uuid[])', [
        `{${ids.slice(i, i + 5000).join(',')}}`,
      ])
      present += Number(row.n)
    }

    return present
  } finally {
    await sql.end({timeout: 5})
  }
}

/**
 * --component etcd-leader: the region whose etcd member leads the Raft group, read before
 * the workload starts (and again at fault time). --region is optional; given, it must be the
 * leader's region now. No etcd group (the k3d world) or no leader: exit 3 before anything starts.
 */
async function etcdLeaderTarget(world: World, options: BlastOptions): Promise<string[]> {
  const regions = [...new Set(options.regions)]
  if (options.mode === 'partition')
    throw new UsageError('--component etcd-leader goes with --mode kill or stop, not partition', {
      code: 'PARTITION_UNSUPPORTED',
    })
  if (regions.length > 1)
    throw new UsageError(
      `--component etcd-leader breaks one etcd member: give at most one --region (got ${regions.join(', ')})`,
    )
  const etcd = (await world.health()).groups.find((g) => g.group === 'etcd')
  if (!etcd)
    throw new PreconditionError(
      `the ${world.driver} world has no etcd group: --component etcd-leader is for the local world`,
      {code: 'ETCD_LEADER_UNKNOWN'},
    )
  if (!etcd.leaderRegion)
    throw new PreconditionError('no etcd member is leading right now: there is no etcd leader to break', {
      code: 'ETCD_LEADER_UNKNOWN',
      hint: 'atlas status (is the world up and converged?)',
    })
  if (regions.length === 1 && regions[0] !== etcd.leaderRegion) {
    throw new PreconditionError(`--region ${regions[0]} does not hold the etcd leader: ${etcd.leaderRegion} does`, {
      code: 'ETCD_LEADER_ELSEWHERE',
      hint: `drop --region (the fault follows the leader), or pass --region ${etcd.leaderRegion}`,
    })
  }

  return [etcd.leaderRegion]
}
