import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {Region} from '../config/schema.js'
import type {VerifyResult} from '../ledger/verify.js'
import type {WorkloadResult, WorkloadStats} from '../ledger/workload.js'
import type {AlertEvent} from '../monitoring/types.js'
import type {
  FaultComponent,
  FaultMode,
  PartitionKind,
  ProgressReporter,
  TargetComponent,
  World,
} from '../world/types.js'

import {PreconditionError, UsageError} from '../errors.js'
import {assessFaults, type SurvivabilityAssessment} from '../health/quorum.js'
import {formatFiredAlerts} from '../monitoring/chaos.js'
import {runStep, silentProgress} from '../progress.js'
import {redact, redactObject} from '../redact.js'
import {blastRadius, type BlastResult, CHECK_CONVERGED, convergedWorld, verifyWorld} from './blast.js'
import {type ChaosWorkload, startChaosWorkload} from './workload.js'

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

export interface CampaignRoundResult {
  /** acknowledged in the round's window (its start to convergence) */
  acknowledged: number
  /** acknowledged while its fault held */
  acknowledgedDuringFault: number
  /** the alerts of the round's report (fired and resolved, relative to its fault); absent without monitoring */
  alerts?: AlertEvent[]
  failover: boolean
  faultInjectedAt: string
  index: number
  keepsQuorum: boolean
  kind: string
  lost: number
  /** what the round broke: the etcd leader resolved to the region whose member led at fault time */
  resolvedTargets: ResolvedTarget[]
  rtoSeconds: null | number
  runDir: string
  /** as planned */
  targets: CampaignTarget[]
  unknown: number
  /** the round's own check: every transfer acknowledged in its window present after convergence */
  verified: boolean
  violations: Record<string, number>
}

export interface CampaignResult {
  id: string
  interrupted: boolean
  kind: 'chaos'
  plan: CampaignRound[]
  report: {html: string; json: string; markdown: string; picture: string}
  rounds: CampaignRoundResult[]
  rto: {max: null | number; median: null | number; min: null | number; p95: null | number}
  seed: number
  /** over the whole run: the workload's counters, and what the verify of its run log found */
  totals: {acknowledged: number; lost: number; rounds: number; unknown: number; violations: number}
  /** every round ran and passed its check, and the run log verified with nothing lost */
  verified: boolean
  /** the ledger verified against the campaign's run log once the workload stopped; absent when the campaign was cut short */
  verify?: {
    checks: VerifyResult['checks']
    ok: boolean
    summary: VerifyResult['summary']
    violationCounts: Record<string, number>
  }
  /** the one workload every round ran under: started before the first round, stopped after the last */
  workload: {
    endedAt: null | string
    pid: number
    runDir: string
    runLog: string
    startedAt: string
    stats: null | WorkloadStats
  }
}

/** Violations of one round; verify leaves a kind it found none of as undefined (in memory; JSON drops it), which counts 0, not NaN. */
export function countViolations(violations: Record<string, number | undefined>): number {
  return Object.values(violations).reduce((a: number, b) => a + (b ?? 0), 0)
}

/** Nearest-rank percentiles of the RTOs that were measured. */
export function rtoSummary(values: Array<null | number>): CampaignResult['rto'] {
  const xs = values.filter((v): v is number => v !== null).sort((a, b) => a - b)
  if (xs.length === 0) return {min: null, median: null, p95: null, max: null}
  const rank = (p: number) => xs[Math.min(xs.length - 1, Math.max(0, Math.ceil(p * xs.length) - 1))]
  return {min: xs[0], median: rank(0.5), p95: rank(0.95), max: xs[xs.length - 1]}
}

/**
 * Runs the rounds one after the other under one transfer workload (its run log in
 * <runsDir>/<id>): started once the world is up and converged, kept running through every
 * round's fault, restore and convergence, stopped after the last round; then the ledger is
 * verified against that run log. Each round is a blast-radius round watching the workload
 * (its own RTO, fault window, alerts, picture and report in <runsDir>/<id>-round-NN, so
 * `atlas runs` finds them, and a lookup of the transfers acknowledged in it); then one
 * summary in <runsDir>/<id>. Stops at the first round that throws (a failed restore),
 * after writing what it has.
 */
export async function runCampaign(
  world: World,
  options: {
    concurrency?: number
    durationMs: number
    force?: boolean
    id: string
    plan: CampaignRound[]
    progress?: ProgressReporter
    seed: number
    signal?: AbortSignal
  },
): Promise<CampaignResult> {
  const progress = options.progress ?? silentProgress
  const {signal} = options
  const runsDir = world.runsDir()
  const dir = path.join(runsDir, options.id)
  // a kind the world cannot do fails before the workload starts (a partition without
  // CAP_NET_ADMIN: exit 3 here); each distinct fault once, the etcd leader's in every region
  const checks = new Map<
    string,
    {component: FaultComponent; mode: FaultMode; partition?: PartitionKind; region: string}
  >()
  for (const round of options.plan) {
    for (const t of round.targets) {
      const component = t.component === ETCD_LEADER ? 'etcd' : t.component
      for (const region of t.region === null ? world.regions.map((r) => r.name) : [t.region])
        checks.set(`${region} ${round.mode} ${component} ${round.partition}`, {
          region,
          mode: round.mode,
          component,
          partition: round.partition,
        })
    }
  }

  for (const c of checks.values())
    await world.injectFault(c.region, c.mode, {dryRun: true, component: c.component, partition: c.partition})

  const before = await runStep(
    progress,
    CHECK_CONVERGED,
    async () => {
      const health = await convergedWorld(world, signal)
      if (
        options.plan.some((r) => r.targets.some((t) => t.component === ETCD_LEADER)) &&
        !health.groups.some((g) => g.group === 'etcd')
      ) {
        throw new PreconditionError(
          `the ${world.driver} world has no etcd group: --targets ${ETCD_LEADER} is for the local world`,
          {code: 'ETCD_LEADER_UNKNOWN'},
        )
      }

      await mkdir(dir, {recursive: true})
      return health
    },
    (health) => `database leader ${health.leaderRegion}`,
  )

  let done = progress.step('start the transfer workload, for every round')
  let workload: ChaosWorkload
  try {
    workload = await startChaosWorkload(world, {
      runDir: dir,
      concurrency: options.concurrency ?? 4,
      leaderRegion: before.leaderRegion,
      progress,
    })
    done({note: `run log ${workload.handle.runLog}`})
  } catch (error) {
    done({error: error as Error})
    throw error
  }

  const results: CampaignRoundResult[] = []
  const reports: BlastResult[] = []
  let interrupted = false
  let failure: unknown
  for (const round of options.plan) {
    if (signal?.aborted) {
      interrupted = true
      break
    }

    progress.info(`round ${round.index}/${options.plan.length}: ${describeRound(round)}`)
    const runDir = path.join(runsDir, `${options.id}-round-${String(round.index).padStart(2, '0')}`)
    let r: BlastResult
    try {
      const leader = round.targets.length === 1 && round.targets[0].component === ETCD_LEADER
      // a double fault may break a different part in each region; the etcd leader is found by the round
      r = await blastRadius(world, {
        ...(leader
          ? {regions: [], component: ETCD_LEADER}
          : {
              regions: round.targets.map((t) => t.region!),
              components: Object.fromEntries(round.targets.map((t) => [t.region!, t.component as FaultComponent])),
            }),
        mode: round.mode,
        partition: round.partition,
        durationMs: options.durationMs,
        force: options.force,
        runDir,
        progress,
        signal,
        sharedWorkload: workload,
        upload: false,
      })
    } catch (error) {
      if (signal?.aborted) interrupted = true
      else failure = error
      break
    }

    reports.push(r)
    results.push({
      index: round.index,
      kind: round.kind,
      targets: round.targets,
      resolvedTargets: r.regions.map((region) => ({region, component: r.components?.[region] ?? r.component})),
      keepsQuorum: round.keepsQuorum,
      runDir,
      faultInjectedAt: r.faultInjectedAt,
      verified: r.verified,
      rtoSeconds: r.rtoSeconds,
      acknowledged: r.acknowledged,
      acknowledgedDuringFault: r.acknowledgedDuringFault ?? 0,
      unknown: r.unknown,
      lost: r.lost,
      violations: r.violations,
      failover: r.failover,
      ...(r.alerts ? {alerts: r.alerts} : {}),
    })
    if (r.interrupted) {
      interrupted = true
      break
    }
  }

  done = progress.step('stop the workload (after the last round)')
  let workloadResult: undefined | WorkloadResult
  try {
    workloadResult = await workload.stop()
    done({
      note: `${workloadResult.stats.acknowledged} acknowledged, ${workloadResult.stats.unknown} unknown outcome (${workloadResult.stats.unknownResolved} settled since)`,
    })
  } catch (error) {
    failure ??= error
    done({error: error as Error})
  }

  let verify: undefined | VerifyResult
  if (!interrupted && !failure) {
    done = progress.step(
      "verify the ledger against the campaign's run log (conservation, replay, durability, phantoms)",
    )
    try {
      verify = await verifyWorld(world, [dir], reports.at(-1)?.leaderAfterRestore ?? before.leaderRegion, false, signal)
      done({note: verify.ok ? 'all invariants hold' : `${verify.violations.length} violation(s)`})
    } catch (error) {
      if (signal?.aborted) interrupted = true
      else failure = error
      done({error: error as Error})
    }
  }

  const sum = (f: (r: CampaignRoundResult) => number) => results.reduce((a, r) => a + f(r), 0)
  // each round looked up its own window's transfers; the run log's verify looks up all of them
  const lost = Math.max(
    verify?.violationCounts.lost ?? 0,
    sum((r) => r.lost),
  )
  const result: CampaignResult = {
    kind: 'chaos',
    id: options.id,
    seed: options.seed,
    rounds: results,
    plan: options.plan,
    totals: {
      rounds: results.length,
      acknowledged: workloadResult?.stats.acknowledged ?? sum((r) => r.acknowledged),
      lost,
      unknown: workloadResult?.stats.unknown ?? sum((r) => r.unknown),
      violations: verify
        ? Math.max(countViolations(verify.violationCounts), lost)
        : sum((r) => countViolations(r.violations)),
    },
    rto: rtoSummary(results.map((r) => r.rtoSeconds)),
    workload: {
      runDir: dir,
      runLog: workload.handle.runLog,
      pid: workload.pid,
      startedAt: workload.startedAt.toISOString(),
      endedAt: workloadResult?.endedAt ?? null,
      stats: workloadResult?.stats ?? null,
    },
    ...(verify
      ? {
          verify: {
            ok: verify.ok,
            checks: verify.checks,
            summary: verify.summary,
            violationCounts: {...verify.violationCounts} as Record<string, number>,
          },
        }
      : {}),
    verified:
      !interrupted &&
      !failure &&
      results.length === options.plan.length &&
      results.every((r) => r.verified && r.lost === 0) &&
      Boolean(verify?.ok) &&
      lost === 0,
    interrupted,
    report: {
      json: path.join(dir, 'report.json'),
      markdown: path.join(dir, 'report.md'),
      picture: path.join(dir, 'report.svg'),
      html: path.join(dir, 'report.html'),
    },
  }
  await writeFile(result.report.json, `${JSON.stringify(redactObject(result), null, 2)}\n`)
  await writeFile(result.report.markdown, redact(formatCampaignReport(result)))
  const {blastPicture} = await import('../report/blast.js')
  const {campaignChart, writeCampaignPicture} = await import('../report/picture.js')
  const chart = campaignChart(
    `Chaos campaign ${result.id} (seed ${result.seed}): ${verdict(result)}`,
    `${result.totals.rounds} of ${result.plan.length} rounds under one workload; ${result.totals.acknowledged} acknowledged, ${result.totals.lost} lost, ${result.totals.unknown} unknown outcome; RTO median ${fmt(result.rto.median)} s, max ${fmt(result.rto.max)} s`,
    reports.map((r, i) => ({
      label: describeRound(results[i]),
      faultInjectedAt: r.faultInjectedAt,
      input: blastPicture(r),
    })),
    world.regions.map((r) => r.name),
  )
  await writeCampaignPicture(chart, {svg: result.report.picture, html: result.report.html}, [
    {href: 'report.md', label: 'report.md'},
    {href: 'report.json', label: 'report.json'},
  ])
  if (failure) throw failure
  return result
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

const fmt = (n: null | number) => (n === null ? '–' : n.toFixed(2))
const verdict = (r: CampaignResult) => (r.verified ? 'PASS' : r.interrupted ? 'INTERRUPTED' : 'FAIL')

export function formatCampaignReport(r: CampaignResult): string {
  const lines = [`# Chaos campaign ${r.id} (seed ${r.seed})`, '']
  lines.push(
    `![Every round over time: transfers per second, leaders, fault windows, RTOs](report.svg)`,
    '',
    'The picture: [report.svg](report.svg), or as a page: [report.html](report.html).',
    '',
  )
  lines.push(
    `Verdict: **${verdict(r)}**: ${r.totals.rounds} of ${r.plan.length} rounds, ${r.totals.acknowledged} acknowledged transfers, ${r.totals.lost} lost, ${r.totals.unknown} with unknown outcome.`,
    '',
    `One workload ran through every round: started ${r.workload.startedAt} (pid ${r.workload.pid}), stopped ${r.workload.endedAt ?? 'never'}; run log \`${r.workload.runLog}\`. Each round's figures are its window of it (round start to convergence).`,
    '',
  )
  if (r.verify) {
    lines.push(
      'The ledger, verified against that run log after the workload stopped:',
      '',
      '| check | result | checked | violations |',
      '| --- | --- | --- | --- |',
    )
    for (const c of r.verify.checks)
      lines.push(
        `| ${c.name} | ${c.skipped ? `skipped (${c.skipped})` : c.ok ? 'ok' : 'FAIL'} | ${c.checked ?? ''} | ${c.violations} |`,
      )
    lines.push('')
  } else {
    lines.push('The run log was not verified: the campaign was cut short (`atlas verify` checks it).', '')
  }

  lines.push(
    `RTO (s): min ${fmt(r.rto.min)}, median ${fmt(r.rto.median)}, p95 ${fmt(r.rto.p95)}, max ${fmt(r.rto.max)}.`,
    '',
    `The same schedule again: \`atlas chaos --rounds ${r.plan.length} --seed ${r.seed}\` with the same --faults and --targets.`,
    '',
    '| round | fault | keeps quorum | RTO (s) | failover | acknowledged (during the fault) | unknown | lost | round check | alerts fired (s after the fault) | report |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  )
  const alerts = (x: CampaignRoundResult) =>
    x.alerts === undefined ? 'not recorded (no monitoring)' : (formatFiredAlerts(x.alerts) ?? 'none')
  for (const x of r.rounds)
    lines.push(
      `| ${x.index} | ${describeRound(x)} | ${x.keepsQuorum ? 'yes' : 'NO (forced)'} | ${fmt(x.rtoSeconds)} | ${x.failover ? 'yes' : 'no'} | ${x.acknowledged} (${x.acknowledgedDuringFault}) | ${x.unknown} | ${x.lost} | ${x.verified ? 'ok' : 'NO'} | ${alerts(x)} | [report](../${path.basename(x.runDir)}/report.md), [picture](../${path.basename(x.runDir)}/report.svg) |`,
    )
  for (const p of r.plan.slice(r.rounds.length))
    lines.push(
      `| ${p.index} | ${describeRound(p)} | ${p.keepsQuorum ? 'yes' : 'NO (forced)'} | not run | | | | | | | |`,
    )
  lines.push('')
  return `${lines.join('\n')}\n`
}

export function formatCampaignSummary(r: CampaignResult): string {
  return [
    `chaos campaign ${r.id} (seed ${r.seed}): ${verdict(r)}`,
    `  rounds: ${r.totals.rounds} of ${r.plan.length}, under one workload (run log ${r.workload.runLog}); transfers: ${r.totals.acknowledged} acknowledged, ${r.totals.lost} lost, ${r.totals.unknown} unknown outcome`,
    `  verify of the run log: ${r.verify ? (r.verify.ok ? 'all invariants hold' : `${Object.values(r.verify.violationCounts).reduce((a, b) => a + (b ?? 0), 0)} violation(s)`) : 'not run (cut short)'}`,
    `  RTO (s): min ${fmt(r.rto.min)}, median ${fmt(r.rto.median)}, p95 ${fmt(r.rto.p95)}, max ${fmt(r.rto.max)}`,
    ...r.rounds.map(
      (x) =>
        `  ${String(x.index).padStart(2)}. ${describeRound(x).padEnd(24)} RTO ${fmt(x.rtoSeconds).padStart(6)} s  ${x.acknowledged} acknowledged (${x.acknowledgedDuringFault} during the fault), ${x.lost} lost  ${x.verified ? 'ok' : 'VIOLATION'}`,
    ),
    `  report: ${r.report.markdown}`,
    `  picture: ${r.report.picture} (page: ${r.report.html})`,
  ].join('\n')
}
