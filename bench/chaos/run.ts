/**
 * The fault matrix on the local world: the whole region, its etcd member, its Patroni
 * alone and its PostgreSQL alone, killed and frozen, on the leader, a following data
 * region and the witness; ROUNDS times each, every round under the transfer workload
 * and verified. Reports RTO (fault -> first acknowledged new write) and the longest gap
 * between acknowledged writes per cell, and the acknowledged and lost totals. Reports,
 * never asserts.
 *
 *   node --import tsx bench/chaos/run.ts   (BENCH_ROUNDS=1, BENCH_DURATION=15s,
 *                                           BENCH_COMPONENTS=region,etcd,patroni,postgres, BENCH_MODES=kill,stop)
 */
import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {FaultComponent} from '../../src/lib/world/types.js'

import {formatMatrix, matrixCells, type MatrixRow, runFaultMatrix} from '../../src/lib/chaos/matrix.js'
import {parseDuration} from '../../src/lib/duration.js'
import {LocalWorld} from '../../src/lib/world/local/index.js'
import {createTestWorld} from '../../test/helpers/world.js'

const rounds = Number(process.env.BENCH_ROUNDS ?? 1)
const durationMs = parseDuration(process.env.BENCH_DURATION ?? '15s')
const components = process.env.BENCH_COMPONENTS?.split(',') as FaultComponent[] | undefined
const modes = process.env.BENCH_MODES?.split(',') as Array<'kill' | 'stop'> | undefined

const testWorld = await createTestWorld('bench-chaos')
const rows: MatrixRow[] = []
try {
  const up = await testWorld.atlas(['up', '--json'])
  if (up.exitCode !== 0) throw new Error(`atlas up failed:\n${up.stderr}`)
  const world = new LocalWorld(testWorld.config, {baseDir: testWorld.baseDir})
  for (let round = 1; round <= rounds; round++) {
    await runFaultMatrix(world, {
      cells: matrixCells({components, modes}),
      durationMs,
      runsDir: world.runsDir(),
      prefix: `round${round}`,
      onRow(r) {
        rows.push(r)
        console.log(
          r.skipped
            ? `${r.component} ${r.mode} ${r.role}: skipped (${r.skipped})`
            : `${r.component.padEnd(8)} ${r.mode.padEnd(4)} ${r.role.padEnd(8)} ${r.region?.padEnd(7)} RTO ${r.rtoSeconds?.toFixed(2) ?? 'n/a'} s, longest gap ${r.longestWriteGapSeconds?.toFixed(2) ?? 'n/a'} s, failover ${r.failover ? 'yes' : 'no'}, acked ${r.acknowledged}, unknown ${r.unknown}, lost ${r.lost}, verified ${r.verified}`,
        )
      },
    })
  }
} finally {
  await testWorld.destroy()
}

console.log(`\n${formatMatrix(rows)}`)
const ran = rows.filter((r) => !r.skipped)
console.log(
  `\n${ran.length} rounds: ${ran.reduce((a, r) => a + r.acknowledged, 0)} acknowledged, ${ran.reduce((a, r) => a + r.lost, 0)} lost, ${ran.filter((r) => r.verified).length}/${ran.length} verified`,
)
const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'last-run.json')
await writeFile(out, `${JSON.stringify({at: new Date().toISOString(), durationMs, rounds: rows}, null, 2)}\n`)
console.log(`rows: ${out}`)
