import type {TransferOutcome} from '../ledger/transfer.js'

/** What the picture and the live line count per second: the client's view of each finished transfer. */
export type OutcomeKind = 'acknowledged' | 'errors' | 'unknown'
export const OUTCOME_KINDS: readonly OutcomeKind[] = ['acknowledged', 'errors', 'unknown']

/**
 * Finished transfers per bin of time, bins aligned on the fault (bin k covers
 * [startSeconds + k * binSeconds, startSeconds + (k + 1) * binSeconds) seconds
 * since the fault). Counts, not rates: the first and last bins are partial when
 * the workload started or stopped inside them. Each series sums to the run's
 * total of that kind (acknowledged: applied + already applied; errors: failed or
 * rejected; unknown: outcome unknown when the transfer returned).
 */
export interface OutcomeSeries {
  acknowledged: number[]
  binSeconds: number
  errors: number[]
  startSeconds: number
  unknown: number[]
}

export function outcomeKind(outcome: 'sent' | TransferOutcome): OutcomeKind {
  if (outcome === 'applied' || outcome === 'already_applied' || outcome === 'sent') return 'acknowledged'
  if (outcome === 'unknown') return 'unknown'
  return 'errors'
}

/**
 * Collects the time of every finished transfer (the workload's onOutcome), for
 * the per-second series of the report and the live rate while a fault is held.
 */
export class OutcomeRecorder {
  private readonly times: Record<OutcomeKind, number[]> = {acknowledged: [], errors: [], unknown: []}

  count(kind: OutcomeKind, sinceMs = -Infinity): number {
    let n = 0
    for (const t of this.times[kind]) if (t >= sinceMs) n++
    return n
  }

  /** per second over (nowMs - windowMs, nowMs] */
  rate(kind: OutcomeKind, nowMs: number, windowMs: number): number {
    const list = this.times[kind]
    let n = 0
    // outcomes arrive in about the order they happened: scan back a little past the window
    for (let i = list.length - 1; i >= 0 && list[i] > nowMs - windowMs - 5000; i--)
      if (list[i] > nowMs - windowMs && list[i] <= nowMs) n++
    return (n * 1000) / windowMs
  }

  record(outcome: 'sent' | TransferOutcome, atMs: number): void {
    this.times[outcomeKind(outcome)].push(atMs)
  }

  /** the series from the first to the last recorded outcome (and up to endMs), bins aligned on faultAtMs */
  series(faultAtMs: number, options: {binSeconds?: number; endMs?: number} = {}): null | OutcomeSeries {
    return binOutcomes(this.times, faultAtMs, options)
  }
}

export function binOutcomes(
  times: Record<OutcomeKind, ArrayLike<number>>,
  faultAtMs: number,
  options: {binSeconds?: number; endMs?: number} = {},
): null | OutcomeSeries {
  const binMs = (options.binSeconds ?? 1) * 1000
  let first = Infinity
  let last = -Infinity
  for (const kind of OUTCOME_KINDS) {
    for (const t of Array.from(times[kind])) {
      if (t < first) first = t
      if (t > last) last = t
    }
  }

  if (first === Infinity) return null
  if (options.endMs !== undefined && options.endMs > last) last = options.endMs
  const firstBin = Math.floor((first - faultAtMs) / binMs)
  const bins = Math.floor((last - faultAtMs) / binMs) - firstBin + 1
  const out: OutcomeSeries = {
    binSeconds: binMs / 1000,
    startSeconds: (firstBin * binMs) / 1000,
    acknowledged: [],
    errors: [],
    unknown: [],
  }
  for (const kind of OUTCOME_KINDS) {
    const counts = Array.from({length: bins}, () => 0)
    for (const t of Array.from(times[kind])) counts[Math.floor((t - faultAtMs) / binMs) - firstBin]++
    out[kind] = counts
  }

  return out
}
