import type {WorkloadOptions, WorkloadStats} from './types.js'

import {AcknowledgementTracker} from '../recovery.js'
import {LatencyHistogram} from '../stats.js'
import {isAcknowledged, type TransferRequest, type TransferResult} from '../transfer.js'

/** requests whose outcome was unknown are kept for resolveUnknown up to this many (a run has few of them) */
const MAX_UNKNOWN_KEPT = 100_000

/** The counters, latencies, recent errors and acknowledgement times of a run: what stats() reports. */
export class WorkloadTally {
  readonly counters = {
    attempted: 0,
    applied: 0,
    alreadyApplied: 0,
    sent: 0,
    rejected: 0,
    failed: 0,
    unknown: 0,
    unknownResolved: 0,
    retries: 0,
    inFlight: 0,
    auditErrors: 0,
  }
  readonly histogram = new LatencyHistogram()
  readonly recentErrors: string[] = []
  /** when writes came back: the recovery point for RTO (waitForAcknowledgedAfter) */
  readonly recovery = new AcknowledgementTracker()
  /** requests whose outcome was unknown, with the traceparent each was sent under (audited when it is settled) */
  readonly unknownRequests: Array<{request: TransferRequest; traceparent?: string}> = []
  /** ms since the epoch */
  private firstAckAt?: number
  private lastAckAt?: number
  private lastProgress = {at: performance.now(), done: 0}
  private readonly started: number
  private windowTps = 0

  constructor(started: number) {
    this.started = started
  }

  /** counts a finished direct-mode transfer (its outcome line is already in the run log) */
  account(
    request: TransferRequest,
    done: TransferResult,
    issuedAt: number,
    atMs: number,
    traceparent: string | undefined,
    onOutcome: WorkloadOptions['onOutcome'],
  ): void {
    const {counters} = this
    counters.retries += done.retries
    if (isAcknowledged(done.outcome)) {
      this.histogram.record(done.latencyMs)
      if (done.outcome === 'applied') counters.applied++
      else counters.alreadyApplied++
      this.acknowledged(atMs, issuedAt, done.outcome === 'applied')
    } else {
      if (done.outcome === 'rejected') counters.rejected++
      else if (done.outcome === 'failed') counters.failed++
      else {
        counters.unknown++
        if (this.unknownRequests.length < MAX_UNKNOWN_KEPT) this.unknownRequests.push({request, traceparent})
      }

      this.noteError(done.reason)
    }

    onOutcome?.({id: request.id, outcome: done.outcome, at: new Date(atMs), latencyMs: done.latencyMs})
  }

  /** an acknowledgement; only new commits (and sent requests) tell when writes came back */
  acknowledged(atMs: number, issuedAt: number, newCommit: boolean): void {
    this.firstAckAt ??= atMs
    this.lastAckAt = atMs
    if (newCommit) this.recovery.record(atMs, issuedAt)
  }

  /** an audit record that could not be written: counted, and among the recent errors */
  auditFailed(error: unknown): void {
    this.counters.auditErrors++
    this.noteError(`audit: ${(error as Error).message}`)
  }

  completed(): number {
    return this.counters.applied + this.counters.alreadyApplied + this.counters.sent
  }

  /** acknowledged (or sent) per second since the last measurement */
  measureWindow(): void {
    const now = performance.now()
    const done = this.completed()
    this.windowTps = ((done - this.lastProgress.done) * 1000) / Math.max(1, now - this.lastProgress.at)
    this.lastProgress = {at: now, done}
  }

  noteError(reason: string | undefined): void {
    if (!reason) return
    const i = this.recentErrors.indexOf(reason)
    if (i !== -1) this.recentErrors.splice(i, 1)
    this.recentErrors.push(reason)
    if (this.recentErrors.length > 5) this.recentErrors.shift()
  }

  snapshot(): WorkloadStats {
    const {counters, histogram} = this
    const elapsedSeconds = (performance.now() - this.started) / 1000
    return {
      elapsedSeconds: round(elapsedSeconds, 3),
      attempted: counters.attempted,
      acknowledged: counters.applied + counters.alreadyApplied,
      applied: counters.applied,
      alreadyApplied: counters.alreadyApplied,
      sent: counters.sent,
      rejected: counters.rejected,
      failed: counters.failed,
      unknown: counters.unknown,
      unknownResolved: counters.unknownResolved,
      retries: counters.retries,
      inFlight: counters.inFlight,
      auditErrors: counters.auditErrors,
      tps: round(this.windowTps, 1),
      averageTps: round(elapsedSeconds > 0 ? this.completed() / elapsedSeconds : 0, 1),
      latencyMs: {
        p50: round(histogram.percentile(0.5), 2),
        p99: round(histogram.percentile(0.99), 2),
        max: round(histogram.max, 2),
      },
      firstAcknowledgedAt: this.firstAckAt === undefined ? undefined : new Date(this.firstAckAt).toISOString(),
      lastAcknowledgedAt: this.lastAckAt === undefined ? undefined : new Date(this.lastAckAt).toISOString(),
      recentErrors: [...this.recentErrors],
    }
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
