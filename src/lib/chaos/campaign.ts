import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {UsageError} from '../errors.js'
import {assessFaults} from '../health/quorum.js'
import {redact, redactObject} from '../redact.js'
import {silentProgress} from '../progress.js'
import type {Region} from '../config/schema.js'
import type {FaultComponent, FaultMode, PartitionKind, ProgressReporter, World} from '../world/types.js'
import {blastRadius, type BlastResult} from './blast.js'

/**
 * Campaigns: many blast-radius rounds from one seed. The schedule is a pure
 * function of (seed, rounds, fault kinds, targets), so a seed names a campaign:
 * the same arguments give the same rounds in the same order.
 *
 * Fault kinds are a table: a new kind (a network partition) is one more entry,
 * checked by the world (injectFault's dry run) before any round starts.
 */
export interface CampaignFaultKind {
  name: string
  mode: FaultMode
  /** mode partition: its shape */
  partition?: PartitionKind
  summary: string
}

export const CAMPAIGN_FAULT_KINDS: Record<string, CampaignFaultKind> = {
  kill: {name: 'kill', mode: 'kill', summary: 'SIGKILL, then restart with the same configuration'},
  stop: {name: 'stop', mode: 'stop', summary: 'SIGSTOP, then SIGCONT'},
  partition: {name: 'partition', mode: 'partition', partition: 'isolate', summary: 'cut the whole region off from the others (nftables; needs CAP_NET_ADMIN)'},
}

/** Without --faults: the kinds that need no privilege. */
export const DEFAULT_FAULT_KINDS = ['kill', 'stop']

export interface CampaignTarget {
  region: string
  component: FaultComponent
}

export interface CampaignRound {
  /** 1-based */
  index: number
  kind: string
  mode: FaultMode
  /** mode partition: its shape */
  partition?: PartitionKind
  /** one target, or two in different regions (a double fault: different parts that keep quorum, or with --force the same part, which may lose it) */
  targets: CampaignTarget[]
  /** whether the round's regions keep a Raft majority */
  keepsQuorum: boolean
}

const COMPONENTS: FaultComponent[] = ['region', 'etcd', 'patroni', 'postgres']

/** "us" (the whole region) or "us:postgres" (one of its components). */
export function parseTargets(specs: string[], regions: Region[]): CampaignTarget[] {
  const targets: CampaignTarget[] = []
  for (const spec of specs.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean)) {
    const [region, component = 'region'] = spec.split(':')
    if (!regions.some((r) => r.name === region)) throw new UsageError(`unknown region "${region}" in --targets ${spec}`, {hint: `regions: ${regions.map((r) => r.name).join(', ')}`})
    if (!COMPONENTS.includes(component as FaultComponent)) throw new UsageError(`unknown component "${component}" in --targets ${spec}`, {hint: `components: ${COMPONENTS.join(', ')}`})
    if (!targets.some((t) => t.region === region && t.component === component)) targets.push({region, component: component as FaultComponent})
  }
  return targets.length > 0 ? targets : regions.map((r) => ({region: r.name, component: 'region' as const}))
}

export function parseFaultKinds(list: string[]): CampaignFaultKind[] {
  const names = [...new Set(list.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean))]
  if (names.length === 0) return DEFAULT_FAULT_KINDS.map((name) => CAMPAIGN_FAULT_KINDS[name])
  return names.map((name) => {
    const kind = CAMPAIGN_FAULT_KINDS[name]
    if (!kind) throw new UsageError(`unknown fault kind "${name}" in --faults`, {hint: `kinds: ${Object.keys(CAMPAIGN_FAULT_KINDS).join(', ')}`})
    return kind
  })
}

/** A seed from text: a number is itself, anything else is hashed (FNV-1a), so `--seed nightly` works too. */
export function seedValue(seed: string | number): number {
  if (typeof seed === 'number' || /^\d+$/.test(seed)) return Number(seed) >>> 0
  let h = 0x811c9dc5
  for (const c of seed) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0
  return h
}

/** mulberry32: a small, well-mixed 32-bit generator; the same seed, the same sequence, on every platform. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The parts of a target a round may break: a whole-region target allows any of its components (the witness has only an etcd member). */
function partsOf(target: CampaignTarget, regions: Region[]): CampaignTarget[] {
  if (target.component !== 'region') return [target]
  const witness = regions.find((r) => r.name === target.region)?.role === 'witness'
  return (witness ? (['etcd'] as const) : (['etcd', 'patroni', 'postgres'] as const)).map((component) => ({region: target.region, component}))
}

/**
 * Double faults that keep quorum: two parts in two regions, among the targets' parts,
 * that leave an etcd majority and a data region able to lead (assessFaults), e.g. us's
 * Patroni killed while eu's etcd member is stopped. Whole regions never pair this way
 * (two of three voters), nor two data regions' databases (no one left to lead).
 */
export function quorumKeepingPairs(targets: CampaignTarget[], regions: Region[]): CampaignTarget[][] {
  const parts: CampaignTarget[] = []
  for (const p of targets.flatMap((t) => partsOf(t, regions))) if (!parts.some((x) => x.region === p.region && x.component === p.component)) parts.push(p)
  const pairs: CampaignTarget[][] = []
  for (const [i, a] of parts.entries()) for (const b of parts.slice(i + 1)) if (a.region !== b.region && assessFaults(regions, [a, b]).survives) pairs.push([a, b])
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
 * lose quorum. A round that would lose quorum is drawn only with force.
 */
export function planCampaign(options: {seed: number; rounds: number; kinds: CampaignFaultKind[]; targets: CampaignTarget[]; regions: Region[]; force?: boolean}): CampaignRound[] {
  if (!options.force) {
    const alone = options.targets.find((t) => !assessFaults(options.regions, [t]).survives)
    if (alone) throw new UsageError(`breaking ${alone.region} alone loses quorum; pass --force to break it anyway`)
  }
  // a partition cuts a whole region's network (the local world cannot cut one component's): it draws among whole-region targets
  const wholeRegions = options.targets.filter((t) => t.component === 'region')
  if (wholeRegions.length === 0 && options.kinds.some((k) => k.mode === 'partition')) {
    throw new UsageError('--faults partition cuts whole regions, and --targets names none', {hint: 'add a whole region to --targets (us, not us:etcd), or drop partition from --faults'})
  }
  const random = seededRandom(options.seed)
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]
  const pairs = quorumKeepingPairs(options.targets, options.regions)
  const doubles = seededRandom((options.seed ^ 0x5bd1e995) >>> 0)
  const rounds: CampaignRound[] = []
  for (let index = 1; index <= options.rounds; index++) {
    const kind = pick(options.kinds)
    if (kind.mode === 'partition') {
      // one region cut off per round: a partition of two would leave no majority side to compare against
      const target = pick(wholeRegions)
      rounds.push({index, kind: kind.name, mode: kind.mode, partition: kind.partition, targets: [target], keepsQuorum: assessFaults(options.regions, [target]).survives})
      continue
    }
    const first = pick(options.targets)
    const targets = [first]
    // a double fault breaks the same component in a second region (one blast-radius round, one component)
    const others = [...new Set(options.targets.filter((t) => t.region !== first.region).map((t) => t.region))]
    if (options.force && others.length > 0 && random() < 0.25) targets.push({region: pick(others), component: first.component})
    const roll = doubles()
    if (targets.length === 1 && pairs.length > 0 && roll < QUORUM_KEEPING_DOUBLE_SHARE) targets.splice(0, 1, ...pairs[Math.floor(doubles() * pairs.length)])
    rounds.push({index, kind: kind.name, mode: kind.mode, targets, keepsQuorum: assessFaults(options.regions, targets).survives})
  }
  return rounds
}

export interface CampaignRoundResult {
  index: number
  kind: string
  targets: CampaignTarget[]
  keepsQuorum: boolean
  runDir: string
  verified: boolean
  rtoSeconds: number | null
  acknowledged: number
  unknown: number
  lost: number
  violations: Record<string, number>
  failover: boolean
}

export interface CampaignResult {
  kind: 'chaos'
  id: string
  seed: number
  rounds: CampaignRoundResult[]
  plan: CampaignRound[]
  totals: {rounds: number; acknowledged: number; lost: number; unknown: number; violations: number}
  rto: {min: number | null; median: number | null; p95: number | null; max: number | null}
  /** every round verified with nothing lost */
  verified: boolean
  interrupted: boolean
  report: {json: string; markdown: string; picture: string; html: string}
}

/** Violations of one round; verify leaves a kind it found none of as undefined (in memory; JSON drops it), which counts 0, not NaN. */
export function countViolations(violations: Record<string, number | undefined>): number {
  return Object.values(violations).reduce((a: number, b) => a + (b ?? 0), 0)
}

/** Nearest-rank percentiles of the RTOs that were measured. */
export function rtoSummary(values: Array<number | null>): CampaignResult['rto'] {
  const xs = values.filter((v): v is number => v !== null).sort((a, b) => a - b)
  if (xs.length === 0) return {min: null, median: null, p95: null, max: null}
  const rank = (p: number) => xs[Math.min(xs.length - 1, Math.max(0, Math.ceil(p * xs.length) - 1))]
  return {min: xs[0], median: rank(0.5), p95: rank(0.95), max: xs[xs.length - 1]}
}

/**
 * Runs the rounds one after the other, each a blast-radius round (its own
 * workload, restore, convergence and verify) in <runsDir>/<id>-round-NN, so
 * verify and `atlas runs` find them; then one summary in <runsDir>/<id>.
 * Stops at the first round that throws (a failed restore), after writing what it has.
 */
export async function runCampaign(world: World, options: {id: string; seed: number; plan: CampaignRound[]; durationMs: number; force?: boolean; concurrency?: number; progress?: ProgressReporter; signal?: AbortSignal}): Promise<CampaignResult> {
  const progress = options.progress ?? silentProgress
  const runsDir = world.runsDir()
  const dir = path.join(runsDir, options.id)
  // a kind the world cannot do fails before the first round
  // (a partition without CAP_NET_ADMIN: exit 3 here, before any workload)
  for (const round of options.plan) for (const t of round.targets) await world.injectFault(t.region, round.mode, {dryRun: true, component: t.component, partition: round.partition})
  await mkdir(dir, {recursive: true})
  const results: CampaignRoundResult[] = []
  const reports: BlastResult[] = []
  let interrupted = false
  let failure: unknown
  for (const round of options.plan) {
    if (options.signal?.aborted) {
      interrupted = true
      break
    }
    progress.info(`round ${round.index}/${options.plan.length}: ${describeRound(round)}`)
    const runDir = path.join(runsDir, `${options.id}-round-${String(round.index).padStart(2, '0')}`)
    let r: BlastResult
    try {
      // a double fault may break a different part in each region
      r = await blastRadius(world, {regions: round.targets.map((t) => t.region), components: Object.fromEntries(round.targets.map((t) => [t.region, t.component])), mode: round.mode, partition: round.partition, durationMs: options.durationMs, force: options.force, runDir, progress, signal: options.signal, workloadConcurrency: options.concurrency, upload: false})
    } catch (error) {
      if (options.signal?.aborted) interrupted = true
      else failure = error
      break
    }
    reports.push(r)
    results.push({index: round.index, kind: round.kind, targets: round.targets, keepsQuorum: round.keepsQuorum, runDir, verified: r.verified, rtoSeconds: r.rtoSeconds, acknowledged: r.acknowledged, unknown: r.unknown, lost: r.lost, violations: r.violations, failover: r.failover})
    if (r.interrupted) {
      interrupted = true
      break
    }
  }
  const sum = (f: (r: CampaignRoundResult) => number) => results.reduce((a, r) => a + f(r), 0)
  const result: CampaignResult = {
    kind: 'chaos',
    id: options.id,
    seed: options.seed,
    rounds: results,
    plan: options.plan,
    totals: {rounds: results.length, acknowledged: sum((r) => r.acknowledged), lost: sum((r) => r.lost), unknown: sum((r) => r.unknown), violations: sum((r) => countViolations(r.violations))},
    rto: rtoSummary(results.map((r) => r.rtoSeconds)),
    verified: !interrupted && !failure && results.length === options.plan.length && results.every((r) => r.verified && r.lost === 0),
    interrupted,
    report: {json: path.join(dir, 'report.json'), markdown: path.join(dir, 'report.md'), picture: path.join(dir, 'report.svg'), html: path.join(dir, 'report.html')},
  }
  await writeFile(result.report.json, `${JSON.stringify(redactObject(result), null, 2)}\n`)
  await writeFile(result.report.markdown, redact(formatCampaignReport(result)))
  const {blastPicture} = await import('../report/blast.js')
  const {campaignChart, writeCampaignPicture} = await import('../report/picture.js')
  const chart = campaignChart(
    `Chaos campaign ${result.id} (seed ${result.seed}): ${verdict(result)}`,
    `${result.totals.rounds} of ${result.plan.length} rounds; ${result.totals.acknowledged} acknowledged, ${result.totals.lost} lost, ${result.totals.unknown} unknown outcome; RTO median ${fmt(result.rto.median)} s, max ${fmt(result.rto.max)} s`,
    reports.map((r, i) => ({label: describeRound(results[i]), faultInjectedAt: r.faultInjectedAt, input: blastPicture(r)})),
    world.regions.map((r) => r.name),
  )
  await writeCampaignPicture(chart, {svg: result.report.picture, html: result.report.html}, [{href: 'report.md', label: 'report.md'}, {href: 'report.json', label: 'report.json'}])
  if (failure) throw failure
  return result
}

export function describeRound(round: Pick<CampaignRound, 'kind' | 'targets'>): string {
  return `${round.kind} ${round.targets.map((t) => (t.component === 'region' ? t.region : `${t.region}:${t.component}`)).join(' + ')}`
}

const fmt = (n: number | null) => (n === null ? '–' : n.toFixed(2))
const verdict = (r: CampaignResult) => (r.verified ? 'PASS' : r.interrupted ? 'INTERRUPTED' : 'FAIL')

export function formatCampaignReport(r: CampaignResult): string {
  const lines = [`# Chaos campaign ${r.id} (seed ${r.seed})`, '']
  lines.push(`![Every round over time: transfers per second, leaders, fault windows, RTOs](report.svg)`, '', 'The picture: [report.svg](report.svg), or as a page: [report.html](report.html).', '')
  lines.push(`Verdict: **${verdict(r)}**: ${r.totals.rounds} of ${r.plan.length} rounds, ${r.totals.acknowledged} acknowledged transfers, ${r.totals.lost} lost, ${r.totals.unknown} with unknown outcome.`, '')
  lines.push(`RTO (s): min ${fmt(r.rto.min)}, median ${fmt(r.rto.median)}, p95 ${fmt(r.rto.p95)}, max ${fmt(r.rto.max)}.`, '')
  lines.push(`The same schedule again: \`atlas chaos --rounds ${r.plan.length} --seed ${r.seed}\` with the same --faults and --targets.`, '')
  lines.push('| round | fault | keeps quorum | RTO (s) | failover | acknowledged | unknown | lost | verified | report |', '|---|---|---|---|---|---|---|---|---|---|')
  for (const x of r.rounds) lines.push(`| ${x.index} | ${describeRound(x)} | ${x.keepsQuorum ? 'yes' : 'NO (forced)'} | ${fmt(x.rtoSeconds)} | ${x.failover ? 'yes' : 'no'} | ${x.acknowledged} | ${x.unknown} | ${x.lost} | ${x.verified ? 'yes' : 'NO'} | [report](../${path.basename(x.runDir)}/report.md), [picture](../${path.basename(x.runDir)}/report.svg) |`)
  for (const p of r.plan.slice(r.rounds.length)) lines.push(`| ${p.index} | ${describeRound(p)} | ${p.keepsQuorum ? 'yes' : 'NO (forced)'} | not run | | | | | | |`)
  lines.push('')
  return `${lines.join('\n')}\n`
}

export function formatCampaignSummary(r: CampaignResult): string {
  return [
    `chaos campaign ${r.id} (seed ${r.seed}): ${verdict(r)}`,
    `  rounds: ${r.totals.rounds} of ${r.plan.length}; transfers: ${r.totals.acknowledged} acknowledged, ${r.totals.lost} lost, ${r.totals.unknown} unknown outcome`,
    `  RTO (s): min ${fmt(r.rto.min)}, median ${fmt(r.rto.median)}, p95 ${fmt(r.rto.p95)}, max ${fmt(r.rto.max)}`,
    ...r.rounds.map((x) => `  ${String(x.index).padStart(2)}. ${describeRound(x).padEnd(24)} RTO ${fmt(x.rtoSeconds).padStart(6)} s  ${x.acknowledged} acknowledged, ${x.lost} lost  ${x.verified ? 'ok' : 'VIOLATION'}`),
    `  report: ${r.report.markdown}`,
    `  picture: ${r.report.picture} (page: ${r.report.html})`,
  ].join('\n')
}
