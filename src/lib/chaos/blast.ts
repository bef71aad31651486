import {mkdir} from 'node:fs/promises'
import path from 'node:path'

import type {ClusterHealth} from '../health/model.js'
import type {World} from '../world/types.js'
import type {BlastOptions} from './round/options.js'
import type {BlastResult} from './types.js'

import {AtlasError, ExitCode, PreconditionError} from '../errors.js'
import {runStep, silentProgress} from '../progress.js'
import {awaitConvergence, checkLedger, isolatedLeaderWrites} from './round/checks.js'
import {awaitWritesAfterRestore, breakHoldRestore} from './round/fault.js'
import {RoundPlan} from './round/plan.js'
import {RoundRecord} from './round/record.js'
import {publishReport, roundResult} from './round/result.js'
import {armWorkload, closeWindow, stopOwnWorkload} from './round/workload.js'
import {HealthSampler} from './timeline.js'

export type {BlastOptions} from './round/options.js'
export type {BlastResult} from './types.js'

/**
 * One blast-radius round against any world, phase by phase: plan (what breaks; refused
 * when quorum would be lost), baseline (converged), workload, break-hold-restore, writes
 * after the restore, stop the workload, convergence, ledger check, backup check, writes
 * against a cut-off leader, report. Whatever happens after the fault (an error, Ctrl-C),
 * the regions are restored before this returns or throws; a failed restore is a
 * RestoreError (exit 5). After an error or Ctrl-C the checks are skipped and the report
 * is written with what is known.
 */
export async function blastRadius(world: World, options: BlastOptions): Promise<BlastResult> {
  const progress = options.progress ?? silentProgress
  const {signal} = options
  const plan = await RoundPlan.for(world, options)
  const [{defaultRunDir}, {reportFiles}] = await Promise.all([
    import('../ledger/workload/index.js'),
    import('../report/blast.js'),
  ])
  const runDir = path.resolve(options.runDir ?? defaultRunDir(world.runsDir()))
  // alerts are recorded from here on (an alert already firing before the run shows with a negative time to detect)
  const roundStart = new Date()
  const record = new RoundRecord(progress, options.mode === 'partition' || options.sharedWorkload !== undefined)

  const before = await runStep(
    progress,
    CHECK_CONVERGED,
    async () => {
      const health = await convergedWorld(world, signal)
      await mkdir(runDir, {recursive: true})
      return health
    },
    (health) => `database leader ${health.leaderRegion}; ${plan.survivability.explanation}`,
  )
  const armed = await armWorkload(world, options, record, {
    leaderRegion: before.leaderRegion,
    progress,
    roundStart,
    runDir,
  })

  const sampler = new HealthSampler(world, options.sampleIntervalMs ?? 250)
  const fault = await breakHoldRestore(world, plan, options, record, {progress, runDir, sampler, workload: armed})
  await awaitWritesAfterRestore(armed, fault, record, signal)
  let workloadEnd = await stopOwnWorkload(armed, progress)
  const convergence = await awaitConvergence(world, options, record, progress)
  const timeline = await sampler.stop()
  workloadEnd ??= closeWindow(armed)

  const leaderAfter = convergence.after?.leaderRegion ?? null
  const ledger = await checkLedger(world, options, record, {
    leaderRegion: leaderAfter,
    ownRunLog: armed ? runDir : undefined,
    progress,
    shared: armed?.window !== undefined,
  })
  const backupCheck =
    options.backupCheck && record.going
      ? await options.backupCheck.run({progress, signal, note: record.note})
      : undefined
  const isolatedLeader = await isolatedLeaderWrites(world, record, {
    checked: Boolean(ledger.verify || ledger.roundTransfers),
    cutOff: plan.regions,
    holdUntil: (record.faultAt?.getTime() ?? 0) + options.durationMs,
    leaderAfter,
    leaderBefore: before.leaderRegion,
    partitioned: plan.partition !== undefined,
    timeline,
    workload: armed !== undefined,
  })

  const result = roundResult(world, options, {
    backupCheck,
    before,
    convergence,
    fault,
    isolatedLeader,
    ledger,
    plan,
    record,
    report: reportFiles(runDir),
    runDir,
    timeline,
    withWorkload: armed !== undefined,
    workloadEnd,
  })
  await publishReport(world, result, options, record, {monitoringFrom: roundStart, progress})

  if (record.interrupted) {
    throw new AtlasError(
      `interrupted: ${plan.regions.join(' + ')} restored; partial report in ${result.report.markdown}`,
      ExitCode.Unexpected,
      'INTERRUPTED',
      {details: {runDir}},
    )
  }

  if (record.failure) throw record.failure
  return result
}

/** The first step of a round and of a campaign */
export const CHECK_CONVERGED = 'check that the world is up and converged'

/** The world is running and has converged: its settled health, the baseline of a round or a campaign. */
export async function convergedWorld(world: World, signal?: AbortSignal): Promise<ClusterHealth> {
  const status = await world.status()
  if (!status.up) throw new PreconditionError('the world is not running', {hint: 'run `atlas up` first'})
  return world.waitConverged({timeoutMs: 60_000, signal})
}
