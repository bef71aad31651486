/**
 * Failover benchmark on the local world: every region fault of the matrix (kill and
 * stop of the database leader's region, a following data region and the witness),
 * ROUNDS times each, every round under the transfer workload and verified. Reports per
 * cell the distributions (min / median / p95 / max) of
 *   - RTO: fault -> the client's first acknowledged new write,
 *   - the longest gap between acknowledged writes around the fault,
 *   - the RTO split in two: the database writable again (the health model's first
 *     writable sample after the fault) and the client's first new commit after that
 *     (client lag = RTO - writable again),
 * and the acknowledged / lost totals. Reports, never asserts.
 *
 * A round whose RTO or longest write gap (a second stall after the first new commit counts
 * too) exceeds BENCH_KEEP_LOGS_OVER seconds (default 9) has the world's logs
 * (Patroni, PostgreSQL, etcd) and its run directory copied to a temp dir, printed beside it:
 * the world, and its logs, are gone when the bench ends.
 *
 * BENCH_WITNESS_AHEAD=1 makes every leader fault the rare case on purpose: the witness holds WAL
 * the promoted region never received (test/helpers/witness-ahead.ts freezes that region's
 * walreceiver for a moment before the fault); each such round prints by how much.
 *
 *   node --import tsx bench/failover/run.ts   (BENCH_ROUNDS=5, BENCH_DURATION=10s, BENCH_MODES=kill,stop, BENCH_ROLES=leader,follower,witness)
 */
import {cp, mkdtemp, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {
  matrixCells,
  type MatrixMode,
  type MatrixRole,
  type MatrixRow,
  runFaultMatrix,
} from '../../src/lib/chaos/matrix.js'
import {parseDuration} from '../../src/lib/duration.js'
import {LocalWorld} from '../../src/lib/world/local/index.js'
import {parseJsonOutput} from '../../test/helpers/cli.js'
import {withWitnessAhead} from '../../test/helpers/witness-ahead.js'
import {createTestWorld} from '../../test/helpers/world.js'

const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const durationMs = parseDuration(process.env.BENCH_DURATION ?? '10s')
const modes = (process.env.BENCH_MODES?.split(',') ?? ['kill', 'stop']) as MatrixMode[]
const keepLogsOverSeconds = Number(process.env.BENCH_KEEP_LOGS_OVER ?? 9)
const witnessAhead = process.env.BENCH_WITNESS_AHEAD === '1'
const roles = (process.env.BENCH_ROLES?.split(',') ?? ['leader', 'follower', 'witness']) as MatrixRole[]
/** seconds from the database being writable again (health model) to the client's first new commit */
const clientLag = (r: MatrixRow) =>
  r.rtoSeconds === null || r.notWritableSeconds === null
    ? null
    : Math.round((r.rtoSeconds - r.notWritableSeconds) * 1000) / 1000

const testWorld = await createTestWorld('bench-failover')
const rows: MatrixRow[] = []
const loadBefore = os.loadavg()[0]
try {
  const started = Date.now()
  const up = await testWorld.atlas(['up', '--json'])
  if (up.exitCode !== 0) throw new Error(`atlas up failed:\n${up.stderr}`)
  console.log(
    `atlas up: ${((Date.now() - started) / 1000).toFixed(1)} s (${parseJsonOutput<{durationSeconds: number}>(up).durationSeconds.toFixed(1)} s inside)`,
  )
  const world = new LocalWorld(testWorld.config, {baseDir: testWorld.baseDir})
  if (witnessAhead)
    withWitnessAhead(world, {
      onAhead: ({replica, witness}) =>
        console.log(
          `before the fault: witness ahead of ${replica.region} by ${(witness.received ?? 0) - (replica.received ?? 0)} bytes of WAL (timelines ${witness.timeline} / ${replica.timeline})`,
        ),
    })
  const keepLogs = async (round: number, runDir: null | string) => {
    const kept = await mkdtemp(path.join(os.tmpdir(), `atlas-failover-round${round}-`))
    await cp(world.layout.logDir, path.join(kept, 'logs'), {recursive: true})
    if (runDir) await cp(runDir, path.join(kept, 'run'), {recursive: true})
    return kept
  }

  for (let round = 1; round <= rounds; round++) {
    try {
      await runFaultMatrix(world, {
        cells: matrixCells({components: ['region'], modes, roles}),
        durationMs,
        runsDir: world.runsDir(),
        prefix: `round${round}`,
        async onRow(r) {
          rows.push(r)
          const slowest = Math.max(r.rtoSeconds ?? 0, r.longestWriteGapSeconds ?? 0)
          if (slowest > keepLogsOverSeconds) {
            console.log(
              `round ${round}: RTO or write gap over ${keepLogsOverSeconds} s, logs kept in ${await keepLogs(round, r.runDir)}`,
            )
          }

          const s = (x: null | number) => (x === null ? 'n/a' : `${x.toFixed(2)} s`)
          console.log(
            `round ${round} ${r.mode.padEnd(4)} ${r.role.padEnd(8)} ${(r.region ?? '').padEnd(7)} RTO ${s(r.rtoSeconds)} = writable again ${s(r.notWritableSeconds)} + client ${s(clientLag(r))}, longest gap ${s(r.longestWriteGapSeconds)}, failover ${r.failover ? 'yes' : 'no'}, acked ${r.acknowledged}, lost ${r.lost}, verified ${r.verified}`,
          )
        },
      })
    } catch (error) {
      // e.g. the world did not converge again after the previous round: its logs say why, and go with the world
      console.log(`round ${round}: ${String(error)}; logs kept in ${await keepLogs(round, null)}`)
      throw error
    }
  }
} finally {
  await testWorld.destroy()
}

/** nearest-rank percentile */
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

const distribution = (xs: Array<null | number>) => {
  const v = xs.filter((x): x is number => x !== null)
  return v.length === 0
    ? 'n/a'
    : [Math.min(...v), percentile(v, 50), percentile(v, 95), Math.max(...v)].map((x) => x.toFixed(2)).join(' / ')
}

const lines = [
  "| fault | target | rounds | failovers | RTO: client's first new commit (s) min / median / p95 / max | database writable again, health model (s) | client lag after that (s) | longest write gap (s) | acknowledged | unknown | lost | verified |",
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
]
const row = (mode: MatrixMode, target: string, rs: MatrixRow[]) =>
  lines.push(
    `| ${mode} | ${target} | ${rs.length} | ${rs.filter((r) => r.failover).length} | ${distribution(rs.map((r) => r.rtoSeconds))} | ${distribution(rs.map((r) => r.notWritableSeconds))} | ${distribution(rs.map(clientLag))} | ${distribution(rs.map((r) => r.longestWriteGapSeconds))} | ${rs.reduce((a, r) => a + r.acknowledged, 0)} | ${rs.reduce((a, r) => a + r.unknown, 0)} | ${rs.reduce((a, r) => a + r.lost, 0)} | ${rs.filter((r) => r.verified).length}/${rs.length} |`,
  )
for (const mode of modes) {
  for (const role of roles) {
    const rs = rows.filter((r) => r.mode === mode && r.role === role && !r.skipped)
    if (rs.length === 0) continue
    // a leader's rounds alternate between the data regions: each region's rows, then all of them
    const regions = [...new Set(rs.map((r) => r.region ?? ''))]
    if (regions.length > 1)
      for (const region of regions)
        row(
          mode,
          `${role} (${region})`,
          rs.filter((r) => r.region === region),
        )
    row(mode, role, rs)
  }
}

const machine = `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, load average ${loadBefore.toFixed(1)} before / ${os.loadavg()[0].toFixed(1)} after`
console.log(`\n${machine}\n\n${lines.join('\n')}`)
const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'last-run.json')
await writeFile(out, `${JSON.stringify({at: new Date().toISOString(), machine, durationMs, rounds: rows}, null, 2)}\n`)
console.log(`\nrounds: ${out}`)
