import type {WorkloadResult, WorkloadStats} from '../../ledger/workload/index.js'
import type {ProgressReporter, World} from '../../world/types.js'
import type {BlastOptions} from './options.js'
import type {RoundRecord} from './record.js'

import {sleep} from '../../wait.js'
import {type ChaosWorkload, startChaosWorkload, type WorkloadWindow} from '../workload.js'

/** The workload a round writes under: its own (started and stopped by the round), or a window onto a campaign's. */
export interface RoundWorkload {
  /** under a shared workload: this round's window onto it */
  readonly window?: WorkloadWindow
  readonly workload: ChaosWorkload
}

/**
 * Starts the round's workload (or opens a window onto a shared one) and waits until it is
 * writing, plus the warm-up. Undefined with options.workload false. A workload that never
 * writes is stopped (its window closed) and the error thrown: nothing was broken yet.
 */
export async function armWorkload(
  world: World,
  options: BlastOptions,
  record: RoundRecord,
  context: {leaderRegion: null | string; progress: ProgressReporter; roundStart: Date; runDir: string},
): Promise<RoundWorkload | undefined> {
  const {progress} = context
  const {signal} = options
  let armed: RoundWorkload
  let done: ReturnType<ProgressReporter['step']>
  if (options.sharedWorkload) {
    done = progress.step('watch the running transfer workload')
    armed = {workload: options.sharedWorkload, window: options.sharedWorkload.observe(record.listener)}
  } else if (options.workload === false) {
    return undefined
  } else {
    done = progress.step('start the transfer workload')
    armed = {
      workload: await startChaosWorkload(world, {
        runDir: context.runDir,
        concurrency: options.workloadConcurrency ?? 4,
        pipeline: options.workloadPipeline,
        leaderRegion: context.leaderRegion,
        progress,
        onOutcome: record.listener,
      }),
    }
  }

  const {workload, window} = armed
  try {
    // a write issued in this round: the workload is writing before the fault
    await workload.handle.waitForAcknowledgedAfter(window ? context.roundStart : new Date(0), {
      signal,
      timeoutMs: 30_000,
    })
    if (options.warmupMs ?? 1000) await sleep(options.warmupMs ?? 1000, signal)
    done({note: `${workload.handle.stats().acknowledged} acknowledged so far`})
  } catch (error) {
    done({error: error as Error})
    if (window) window.close()
    else await workload.stop().catch(() => {})
    throw error
  }

  return armed
}

/** What the round's workload did: its own stopped (its result), or its window onto a shared one closed (the window's counters). */
export interface WorkloadEnd {
  result?: WorkloadResult
  stats?: WorkloadStats
  /** when the workload stopped writing for this round (0: it had none) */
  stoppedAt: number
}

/** Stops the round's own workload, once the fault is undone (a shared one goes on: its window closes after convergence). */
export async function stopOwnWorkload(
  armed: RoundWorkload | undefined,
  progress: ProgressReporter,
): Promise<undefined | WorkloadEnd> {
  if (!armed || armed.window) return undefined
  const done = progress.step('stop the workload')
  const stoppedAt = Date.now()
  const result = await armed.workload.stop()
  done({note: `${result.stats.acknowledged} acknowledged, ${result.stats.unknown} unknown outcome`})
  return {result, stats: result.stats, stoppedAt}
}

/** Under a shared workload: the round's window ends once the world converged; the workload goes on. */
export function closeWindow(armed: RoundWorkload | undefined): undefined | WorkloadEnd {
  if (!armed?.window) return undefined
  const stoppedAt = Date.now()
  return {stats: armed.window.close(), stoppedAt}
}
