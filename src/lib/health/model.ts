/**
 * The one Raft health model, shared by both worlds. Probes (etcd + Patroni in the
 * local world, CockroachDB through the Kubernetes API in k3d) map what they read
 * into it; status, chaos timelines and reports only ever read this shape.
 */
export type MemberRole = 'follower' | 'leader' | 'learner' | 'unknown'

export interface MemberHealth {
  alive: boolean
  /** free-form, non-secret facts a probe wants to show (e.g. Patroni state, pod restarts) */
  detail?: Record<string, boolean | null | number | string>
  /** which consensus group this member belongs to, e.g. "etcd", "patroni", "cockroachdb" */
  group: string
  /** replication lag in bytes (databases) or raft index behind the leader (etcd); null when unknown */
  lag: null | number
  /** member or node name, e.g. "etcd-us", "cockroachdb-0" */
  name: string
  /** false when the member could not be reached at all (e.g. its API server is gone) */
  reachable: boolean
  region: string
  role: MemberRole
  term: null | number
}

export interface GroupHealth {
  group: string
  leaderRegion: null | string
  members: MemberHealth[]
  quorumHeld: boolean
  term: null | number
  /** CockroachDB ranges_unavailable / ranges_underreplicated; null where the group has no ranges */
  unavailableRanges: null | number
  underReplicatedRanges: null | number
  voters: number
  /** voting members that are alive and reachable, out of all voters */
  votersAlive: number
}

export interface ClusterHealth {
  /** ISO-8601 time the sample was taken */
  at: string
  groups: GroupHealth[]
  /** the region that leads the group that accepts writes (the ledger database) */
  leaderRegion: null | string
  /** every group holds quorum */
  quorumHeld: boolean
  /** regions with no reachable member */
  unreachableRegions: string[]
  /** writes can be acknowledged right now */
  writable: boolean
}

export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1
}

/** Summarises members of one consensus group. */
export function groupHealth(
  group: string,
  members: MemberHealth[],
  ranges: {unavailable?: null | number; underReplicated?: null | number} = {},
  voterFilter: (m: MemberHealth) => boolean = (m) => m.role !== 'learner',
): GroupHealth {
  const voters = members.filter(voterFilter)
  const votersAlive = voters.filter((m) => m.alive && m.reachable).length
  const leader = members.find((m) => m.alive && m.reachable && m.role === 'leader')
  const terms = members.map((m) => m.term).filter((t): t is number => t !== null)
  return {
    group,
    members,
    voters: voters.length,
    votersAlive,
    quorumHeld: voters.length > 0 && votersAlive >= majority(voters.length),
    leaderRegion: leader?.region ?? null,
    term: terms.length > 0 ? Math.max(...terms) : null,
    unavailableRanges: ranges.unavailable ?? null,
    underReplicatedRanges: ranges.underReplicated ?? null,
  }
}

/** Combines group summaries into one cluster sample. writableGroup names the group whose leader takes writes. */
export function clusterHealth(
  groups: GroupHealth[],
  writableGroup: string,
  regions: string[],
  at = new Date(),
): ClusterHealth {
  const writer = groups.find((g) => g.group === writableGroup)
  const reachableRegions = new Set(groups.flatMap((g) => g.members.filter((m) => m.reachable).map((m) => m.region)))
  return {
    at: at.toISOString(),
    groups,
    quorumHeld: groups.length > 0 && groups.every((g) => g.quorumHeld),
    leaderRegion: writer?.leaderRegion ?? null,
    writable: Boolean(writer && writer.quorumHeld && writer.leaderRegion && (writer.unavailableRanges ?? 0) === 0),
    unreachableRegions: regions.filter((r) => !reachableRegions.has(r)),
  }
}
