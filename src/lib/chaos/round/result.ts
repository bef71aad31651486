import path from 'node:path'

import type {ClusterHealth} from '../../health/model.js'
import type {ProgressReporter, World} from '../../world/types.js'
import type {BlastResult, IsolatedLeaderWrites} from '../types.js'
import type {Convergence, LedgerCheck} from './checks.js'
import type {FaultRun} from './fault.js'
import type {BlastOptions} from './options.js'
import type {RoundPlan} from './plan.js'
import type {RoundRecord} from './record.js'
import type {WorkloadEnd} from './workload.js'

import {primaryRegion} from '../../config/regions.js'
import {longestWriteGap, type TimelinePoint, unavailableSeconds} from '../timeline.js'

/** Everything a round found, phase by phase: what roundResult turns into the report. */
export interface RoundFindings {
  backupCheck?: BlastResult['backupCheck']
  before: ClusterHealth
  convergence: Convergence
  fault: FaultRun
  isolatedLeader: IsolatedLeaderWrites | null
  ledger: LedgerCheck
  plan: RoundPlan
  record: RoundRecord
  /** where the report's files go (report/blast.ts reportFiles) */
  report: BlastResult['report']
  runDir: string
  timeline: TimelinePoint[]
  /** the round had a workload (its own or a shared one's window) */
  withWorkload: boolean
  workloadEnd?: WorkloadEnd
}

/** The round's report (report.json's shape) from what its phases found. */
export function roundResult(world: World, options: BlastOptions, found: RoundFindings): BlastResult {
  const {plan, record, fault, convergence, ledger, timeline, isolatedLeader} = found
  const {faultAt} = record
  const {partition, regions} = plan
  const {roundTransfers, verify} = ledger
  const stoppedAt = found.workloadEnd?.stoppedAt ?? 0
  // a cut-off leader still answers the health probes (they run outside every region) and looks writable:
  // under a partition, the leader during the fault is the first one seen outside the cut-off regions
  const afterFault =
    (partition
      ? timeline.find((p) => p.t > 0 && p.writable && p.leaderRegion !== null && !regions.includes(p.leaderRegion))
      : undefined) ?? timeline.find((p) => p.t > 0 && p.writable)
  const stats = found.workloadEnd?.stats
  const writeGap =
    found.withWorkload && faultAt ? longestWriteGap(record.ackTimes, faultAt.getTime(), stoppedAt || Date.now()) : null
  if (writeGap)
    record.note(
      `longest gap between acknowledged writes: ${writeGap.seconds.toFixed(2)} s (t = ${writeGap.fromSeconds.toFixed(2)} to ${writeGap.toSeconds.toFixed(2)} s${writeGap.open ? ', still open when the workload stopped' : ''})`,
    )
  const {rtoAt, restoredAt, restoringFrom} = fault
  const {sharedWorkload} = options
  return {
    region: regions.join('+'),
    regions,
    mode: options.mode,
    component: plan.component,
    ...(plan.components ? {components: plan.components} : {}),
    ...(plan.targetsEtcdLeader ? {etcdLeaderTarget: true} : {}),
    partition: partition ?? null,
    isolatedLeader,
    driver: world.driver,
    runDir: found.runDir,
    forced: Boolean(options.force) && !plan.survivability.survives,
    survivability: plan.survivability,
    faultInjectedAt: faultAt?.toISOString() ?? '',
    faultDescription: fault.handles.map((h) => h.description).join('; '),
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
    leaderBefore: found.before.leaderRegion,
    leaderAfterFault: afterFault?.leaderRegion ?? null,
    leaderAfterRestore: convergence.after?.leaderRegion ?? null,
    failover: Boolean(afterFault?.leaderRegion && afterFault.leaderRegion !== found.before.leaderRegion),
    acknowledged: stats?.acknowledged ?? 0,
    unknown: stats?.unknown ?? 0,
    // the round's lookup covers the writes against a cut-off leader too
    lost: roundTransfers ? roundTransfers.lost : (verify?.violationCounts.lost ?? 0) + (isolatedLeader?.lost ?? 0),
    attempted: stats?.attempted ?? 0,
    // while the fault held: up to the start of the restore. The regions come back one at a time, and
    // writes may rightly resume (quorum back) before the last one is restored
    acknowledgedDuringFault: faultAt
      ? record.outcomes.count('acknowledged', faultAt.getTime()) -
        (restoringFrom ? record.outcomes.count('acknowledged', restoringFrom.getTime() + 1) : 0)
      : 0,
    verified: (Boolean(verify?.ok) || roundTransfers?.lost === 0) && (isolatedLeader?.lost ?? 0) === 0,
    violations: roundTransfers
      ? roundTransfers.lost > 0
        ? {lost: roundTransfers.lost}
        : {}
      : ({...verify?.violationCounts} as Record<string, number>),
    ...(roundTransfers ? {roundTransfers} : {}),
    ...(sharedWorkload
      ? {
          sharedWorkload: {
            runLog: sharedWorkload.handle.runLog,
            startedAt: sharedWorkload.startedAt.toISOString(),
            pid: sharedWorkload.pid,
          },
        }
      : {}),
    converged: convergence.converged,
    convergeSeconds: convergence.convergeSeconds,
    timeline,
    events: record.events,
    outcomes:
      found.withWorkload && faultAt ? record.outcomes.series(faultAt.getTime(), {endMs: stoppedAt || undefined}) : null,
    faultWindows: faultAt
      ? [
          {
            fromSeconds: 0,
            toSeconds: restoredAt ? Math.round(restoredAt.getTime() - faultAt.getTime()) / 1000 : null,
            label: `fault: ${options.mode} ${plan.what.replace(/^the /, '').replaceAll(' + the ', ' + ')}`,
          },
        ]
      : [],
    worldRegions: world.regions.map((r) => r.name),
    workload: stats,
    verify: verify ? {ok: verify.ok, checks: verify.checks, summary: verify.summary} : undefined,
    report: found.report,
    interrupted: record.interrupted,
    ...(found.backupCheck ? {backupCheck: found.backupCheck} : {}),
  }
}

/**
 * The round's last phases: the alerts Prometheus saw fire and resolve (when the world runs
 * monitoring), then report.json, report.md and the picture written to the run directory and
 * uploaded to the primary region's audit bucket (unless options.upload is false or Ctrl-C).
 */
export async function publishReport(
  world: World,
  result: BlastResult,
  options: BlastOptions,
  record: RoundRecord,
  context: {monitoringFrom: Date; progress: ProgressReporter},
): Promise<void> {
  const {progress} = context
  if (world.monitoring && record.faultAt) {
    const done = progress.step('record the alerts that fired (Prometheus)')
    const {recordAlerts} = await import('../../monitoring/chaos.js')
    // a short wait for alerts still firing to resolve, now that the world has converged
    result.alerts = await recordAlerts(world, context.monitoringFrom, record.faultAt, {
      settleMs: record.going ? 20_000 : 0,
      signal: options.signal,
      progress,
    })
    done({
      note:
        result.alerts === undefined
          ? 'monitoring is not running'
          : `${result.alerts.filter((a) => a.firedAt).length} fired, ${result.alerts.filter((a) => a.firedAt && a.resolvedAt).length} resolved`,
    })
  }

  const done = progress.step('write the report')
  const {writeReport} = await import('../../report/blast.js')
  await writeReport(result)
  if (options.upload !== false && !record.interrupted) {
    try {
      result.report.uploaded = await uploadReport(world, result)
    } catch (error) {
      progress.info(`report not uploaded: ${(error as Error).message}`)
    }

    await writeReport(result)
  }

  done({note: result.report.markdown})
}

/** Uploads the report (report.json, report.md and the picture) to the primary region's audit bucket; returns the s3:// prefix. */
async function uploadReport(world: World, result: BlastResult): Promise<string> {
  const [{LedgerTarget}, {s3Client}, {PutObjectCommand}, {readFile}, {reportUploads}] = await Promise.all([
    import('../../world/ledger-target.js'),
    import('../../cloud/clients.js'),
    import('@aws-sdk/client-s3'),
    import('node:fs/promises'),
    import('../../report/blast.js'),
  ])
  const target = LedgerTarget.ofWorld(world)
  const primary = primaryRegion(world.config)
  const {auditBucket} = await target.regionResources(primary)
  const s3 = await s3Client(await target.cloud(), primary.awsRegion)
  const prefix = `reports/blast-radius/${path.basename(result.runDir)}/`
  try {
    for (const {file, contentType} of reportUploads(result.report)) {
      await s3.send(
        new PutObjectCommand({
          Bucket: auditBucket,
          Key: `${prefix}${path.basename(file)}`,
          Body: await readFile(file),
          ContentType: contentType,
        }),
      )
    }
  } finally {
    s3.destroy()
  }

  return `s3://${auditBucket}/${prefix}`
}
