/**
 * When did writes come back? The first acknowledgement of a transfer *issued*
 * after a given moment (a fault): an acknowledgement that merely arrives after it
 * may have been committed before (its reply was already on the wire), which would
 * make the RTO look like zero. Only new commits count: "already applied" is a
 * read and can be answered while no node takes writes.
 *
 * Memory is bounded: the most recent acknowledgements are kept in a ring, so a
 * waiter that registers slightly late still finds the first one.
 */
export class AcknowledgementTracker {
  private closedWith: Error | undefined
  private count = 0
  private readonly ring: Float64Array
  private readonly waiters = new Set<{after: number; reject: (error: Error) => void; resolve: (at: Date) => void}>()

  constructor(private readonly capacity = 8192) {
    this.ring = new Float64Array(capacity * 2)
  }

  /** no more acknowledgements will come (the workload ended): pending waiters fail with this reason */
  close(reason: Error): void {
    this.closedWith = reason
    for (const waiter of this.waiters) waiter.reject(reason)
  }

  /** a new commit acknowledged at `atMs` of a transfer issued at `issuedAt` (both ms since the epoch) */
  record(atMs: number, issuedAt: number): void {
    const slot = (this.count++ % this.capacity) * 2
    this.ring[slot] = atMs
    this.ring[slot + 1] = issuedAt
    if (this.waiters.size === 0) return
    for (const waiter of this.waiters) if (issuedAt > waiter.after) waiter.resolve(new Date(atMs))
  }

  /** the time of the first acknowledgement of a transfer issued strictly after `after` */
  waitForIssuedAfter(after: Date, options: {signal?: AbortSignal; timeoutMs?: number} = {}): Promise<Date> {
    const t = after.getTime()
    for (let i = Math.max(0, this.count - this.capacity); i < this.count; i++) {
      const slot = (i % this.capacity) * 2
      if (this.ring[slot + 1] > t) return Promise.resolve(new Date(this.ring[slot]))
    }

    if (this.closedWith) return Promise.reject(this.closedWith)
    return new Promise<Date>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const settle = (then: () => void) => {
        this.waiters.delete(waiter)
        if (timer) clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
        then()
      }

      const waiter = {
        after: t,
        resolve: (at: Date) => settle(() => resolve(at)),
        reject: (error: Error) => settle(() => reject(error)),
      }
      const onAbort = () => waiter.reject(options.signal!.reason)
      if (options.signal?.aborted) return onAbort()
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(
          () =>
            waiter.reject(
              new Error(
                `no transfer issued after ${after.toISOString()} was acknowledged within ${options.timeoutMs} ms`,
              ),
            ),
          options.timeoutMs,
        )
      }

      options.signal?.addEventListener('abort', onAbort, {once: true})
      this.waiters.add(waiter)
    })
  }
}
