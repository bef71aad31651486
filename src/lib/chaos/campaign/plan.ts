import type {Region} from '../../config/schema.js'
import type {FaultComponent, FaultMode, PartitionKind, TargetComponent} from '../../world/types.js'

import {UsageError} from '../../errors.js'
import {assessFaults, type SurvivabilityAssessment} from '../../health/quorum.js'

/**
 * Campaigns: many blast-radius rounds from one seed, under one transfer workload.
 * The schedule is a pure function of (seed, rounds, fault kinds, targets), so a seed
 * names a campaign: the same arguments give the same rounds in the same order (the
 * etcd leader, a target that moves, is found when its round runs, and recorded).
 *
 * Fault kinds are a table: a new kind (a network partition) is one more entry,
 * checked by the world (injectFault's dry run) before any round starts.
 */
export interface CampaignFaultKind {
  mode: FaultMode
  name: string
  /** mode partition: its shape */
  partition?: PartitionKind
  summary: string
}

export const CAMPAIGN_FAULT_KINDS: Record<string, CampaignFaultKind> = {
  kill: {name: 'kill', mode: 'kill', summary: 'SIGKILL, then restart with the same configuration'},
  stop: {name: 'stop', mode: 'stop', summary: 'SIGSTOP, then SIGCONT'},
  partition: {
    name: 'partition',
    mode: 'partition',
    partition: 'isolate',
    summary: 'cut the whole region off from the others (nftables; needs CAP_NET_ADMIN)',
  },
  'partition-one-way-in': {
    name: 'partition-one-way-in',
    mode: 'partition',
    partition: 'one-way-in',
    summary: 'nothing reaches the region; it still sends (nftables; needs CAP_NET_ADMIN)',
  },
  'partition-one-way-out': {
    name: 'partition-one-way-out',
    mode: 'partition',
    partition: 'one-way-out',
    summary: "the region's packets are dropped; it still receives (nftables; needs CAP_NET_ADMIN)",
  },
  'partition-bridge': {
    name: 'partition-bridge',
    mode: 'partition',
    partition: 'bridge',
    summary:
      'the region and the other data regions cannot see each other, all still see the witness; data regions only (nftables; needs CAP_NET_ADMIN)',
  },
}

/** Without --faults: the kinds that need no privilege. */
export const DEFAULT_FAULT_KINDS = ['kill', 'stop']

/**
 * What a round may break: a region's part (component 'region': all of it), or the etcd
 * leader (region null: whichever region's member leads the Raft group when the round runs).
 */
export interface CampaignTarget {
  component: TargetComponent
  region: null | string
}

/** What a round did break: the etcd leader resolved to its region's etcd member. */
export interface ResolvedTarget {
  component: FaultComponent
  region: string
}

export const ETCD_LEADER = 'etcd-leader'

export interface CampaignRound {
  /** 1-based */
  index: number
  /** whether the round's regions keep a Raft majority */
  keepsQuorum: boolean
  kind: string
  mode: FaultMode
  /** mode partition: its shape */
  partition?: PartitionKind
  /** one target, or two in different regions (a double fault: different parts that keep quorum, or with --force the same part, which may lose it) */
  targets: CampaignTarget[]
}

const COMPONENTS: FaultComponent[] = ['region', 'etcd', 'patroni', 'postgres']

/** "us" (the whole region), "us:postgres" (one of its components), or "etcd-leader" (the etcd member leading when the round runs). */
export function parseTargets(specs: string[], regions: Region[]): CampaignTarget[] {
  const targets: CampaignTarget[] = []
  for (const spec of specs
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (spec === ETCD_LEADER) {
      if (!targets.some((t) => t.component === ETCD_LEADER)) targets.push({region: null, component: ETCD_LEADER})
      continue
    }

    const [region, component = 'region'] = spec.split(':')
    if (component === ETCD_LEADER)
      throw new UsageError(
        `--targets ${spec}: the etcd leader's region is found when each round runs, so it takes none`,
        {hint: `--targets ${ETCD_LEADER}`},
      )
    if (!regions.some((r) => r.name === region))
      throw new UsageError(`unknown region "${region}" in --targets ${spec}`, {
        hint: `regions: ${regions.map((r) => r.name).join(', ')}`,
      })
    if (!COMPONENTS.includes(component as FaultComponent))
      throw new UsageError(`unknown component "${component}" in --targets ${spec}`, {
        hint: `components: ${COMPONENTS.join(', ')}`,
      })
    if (!targets.some((t) => t.region === region && t.component === component))
      targets.push({region, component: component as FaultComponent})
  }

  return targets.length > 0 ? targets : regions.map((r) => ({region: r.name, component: 'region' as const}))
}

export function parseFaultKinds(list: string[]): CampaignFaultKind[] {
  const names = [
    ...new Set(
      list
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ]
  if (names.length === 0) return DEFAULT_FAULT_KINDS.map((name) => CAMPAIGN_FAULT_KINDS[name])
  return names.map((name) => {
    const kind = CAMPAIGN_FAULT_KINDS[name]
    if (!kind)
      throw new UsageError(`unknown fault kind "${name}" in --faults`, {
        hint: `kinds: ${Object.keys(CAMPAIGN_FAULT_KINDS).join(', ')}`,
      })
    return kind
  })
}

/** A seed from text: a number is itself, anything else is hashed (FNV-1a), so `--seed nightly` works too. */
export function seedValue(seed: number | string): number {
  if (typeof seed === 'number' || /^\d+$/.test(seed)) return Number(seed) >>> 0
  let h = 0x81_1c_9d_c5
  for (const c of seed) h = Math.imul(h ^ c.charCodeAt(0), 0x01_00_01_93) >>> 0
  return h
}

/** mulberry32: a small, well-mixed 32-bit generator; the same seed, the same sequence, on every platform. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d_2b_79_f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * Whether a round's targets keep quorum. The etcd leader is one etcd member (every region's
 * member is one voter, so any stands for it); a bridge cuts data regions from each other only,
 * every one still seeing the witness, so all keep a majority.
 */
export function assessTargets(
  regions: Region[],
  targets: CampaignTarget[],
  partition?: PartitionKind,
): SurvivabilityAssessment {
  if (partition === 'bridge') return assessFaults(regions, [])
  return assessFaults(
    regions,
    targets.map((t) =>
      t.component === ETCD_LEADER || t.region === null
        ? {region: regions[0].name, component: 'etcd' as const}
        : {region: t.region, component: t.component},
    ),
  )
}

/** The parts of a target a double fault may pair: a whole-region target allows any of its components (the witness has only an etcd member); the etcd leader (which may move into the other part's region) none. */
function partsOf(target: CampaignTarget, regions: Region[]): ResolvedTarget[] {
  const {region} = target
  if (region === null || target.component === ETCD_LEADER) return []
  if (target.component !== 'region') return [{region, component: target.component}]
  const witness = regions.find((r) => r.name === region)?.role === 'witness'
  return (witness ? (['etcd'] as const) : (['etcd', 'patroni', 'postgres'] as const)).map((component) => ({
    region,
    component,
  }))
}

/**
 * Double faults that keep quorum: two parts in two regions, among the targets' parts,
 * that leave an etcd majority and a data region able to lead (assessFaults), e.g. us's
 * Patroni killed while eu's etcd member is stopped. Whole regions never pair this way
 * (two of three voters), nor two data regions' databases (no one left to lead).
 */
export function quorumKeepingPairs(targets: CampaignTarget[], regions: Region[]): ResolvedTarget[][] {
  const parts: ResolvedTarget[] = []
  for (const p of targets.flatMap((t) => partsOf(t, regions)))
    if (!parts.some((x) => x.region === p.region && x.component === p.component)) parts.push(p)
  const pairs: ResolvedTarget[][] = []
  for (const [i, a] of parts.entries())
    for (const b of parts.slice(i + 1))
      if (a.region !== b.region && assessFaults(regions, [a, b]).survives) pairs.push([a, b])
  return pairs
}

/** One round in five that could be a double fault keeping quorum is one. */
const QUORUM_KEEPING_DOUBLE_SHARE = 0.2

/**
 * The rounds of a campaign. Each round: a fault kind and a target, drawn from the
 * seed; one round in five, when the targets allow it, is a double fault that keeps
 * quorum (quorumKeepingPairs, drawn from a second stream of the seed so the first
 * stream's kinds and targets stay put); with `force`, one round in four (when two
 * regions are targets) is a double fault of the same part in two regions, which may
 * lose quorum. A round that would lose quorum is drawn only with force. A partition
 * round cuts one whole region (a bridge: one data region) drawn among the targets.
 */
export function planCampaign(options: {
  force?: boolean
  kinds: CampaignFaultKind[]
  regions: Region[]
  rounds: number
  seed: number
  targets: CampaignTarget[]
}): CampaignRound[] {
  if (!options.force) {
    const alone = options.targets.find((t) => !assessTargets(options.regions, [t]).survives)
    if (alone)
      throw new UsageError(`breaking ${describeTarget(alone)} alone loses quorum; pass --force to break it anyway`)
  }

  // a partition cuts a whole region's network (the local world cannot cut one component's): it draws among whole-region targets
  const wholeRegions = options.targets.filter((t) => t.component === 'region')
  const partitionKind = options.kinds.find((k) => k.mode === 'partition')
  if (wholeRegions.length === 0 && partitionKind) {
    throw new UsageError(`--faults ${partitionKind.name} cuts whole regions, and --targets names none`, {
      hint: `add a whole region to --targets (us, not us:etcd), or drop ${partitionKind.name} from --faults`,
    })
  }

  // a bridge cuts a data region from the other data regions (the witness has no side to take)
  const dataRegions = wholeRegions.filter((t) => options.regions.find((r) => r.name === t.region)?.role !== 'witness')
  const bridge = options.kinds.find((k) => k.partition === 'bridge')
  if (bridge && dataRegions.length === 0) {
    throw new UsageError(
      `--faults ${bridge.name} cuts a data region from the other data regions, and --targets names no whole data region`,
      {
        hint: `add one to --targets (${options.regions
          .filter((r) => r.role !== 'witness')
          .map((r) => r.name)
          .join(' or ')}), or drop ${bridge.name} from --faults`,
      },
    )
  }

  const random = seededRandom(options.seed)
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]
  const pairs = quorumKeepingPairs(options.targets, options.regions)
  const doubles = seededRandom((options.seed ^ 0x5b_d1_e9_95) >>> 0)
  const rounds: CampaignRound[] = []
  for (let index = 1; index <= options.rounds; index++) {
    const kind = pick(options.kinds)
    if (kind.mode === 'partition') {
      // one region cut off per round: a partition of two would leave no majority side to compare against
      const target = pick(kind.partition === 'bridge' ? dataRegions : wholeRegions)
      rounds.push({
        index,
        kind: kind.name,
        mode: kind.mode,
        partition: kind.partition,
        targets: [target],
        keepsQuorum: assessTargets(options.regions, [target], kind.partition).survives,
      })
      continue
    }

    const first = pick(options.targets)
    const targets: CampaignTarget[] = [first]
    // a double fault breaks the same component in a second region (one blast-radius round, one component); not the etcd leader, which has no region to pair
    const others = [
      ...new Set(options.targets.filter((t) => t.region !== null && t.region !== first.region).map((t) => t.region!)),
    ]
    if (options.force && first.region !== null && others.length > 0 && random() < 0.25)
      targets.push({region: pick(others), component: first.component})
    const roll = doubles()
    if (targets.length === 1 && pairs.length > 0 && roll < QUORUM_KEEPING_DOUBLE_SHARE)
      targets.splice(0, 1, ...pairs[Math.floor(doubles() * pairs.length)])
    rounds.push({
      index,
      kind: kind.name,
      mode: kind.mode,
      targets,
      keepsQuorum: assessTargets(options.regions, targets).survives,
    })
  }

  return rounds
}

export function describeTarget(t: CampaignTarget): string {
  return t.region === null ? ETCD_LEADER : t.component === 'region' ? t.region : `${t.region}:${t.component}`
}

/** "kill us:patroni + eu:etcd"; a round that ran the etcd leader says where it was: "kill etcd-leader (eu)" */
export function describeRound(
  round: Pick<CampaignRound, 'kind' | 'targets'> & {resolvedTargets?: ResolvedTarget[]},
): string {
  return `${round.kind} ${round.targets.map((t, i) => (t.region === null && round.resolvedTargets?.[i] ? `${describeTarget(t)} (${round.resolvedTargets[i].region})` : describeTarget(t))).join(' + ')}`
}
