import type {ClusterHealth} from '../health/model.js'
import type {World} from '../world/types.js'

import {sleep} from '../wait.js'

/** One health sample during chaos, flattened for reports (the full sample is kept too). */
export interface TimelinePoint {
  at: string
  leaderRegion: null | string
  members: number
  membersAlive: number
  quorumHeld: boolean
  raftLeaderRegion: null | string
  raftTerm: null | number
  /** seconds since the fault was injected (negative before it) */
  t: number
  unreachableRegions: string[]
  writable: boolean
}

export function toTimelinePoint(health: ClusterHealth, faultAt: Date | undefined): TimelinePoint {
  const raft = health.groups.find((g) => g.group === 'etcd') ?? health.groups[0]
  const all = health.groups.flatMap((g) => g.members)
  return {
    t: faultAt ? Math.round(Date.parse(health.at) - faultAt.getTime()) / 1000 : 0,
    at: health.at,
    writable: health.writable,
    quorumHeld: health.quorumHeld,
    leaderRegion: health.leaderRegion,
    raftLeaderRegion: raft?.leaderRegion ?? null,
    raftTerm: raft?.term ?? null,
    unreachableRegions: health.unreachableRegions,
    membersAlive: all.filter((m) => m.alive).length,
    members: all.length,
  }
}

/**
 * Samples world.health() every intervalMs into a timeline until stopped. Samples
 * never overlap: a slow sample (a paused member times out) delays the next one.
 */
export class HealthSampler {
  readonly points: TimelinePoint[] = []
  private faultAt: Date | undefined
  private readonly loop: Promise<void>
  private running = true

  constructor(
    private readonly world: World,
    private readonly intervalMs = 250,
  ) {
    this.loop = this.run()
  }

  /** t=0 of the timeline; earlier points are re-based too */
  markFault(at: Date): void {
    this.faultAt = at
    for (const p of this.points) p.t = Math.round(Date.parse(p.at) - at.getTime()) / 1000
  }

  async stop(): Promise<TimelinePoint[]> {
    this.running = false
    await this.loop
    return this.points
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = Date.now()
      try {
        this.points.push(toTimelinePoint(await this.world.health(), this.faultAt))
      } catch {
        // health() does not throw for unreachable members; anything else is skipped, not fatal
      }

      const wait = this.intervalMs - (Date.now() - started)
      if (wait > 0 && this.running) await sleep(wait)
    }
  }
}

/**
 * The health model's view: seconds after the fault until a sample said the database
 * was writable again (null without samples). Sampled every ~250 ms from the members'
 * own health endpoints, it can miss a stall that clients see (commits waiting for a
 * synchronous standby while every member reports healthy): reports show it only
 * beside the clients' figure (writeAvailability).
 */
export function unavailableSeconds(points: TimelinePoint[]): null | number {
  const after = points.filter((p) => p.t >= 0)
  if (after.length === 0) return null
  const firstWritable = after.find((p) => p.writable)
  return firstWritable ? firstWritable.t : after[after.length - 1].t
}

export interface WriteGap {
  /** when it started and ended, seconds since the fault (negative: before it) */
  fromSeconds: number
  /** no write was acknowledged after it until the workload stopped */
  open: boolean
  /** the longest interval without an acknowledged new write around the fault (seconds) */
  seconds: number
  toSeconds: number
}

/**
 * Unavailability as the clients saw it: the longest gap between consecutive
 * acknowledged new writes, among the gaps that end after the fault (the gap the
 * fault falls into starts at the last acknowledgement before it). A gap still open
 * when the workload stopped (endMs) counts up to then. Null when nothing was
 * acknowledged before the end.
 *
 * @param ackTimesMs acknowledgement times (ms since the epoch) of new commits, any order
 */
export function longestWriteGap(ackTimesMs: ArrayLike<number>, faultAtMs: number, endMs: number): null | WriteGap {
  const acks = Float64Array.from(ackTimesMs).sort()
  if (acks.length === 0) return null
  // the last acknowledgement at or before the fault opens the first gap; without one, the fault does
  let i = 0
  while (i < acks.length && acks[i] <= faultAtMs) i++
  let previous = i > 0 ? acks[i - 1] : faultAtMs
  let best = {from: previous, to: previous, open: false}
  for (; i < acks.length; i++) {
    if (acks[i] - previous > best.to - best.from) best = {from: previous, to: acks[i], open: false}
    previous = acks[i]
  }

  if (endMs - previous > best.to - best.from) best = {from: previous, to: endMs, open: true}
  const seconds = (ms: number) => Math.round(ms) / 1000
  return {
    seconds: seconds(best.to - best.from),
    fromSeconds: seconds(best.from - faultAtMs),
    toSeconds: seconds(best.to - faultAtMs),
    open: best.open,
  }
}
