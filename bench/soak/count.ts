/**
 * The soak bench's counting, kept pure so it can be tested: health samples (the health model's
 * ClusterHealth, reduced to what a soak watches) in, changes out; Patroni log text in, events out.
 * In a soak nothing is broken on purpose, so every Patroni leader or timeline change it counts is a
 * spurious failover.
 */
import type {ClusterHealth} from '../../src/lib/health/model.js'

/** one Patroni member as the cluster view lists it */
export interface SoakMember {
  /** Patroni's role: leader, sync_standby, replica, ... (null: not listed, its member key is gone) */
  patroniRole: null | string
  /** Patroni's state: running, streaming, starting, stopped, ... (null: not listed) */
  state: null | string
}

export interface SoakSample {
  at: number
  /** etcd's Raft leader (null: the probe of the leader missed, or there is none) */
  etcdLeader: null | string
  etcdTerm: null | number
  /** Patroni members by region from the freshest cluster view; undefined when no Patroni REST API answered */
  members?: Record<string, SoakMember>
  /** the region whose node is leader and running in that view */
  patroniLeader: null | string
  /** members whose own API (Patroni or etcd) did not answer this probe: e.g. "patroni/us" */
  probeMisses: string[]
  /** Patroni's newest timeline in that view */
  timeline: null | number
}

/**
 * Reduces one health-model sample. The Patroni leader is read from the cluster view (the member listed
 * as leader and running), not from whether its own API answered in time: on a loaded machine a probe
 * can miss a healthy leader, and that is no leader change.
 */
export function soakSample(health: ClusterHealth): SoakSample {
  const etcd = health.groups.find((g) => g.group === 'etcd')
  const patroni = health.groups.find((g) => g.group === 'patroni')
  const viewed = patroni?.members.some((m) => m.alive) ?? false
  const members: Record<string, SoakMember> = {}
  for (const m of patroni?.members ?? []) {
    members[m.region] = {
      patroniRole: typeof m.detail?.patroniRole === 'string' ? m.detail.patroniRole : null,
      state: typeof m.detail?.state === 'string' ? m.detail.state : null,
    }
  }

  const leader = Object.entries(members).find(([, m]) => m.patroniRole === 'leader' && m.state === 'running')
  return {
    at: Date.parse(health.at),
    patroniLeader: viewed ? (leader?.[0] ?? null) : null,
    timeline: viewed ? (patroni?.term ?? null) : null,
    members: viewed ? members : undefined,
    etcdLeader: etcd?.leaderRegion ?? null,
    etcdTerm: etcd?.term ?? null,
    probeMisses: health.groups.flatMap((g) => g.members.filter((m) => !m.alive).map((m) => `${g.group}/${m.region}`)),
  }
}

export type SoakEventKind =
  | 'etcd-leader-change'
  | 'etcd-term-change'
  | 'left-cluster'
  | 'left-sync-set'
  | 'no-patroni-leader'
  | 'patroni-leader-change'
  | 'timeline-change'

export interface SoakEvent {
  at: number
  detail: string
  kind: SoakEventKind
}

export interface SoakCounts {
  etcdLeaderChanges: number
  /** Raft elections, including one that re-elects the same leader */
  etcdTermChanges: number
  /** the first events, in order (at most MAX_EVENTS) */
  events: SoakEvent[]
  /** a member listed running/streaming that next is listed in another state or not at all */
  leftCluster: number
  /** a synchronous standby that next is no longer one (while it is not the leader) */
  leftSyncSet: number
  patroniLeaderChanges: number
  /** samples with a Patroni cluster view but no running leader in it */
  patroniLeaderlessSamples: number
  /** samples where some member's own API did not answer within the probe's timeout */
  probeMissSamples: number
  samples: number
  /** max(patroniLeaderChanges, timelineChanges): with no fault injected, each one is spurious */
  spuriousFailovers: number
  timelineChanges: number
}

export const MAX_EVENTS = 200

const IN_CLUSTER = new Set(['running', 'streaming'])

/**
 * Counts changes across a sequence of samples (fed in order, one phase per counter). A value that
 * is unknown in a sample (null: a probe missed) neither starts nor ends anything: a change is counted
 * between the last known value and the next known one that differs from it.
 */
export class SoakCounter {
  private counts: Omit<SoakCounts, 'spuriousFailovers'> = {
    samples: 0,
    patroniLeaderChanges: 0,
    timelineChanges: 0,
    patroniLeaderlessSamples: 0,
    leftSyncSet: 0,
    leftCluster: 0,
    etcdLeaderChanges: 0,
    etcdTermChanges: 0,
    probeMissSamples: 0,
    events: [],
  }
  private last: {
    etcdLeader?: string
    etcdTerm?: number
    members?: Record<string, SoakMember>
    patroniLeader?: string
    timeline?: number
  } = {}

  add(s: SoakSample): void {
    const c = this.counts
    c.samples++
    if (s.probeMisses.length > 0) c.probeMissSamples++
    const event = (kind: SoakEventKind, detail: string) => {
      if (c.events.length < MAX_EVENTS) c.events.push({at: s.at, kind, detail})
    }

    if (s.members && s.patroniLeader === null) {
      c.patroniLeaderlessSamples++
      event('no-patroni-leader', 'no member listed as leader and running')
    }

    if (s.patroniLeader !== null) {
      if (this.last.patroniLeader !== undefined && s.patroniLeader !== this.last.patroniLeader) {
        c.patroniLeaderChanges++
        event('patroni-leader-change', `${this.last.patroniLeader} -> ${s.patroniLeader}`)
      }

      this.last.patroniLeader = s.patroniLeader
    }

    if (s.timeline !== null) {
      if (this.last.timeline !== undefined && s.timeline !== this.last.timeline) {
        c.timelineChanges++
        event('timeline-change', `${this.last.timeline} -> ${s.timeline}`)
      }

      this.last.timeline = s.timeline
    }

    if (s.members) {
      for (const [region, now] of Object.entries(s.members)) {
        const before = this.last.members?.[region]
        if (!before) continue
        if (
          before.state !== null &&
          IN_CLUSTER.has(before.state) &&
          !(now.state !== null && IN_CLUSTER.has(now.state))
        ) {
          c.leftCluster++
          event('left-cluster', `${region}: ${before.state} -> ${now.state ?? 'not listed'}`)
        }

        if (
          before.patroniRole === 'sync_standby' &&
          now.patroniRole !== 'sync_standby' &&
          now.patroniRole !== 'leader'
        ) {
          c.leftSyncSet++
          event('left-sync-set', `${region}: sync_standby -> ${now.patroniRole ?? 'not listed'}`)
        }
      }

      this.last.members = s.members
    }

    if (s.etcdLeader !== null) {
      if (this.last.etcdLeader !== undefined && s.etcdLeader !== this.last.etcdLeader) {
        c.etcdLeaderChanges++
        event('etcd-leader-change', `${this.last.etcdLeader} -> ${s.etcdLeader}`)
      }

      this.last.etcdLeader = s.etcdLeader
    }

    if (s.etcdTerm !== null) {
      // the term is the highest any answering member reports: a lagging member cannot lower it
      if (this.last.etcdTerm !== undefined && s.etcdTerm > this.last.etcdTerm) {
        c.etcdTermChanges++
        event('etcd-term-change', `${this.last.etcdTerm} -> ${s.etcdTerm}`)
      }

      this.last.etcdTerm = Math.max(s.etcdTerm, this.last.etcdTerm ?? s.etcdTerm)
    }
  }

  result(): SoakCounts {
    const c = this.counts
    return {...c, events: [...c.events], spuriousFailovers: Math.max(c.patroniLeaderChanges, c.timelineChanges)}
  }
}

export type PatroniLogEventKind = 'demoted' | 'failover' | 'leader-lock-lost' | 'loop-time-exceeded' | 'promoted'

/** Lines of a Patroni log that mark a failover or the way to one (Patroni 3.0's wording). */
export const PATRONI_LOG_EVENTS: Array<[PatroniLogEventKind, RegExp]> = [
  ['demoted', /demot/i],
  ['promoted', /promoted self to leader|acquired session lock as a leader/i],
  ['failover', /failover/i],
  ['leader-lock-lost', /failed to update leader lock|lost leader|Lock owner: None\b/i],
  // not a failover: the HA loop ran late (a loaded machine); many in a row put the leader lease at risk
  ['loop-time-exceeded', /Loop time exceeded/],
]

export interface PatroniLogScan {
  /** matching lines per kind */
  counts: Record<PatroniLogEventKind, number>
  /** the first matching lines, as written (at most MAX_EVENTS) */
  lines: string[]
  /** non-empty lines read */
  linesScanned: number
  /** "Lock owner: X; I am Y" naming another X than the line before (None counts as no owner, not a change) */
  lockOwnerChanges: number
  /** "Lock owner" lines read (Patroni writes them around a change of the leader key) */
  lockOwnerLines: number
}

const LOCK_OWNER = /Lock owner: (\S+?);/

/**
 * Scans what one Patroni log gained during a phase (`during`); `before` is the log up to the phase's
 * start, read only for the lock owner it last named, so that a change right at the start counts.
 */
export function scanPatroniLog(before: string, during: string): PatroniLogScan {
  const counts = Object.fromEntries(PATRONI_LOG_EVENTS.map(([k]) => [k, 0])) as Record<PatroniLogEventKind, number>
  const lines: string[] = []
  let owner: string | undefined
  for (const line of before.split('\n')) {
    const m = LOCK_OWNER.exec(line)
    if (m && m[1] !== 'None') owner = m[1]
  }

  let lockOwnerChanges = 0
  let lockOwnerLines = 0
  let linesScanned = 0
  for (const line of during.split('\n')) {
    if (line.trim() === '') continue
    linesScanned++
    const m = LOCK_OWNER.exec(line)
    if (m) lockOwnerLines++
    if (m && m[1] !== 'None') {
      if (owner !== undefined && m[1] !== owner) lockOwnerChanges++
      owner = m[1]
    }

    let matched = false
    for (const [kind, pattern] of PATRONI_LOG_EVENTS) {
      if (pattern.test(line)) {
        counts[kind]++
        matched = true
      }
    }

    if (matched && lines.length < MAX_EVENTS) lines.push(line)
  }

  return {counts, lines, lockOwnerChanges, lockOwnerLines, linesScanned}
}
