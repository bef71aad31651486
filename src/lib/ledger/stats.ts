/**
 * Latency histogram in constant memory: log-spaced buckets (5% wide) from 10 µs
 * to ~10 minutes. Percentiles are accurate to one bucket.
 */
export class LatencyHistogram {
  private static readonly growth = 1.05
  private static readonly minMs = 0.01
  private readonly counts: Uint32Array
  private maxSeen = 0
  private total = 0

  constructor() {
    this.counts = new Uint32Array(
      Math.ceil(Math.log(60_000_000 / LatencyHistogram.minMs) / Math.log(LatencyHistogram.growth)) + 1,
    )
  }

  get count(): number {
    return this.total
  }

  get max(): number {
    return this.maxSeen
  }

  /** the upper bound of the bucket holding the q-quantile, in ms (0 when empty) */
  percentile(q: number): number {
    if (this.total === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.total))
    let seen = 0
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]
      if (seen >= rank) return Math.min(this.maxSeen, LatencyHistogram.minMs * LatencyHistogram.growth ** i)
    }

    return this.maxSeen
  }

  record(ms: number): void {
    const index =
      ms <= LatencyHistogram.minMs
        ? 0
        : Math.min(
            this.counts.length - 1,
            Math.ceil(Math.log(ms / LatencyHistogram.minMs) / Math.log(LatencyHistogram.growth)),
          )
    this.counts[index]++
    this.total++
    if (ms > this.maxSeen) this.maxSeen = ms
  }
}
