import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {VerifyResult} from '../../ledger/verify/index.js'
import type {WorkloadResult, WorkloadStats} from '../../ledger/workload/index.js'
import type {AlertEvent} from '../../monitoring/types.js'
import type {BlastResult} from '../types.js'
import type {CampaignRound, CampaignTarget, ResolvedTarget} from './plan.js'

import {formatFiredAlerts} from '../../monitoring/chaos.js'
import {redact, redactObject} from '../../redact.js'
import {describeRound} from './plan.js'

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

/** The campaign's report (report.json's shape) from its rounds, its workload and the verify of its run log. */
export function campaignResult(
  options: {id: string; plan: CampaignRound[]; seed: number},
  found: {
    dir: string
    rounds: {failure?: unknown; interrupted: boolean; results: CampaignRoundResult[]}
    verify?: VerifyResult
    workload: {handle: {runLog: string}; pid: number; startedAt: Date}
    workloadResult?: WorkloadResult
  },
): CampaignResult {
  const {dir, verify, workload, workloadResult} = found
  const {results, interrupted, failure} = found.rounds
  const sum = (f: (r: CampaignRoundResult) => number) => results.reduce((a, r) => a + f(r), 0)
  // each round looked up its own window's transfers; the run log's verify looks up all of them
  const lost = Math.max(
    verify?.violationCounts.lost ?? 0,
    sum((r) => r.lost),
  )
  return {
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
}

/** report.json, report.md and the picture (the rounds side by side) in the campaign's directory. */
export async function writeCampaignReport(
  result: CampaignResult,
  reports: BlastResult[],
  worldRegions: Array<{name: string}>,
): Promise<void> {
  await writeFile(result.report.json, `${JSON.stringify(redactObject(result), null, 2)}\n`)
  await writeFile(result.report.markdown, redact(formatCampaignReport(result)))
  const {blastPicture} = await import('../../report/blast.js')
  const {campaignChart, writeCampaignPicture} = await import('../../report/picture.js')
  const chart = campaignChart(
    `Chaos campaign ${result.id} (seed ${result.seed}): ${verdict(result)}`,
    `${result.totals.rounds} of ${result.plan.length} rounds under one workload; ${result.totals.acknowledged} acknowledged, ${result.totals.lost} lost, ${result.totals.unknown} unknown outcome; RTO median ${fmt(result.rto.median)} s, max ${fmt(result.rto.max)} s`,
    reports.map((r, i) => ({
      label: describeRound(result.rounds[i]),
      faultInjectedAt: r.faultInjectedAt,
      input: blastPicture(r),
    })),
    worldRegions.map((r) => r.name),
  )
  await writeCampaignPicture(chart, {svg: result.report.picture, html: result.report.html}, [
    {href: 'report.md', label: 'report.md'},
    {href: 'report.json', label: 'report.json'},
  ])
}
