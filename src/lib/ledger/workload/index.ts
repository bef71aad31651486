import path from 'node:path'

import type {WorkloadHandle, WorkloadOptions, WorkloadResult} from './types.js'

import {checkOptions, finishRun, openLedger, openRunLog, rateSchedule, StopSwitch, type WorkloadRun} from './run.js'
import {WorkloadTally} from './tally.js'

export type {WorkloadHandle, WorkloadOptions, WorkloadResult, WorkloadStats} from './types.js'

/** Default run directory: <runsDir>/<timestamp>. */
export function defaultRunDir(runsDir: string, now = new Date()): string {
  return path.join(runsDir, now.toISOString().replaceAll(/[:.]/g, '-'))
}

/**
 * Starts a transfer workload and returns at once with a handle. Every attempt,
 * acknowledgement, unknown and failure is appended to <runDir>/transfers.log
 * before it is counted, so `verify --run-dir` can tell lost from never committed.
 *
 * In phases: checkOptions, openLedger (pool and mint), openRunLog, then the run
 * (runWorker per worker, resolveUnknowns) and finishRun, which closes the log.
 */
export async function startWorkload(options: WorkloadOptions): Promise<WorkloadHandle> {
  const settings = checkOptions(options)
  const ledger = await openLedger(options, settings)
  const {log, startedAt, started} = await openRunLog(options, settings, ledger)
  const tally = new WorkloadTally(started)
  const stop = new StopSwitch(options.signal, options.durationMs, settings.concurrency * settings.pipeline)
  const progressTimer = setInterval(() => {
    tally.measureWindow()
    options.onProgress?.(tally.snapshot())
  }, options.progressIntervalMs ?? 1000)
  progressTimer.unref()

  const run: WorkloadRun = {
    options,
    settings,
    sql: ledger.sql,
    accounts: ledger.accounts,
    log,
    tally,
    stop,
    waitForSlot: rateSchedule(options.rate),
  }
  const done = finishRun(run, ledger, startedAt, progressTimer)
  // callers may only use waitForAcknowledgedAfter; an unhandled rejection must not crash them
  done.catch(() => {})
  done.then(
    () => tally.recovery.close(new Error('the workload ended with no transfer acknowledged after that time')),
    (error: Error) => tally.recovery.close(error),
  )

  return {
    runDir: options.runDir,
    runLog: log.file,
    pipeline: settings.pipeline,
    stats: () => tally.snapshot(),
    done,
    async stop() {
      stop.stopIssuing = true
      return done
    },
    waitForAcknowledgedAfter(after, waitOptions = {}) {
      return tally.recovery.waitForIssuedAfter(after, waitOptions)
    },
  }
}

/** Runs a workload to its end (count, duration or signal). */
export async function runWorkload(options: WorkloadOptions): Promise<WorkloadResult> {
  const handle = await startWorkload(options)
  return handle.done
}
