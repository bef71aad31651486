import path from 'node:path'

import type {FaultHandle, ProgressReporter, World} from '../../world/types.js'
import type {HealthSampler} from '../timeline.js'
import type {BlastOptions} from './options.js'
import type {RoundPlan} from './plan.js'
import type {RoundRecord} from './record.js'
import type {RoundWorkload} from './workload.js'

import {RestoreError} from '../../errors.js'
import {sleep} from '../../wait.js'

/** What the fault phase leaves: the handles that undid it, when the clients first wrote again and when it was undone. */
export interface FaultRun {
  handles: FaultHandle[]
  /** when the last region was restored */
  restoredAt?: Date
  /** when the restore began: the fault held until then (regions come back one by one after it) */
  restoringFrom?: Date
  rtoAt?: Date
}

/**
 * Breaks the planned regions, holds the fault for options.durationMs while waiting for the
 * first acknowledged write after it (the RTO), then restores them, whatever happened in
 * between (an error, Ctrl-C): restoring is the one thing this phase never skips. A restore
 * that fails writes restore-failed.json (what is known, for whoever repairs the world) and
 * throws a RestoreError (exit 5).
 */
export async function breakHoldRestore(
  world: World,
  plan: RoundPlan,
  options: BlastOptions,
  record: RoundRecord,
  context: {progress: ProgressReporter; runDir: string; sampler: HealthSampler; workload?: RoundWorkload},
): Promise<FaultRun> {
  const {progress, sampler} = context
  const workload = context.workload?.workload
  const {signal} = options
  const run: FaultRun = {handles: []}
  let done: ReturnType<ProgressReporter['step']> = () => {}
  // the live line while the fault holds
  let ticker: undefined | {stop(): void}
  let restoreError: RestoreError | undefined
  try {
    const movedFrom = await plan.followEtcdLeader(world)
    if (movedFrom)
      record.note(
        `the etcd leader moved from ${movedFrom} to ${plan.regions[0]} before the fault: breaking ${plan.regions[0]}'s member`,
      )

    done = progress.step(
      `inject ${plan.partition ? `a partition (${plan.partition})` : options.mode} into ${plan.what}`,
    )
    for (const region of plan.regions)
      run.handles.push(
        await world.injectFault(region, options.mode, {component: plan.componentOf(region), partition: plan.partition}),
      )
    // the fault holds once every region is broken: a transfer issued between two injections may still commit
    const faultAt = new Date(Math.max(...run.handles.map((h) => h.injectedAt.getTime())))
    record.faultAt = faultAt
    sampler.markFault(faultAt)
    record.note(`fault injected: ${run.handles.map((h) => h.description).join('; ')}`)
    done()

    done = progress.step(`hold the fault for ${options.durationMs / 1000} s, waiting for the first acknowledged write`)
    const holdUntil = faultAt.getTime() + options.durationMs
    const {startHoldTicker} = await import('../../report/live.js')
    ticker = startHoldTicker({
      progress,
      faultAtMs: faultAt.getTime(),
      holdUntilMs: holdUntil,
      recorder: workload ? record.outcomes : undefined,
      latest: () => sampler.points.at(-1),
    })
    if (workload) {
      try {
        run.rtoAt = await workload.handle.waitForAcknowledgedAfter(faultAt, {signal, timeoutMs: options.durationMs})
        record.note(`first acknowledged write after the fault: ${secondsAfter(faultAt, run.rtoAt)} s`)
      } catch {
        if (signal?.aborted) throw signal.reason
        record.note('no write acknowledged while the fault held')
      }
    }

    const left = holdUntil - Date.now()
    if (left > 0) await sleep(left, signal)
    ticker.stop()
    done({
      note: run.rtoAt ? `recovered after ${secondsAfter(faultAt, run.rtoAt)} s` : 'not recovered during the fault',
    })
  } catch (error) {
    record.settle(error, signal)
    if (record.interrupted) record.note('interrupted: restoring the regions before exiting')
  } finally {
    ticker?.stop()
    // restore whatever happened above; undo() is idempotent
    if (run.handles.length > 0) {
      done = progress.step(`restore ${plan.regions.join(' + ')}`)
      run.restoringFrom = new Date()
      const problems: string[] = []
      for (const h of run.handles) {
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
            details: {regions: plan.regions, mode: options.mode, problems},
          },
        )
        done({error: restoreError})
      } else {
        run.restoredAt = new Date()
        record.note('regions restored')
        done()
      }
    }
  }

  if (restoreError) await failedRestore(restoreError, plan, options, record, context, run)
  return run
}

/** A forced loss of quorum: writes may only come back after the restore (up to 60 s). */
export async function awaitWritesAfterRestore(
  armed: RoundWorkload | undefined,
  run: FaultRun,
  record: RoundRecord,
  signal: AbortSignal | undefined,
): Promise<void> {
  const {faultAt} = record
  if (!armed || run.rtoAt || !record.going || !faultAt) return
  try {
    run.rtoAt = await armed.workload.handle.waitForAcknowledgedAfter(faultAt, {signal, timeoutMs: 60_000})
    record.note(`first acknowledged write after the fault (after the restore): ${secondsAfter(faultAt, run.rtoAt)} s`)
  } catch {
    if (signal?.aborted) record.interrupted = true
    else record.note('no write acknowledged within 60 s of the restore')
  }
}

/** Stops the sampler and the workload, writes restore-failed.json, and throws the RestoreError naming it. */
async function failedRestore(
  restoreError: RestoreError,
  plan: RoundPlan,
  options: BlastOptions,
  record: RoundRecord,
  context: {runDir: string; sampler: HealthSampler; workload?: RoundWorkload},
  run: FaultRun,
): Promise<never> {
  const timeline = await context.sampler.stop()
  if (context.workload?.window) context.workload.window.close()
  else if (context.workload) await context.workload.workload.stop().catch(() => {})
  const file = path.join(context.runDir, 'restore-failed.json')
  const {writeFile} = await import('node:fs/promises')
  const {redactObject} = await import('../../redact.js')
  const known = {
    regions: plan.regions,
    mode: options.mode,
    fault: run.handles.map((h) => h.description),
    error: restoreError.message,
    details: restoreError.details,
    events: record.events,
    timeline,
  }
  await writeFile(file, `${JSON.stringify(redactObject(known), null, 2)}\n`).catch(() => {})
  throw new RestoreError(restoreError.message, {
    hint: `${restoreError.hint}; what happened: ${file}`,
    details: restoreError.details,
  })
}

const secondsAfter = (from: Date, to: Date) => ((to.getTime() - from.getTime()) / 1000).toFixed(2)
