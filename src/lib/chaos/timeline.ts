import type {ClusterHealth} from '../health/model.js'
import {sleep} from '../proc/ports.js'
import type {World} from '../world/types.js'

/** One health sample during chaos, flattened for reports (the full sample is kept too). */
export interface TimelinePoint {
  /** seconds since the fault was injected (negative before it) */
  t: number
  at: string
  writable: boolean
  quorumHeld: boolean
  leaderRegion: string | null
  raftLeaderRegion: string | null
  raftTerm: number | null
  unreachableRegions: string[]
  membersAlive: number
  members: number
}

export function toTimelinePoint(health: ClusterHealth, faultAt: Date | undefined): TimelinePoint {
  const raft = health.groups.find((g) => g.group === 'etcd') ?? health.groups[0]
  const all = health.groups.flatMap((g) => g.members)
  return {
    t: faultAt ? Math.round((Date.parse(health.at) - faultAt.getTime())) / 1000 : 0,
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
  private running = true
  private readonly loop: Promise<void>

  constructor(private readonly world: World, private readonly intervalMs = 250) {
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

/** Seconds after the fault during which the database was not writable, from the timeline (null without samples). */
export function unavailableSeconds(points: TimelinePoint[]): number | null {
  const after = points.filter((p) => p.t >= 0)
  if (after.length === 0) return null
  const firstWritable = after.find((p) => p.writable)
  return firstWritable ? firstWritable.t : after[after.length - 1].t
}
