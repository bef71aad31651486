/**
 * A long `atlas chaos` campaign on a fresh local world: BENCH_CHAOS_ROUNDS rounds (default
 * 100) drawn from BENCH_CHAOS_SEED, all under one transfer workload (started before the
 * first round, stopped after the last), each round restored and converged, the run log
 * verified at the end. Reports rounds, acknowledged, lost, unknown and RTO
 * min/median/p95/max, with the date, the cores and the load average, into
 * bench/chaos/RESULTS.md (one section per run, newest last). Reports, never asserts.
 *
 *   npm run build && node --import tsx bench/chaos/campaign.ts
 *   (BENCH_CHAOS_ROUNDS=100, BENCH_CHAOS_SEED=bench, BENCH_DURATION=10s,
 *    BENCH_FAULTS=kill,stop; add partition, partition-one-way-in, partition-one-way-out,
 *    partition-bridge as root; BENCH_TARGETS: --targets, e.g. us,eu,witness,etcd-leader;
 *    default every region, whole)
 */
import {appendFile, readFile, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {CampaignResult} from '../../src/lib/chaos/campaign/index.js'

import {parseJsonOutput} from '../../test/helpers/cli.js'
import {createTestWorld} from '../../test/helpers/world.js'

const rounds = Number(process.env.BENCH_CHAOS_ROUNDS ?? 100)
const seed = process.env.BENCH_CHAOS_SEED ?? 'bench'
const duration = process.env.BENCH_DURATION ?? '10s'
const faults = process.env.BENCH_FAULTS ?? 'kill,stop'
const targets = process.env.BENCH_TARGETS
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error(`BENCH_CHAOS_ROUNDS must be a positive integer, not ${process.env.BENCH_CHAOS_ROUNDS}`)

const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(', ')
const loadBefore = load()
const started = Date.now()
const testWorld = await createTestWorld('bench-campaign')
let campaign: CampaignResult
try {
  const up = await testWorld.atlas(['up', '--json'])
  if (up.exitCode !== 0) throw new Error(`atlas up failed:\n${up.stderr}`)
  // a round takes the fault's duration plus workload, restore, convergence and verify: allow 3 minutes each
  const run = await testWorld.atlas(
    [
      'chaos',
      '--rounds',
      String(rounds),
      '--seed',
      seed,
      '--faults',
      faults,
      ...(targets ? ['--targets', targets] : []),
      '--duration',
      duration,
      '--json',
    ],
    {timeoutMs: rounds * 180_000},
  )
  if (run.exitCode !== 0 && run.exitCode !== 4) throw new Error(`atlas chaos exited ${run.exitCode}:\n${run.stderr}`)
  campaign = parseJsonOutput<CampaignResult>(run)
} finally {
  await testWorld.destroy()
}

const loadAfter = load()
const minutes = (Date.now() - started) / 60_000

const fmt = (n: null | number) => (n === null ? '–' : n.toFixed(2))
const doubles = campaign.rounds.filter((r) => r.targets.length === 2).length
const duringFaults = campaign.rounds.reduce((a, r) => a + (r.acknowledgedDuringFault ?? 0), 0)
const kinds = [...new Set(campaign.plan.map((r) => r.kind))].join(', ')
const section = [
  `## ${new Date().toISOString()}: ${campaign.totals.rounds} rounds, seed ${campaign.seed} (${seed})`,
  '',
  `${os.cpus().length} cores, load average (1, 5, 15 min) ${loadBefore} before, ${loadAfter} after; ${minutes.toFixed(1)} min in all; faults ${faults} (drawn: ${kinds})${targets ? `, targets ${targets}` : ''}, each held ${duration}; ${doubles} double faults.`,
  '',
  `One workload through every round${campaign.workload ? ` (${campaign.workload.stats?.unknownResolved ?? 0} unknown outcomes settled after it stopped)` : ''}; ${duringFaults} transfers acknowledged while the faults held; the run log verified at the end: ${campaign.verify ? (campaign.verify.ok ? 'all invariants hold' : 'VIOLATIONS') : 'not run'}.`,
  '',
  '| rounds | acknowledged | lost | unknown | violations | verified | RTO min (s) | RTO median (s) | RTO p95 (s) | RTO max (s) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  `| ${campaign.totals.rounds} of ${campaign.plan.length} | ${campaign.totals.acknowledged} | ${campaign.totals.lost} | ${campaign.totals.unknown} | ${campaign.totals.violations} | ${campaign.verified ? 'yes' : 'NO'} | ${fmt(campaign.rto.min)} | ${fmt(campaign.rto.median)} | ${fmt(campaign.rto.p95)} | ${fmt(campaign.rto.max)} |`,
  '',
  'RTO: fault to the first acknowledged write after it, per round (a round that never lost its leader recovers at once).',
  '',
].join('\n')
console.log(section)

const results = path.join(path.dirname(new URL(import.meta.url).pathname), 'RESULTS.md')
const header = `# bench/chaos: campaigns\n\n\`npm run build && node --import tsx bench/chaos/campaign.ts\` runs \`atlas chaos\` (one workload through every round) on a fresh local world:\n\`BENCH_CHAOS_ROUNDS\` rounds (default 100), \`BENCH_CHAOS_SEED\` (default bench), \`BENCH_DURATION\` per fault\n(default 10s), \`BENCH_FAULTS\` (default kill,stop; partition needs root). Each run appends a section;\nthe machine is shared, so every figure carries its load average.\n\n`
const existing = await readFile(results, 'utf8').catch(() => '')
await (existing === '' ? writeFile(results, header + section) : appendFile(results, `\n${section}`))
console.log(`appended to ${results}`)
process.exitCode = campaign.verified ? 0 : 4
