/**
 * Failover benchmark on the local world: 5 rounds per region in kill mode, each
 * under the transfer workload, each verified. Rounds of us and eu alternate, so
 * every data-region round kills the current database leader (a real failover);
 * witness rounds kill the tie-breaker. Reports RTO min/median/max and
 * acknowledged vs lost transfers per region. Reports, never asserts.
 *
 *   node --import tsx bench/failover/run.ts   (BENCH_ROUNDS=5, BENCH_DURATION=10s)
 */
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {parseJsonOutput} from '../../test/helpers/cli.js'
import {createTestWorld} from '../../test/helpers/world.js'

const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const duration = process.env.BENCH_DURATION ?? '10s'

interface Round {
  region: string
  leaderBefore: string | null
  failover: boolean
  rtoSeconds: number | null
  unavailableSeconds: number | null
  acknowledged: number
  unknown: number
  lost: number
  verified: boolean
  exitCode: number
}

const world = await createTestWorld('bench-failover')
const results: Round[] = []
try {
  const started = Date.now()
  const up = await world.atlas(['up', '--json'])
  if (up.exitCode !== 0) throw new Error(`atlas up failed:\n${up.stderr}`)
  console.log(`atlas up: ${((Date.now() - started) / 1000).toFixed(1)} s (${parseJsonOutput<{durationSeconds: number}>(up).durationSeconds.toFixed(1)} s inside)`)
  const order = [...Array.from({length: rounds}, () => ['us', 'eu']).flat(), ...Array.from({length: rounds}, () => 'witness')]
  for (const [i, region] of order.entries()) {
    const result = await world.atlas(['blast-radius', '--region', region, '--mode', 'kill', '--duration', duration, '--json'], {timeoutMs: 300_000})
    if (result.exitCode !== 0 && result.exitCode !== 4) {
      console.log(`round ${i + 1} (${region}) failed, exit ${result.exitCode}: ${result.stdout}${result.stderr.split('\n').slice(-5).join('\n')}`)
      results.push({region, leaderBefore: null, failover: false, rtoSeconds: null, unavailableSeconds: null, acknowledged: 0, unknown: 0, lost: 0, verified: false, exitCode: result.exitCode})
      continue
    }
    const r = parseJsonOutput<Round>(result)
    results.push({...r, exitCode: result.exitCode})
    console.log(`round ${String(i + 1).padStart(2)} ${region.padEnd(7)} leader ${r.leaderBefore} failover ${r.failover ? 'yes' : 'no '} RTO ${r.rtoSeconds?.toFixed(2) ?? 'n/a'} s, not writable ${r.unavailableSeconds?.toFixed(2) ?? 'n/a'} s, acked ${r.acknowledged}, unknown ${r.unknown}, lost ${r.lost}, verified ${r.verified}`)
  }
} finally {
  await world.destroy()
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const lines = ['| region | rounds | failovers | RTO min (s) | RTO median (s) | RTO max (s) | acknowledged | unknown | lost | verified |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
for (const region of ['us', 'eu', 'witness']) {
  const rs = results.filter((r) => r.region === region)
  const rto = rs.map((r) => r.rtoSeconds).filter((x): x is number => x !== null)
  const sum = (k: 'acknowledged' | 'unknown' | 'lost') => rs.reduce((a, r) => a + r[k], 0)
  lines.push(`| ${region} | ${rs.length} | ${rs.filter((r) => r.failover).length} | ${rto.length ? Math.min(...rto).toFixed(2) : 'n/a'} | ${rto.length ? median(rto).toFixed(2) : 'n/a'} | ${rto.length ? Math.max(...rto).toFixed(2) : 'n/a'} | ${sum('acknowledged')} | ${sum('unknown')} | ${sum('lost')} | ${rs.filter((r) => r.verified).length}/${rs.length} |`)
}
console.log(`\n${lines.join('\n')}`)
const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'last-run.json')
await writeFile(out, `${JSON.stringify({at: new Date().toISOString(), duration, rounds: results}, null, 2)}\n`)
console.log(`\nrounds: ${out}`)
