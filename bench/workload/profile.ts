import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
/**
 * A CPU profile of the workload in its steady state (after a warm-up run, taken through
 * the inspector, so module loading and JIT warm-up are not in it; the inspector's own `dispatch` is) against a throwaway
 * PostgreSQL (TLS verify-full unless BENCH_TLS=off, see server.ts), and the top items by self time. BENCH_COMPARE=<another checkout> profiles
 * that checkout's workload too, alternately, in the same process, with its CPU per transfer.
 * Writes the .cpuprofile files (for Chrome DevTools) to BENCH_PROFILE_DIR (default: a temp dir).
 *
 * BENCH_PIPELINE: this checkout's transfers in flight per connection (a compared checkout without the option runs one).
 *
 *   node --import tsx bench/workload/profile.ts   (BENCH_CLIENTS=8, BENCH_SECONDS=8, BENCH_ROUNDS=2, BENCH_COMPARE, BENCH_PIPELINE=1, BENCH_PROFILE=off, BENCH_TLS)
 */
import {Session} from 'node:inspector/promises'
import os from 'node:os'
import path from 'node:path'

import {connectLedger} from '../../src/lib/ledger/db.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import {runWorkload} from '../../src/lib/ledger/workload/index.js'
import {benchServer} from './server.js'

const clients = Number(process.env.BENCH_CLIENTS ?? 8)
const seconds = Number(process.env.BENCH_SECONDS ?? 8)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const accounts = 10_000
const pipeline = Number(process.env.BENCH_PIPELINE ?? 1)
/** BENCH_PROFILE=off: no profiler, only the CPU per transfer of each variant (the inspector's sampling costs CPU too) */
const profiling = process.env.BENCH_PROFILE !== 'off'
type Run = typeof runWorkload
const variants: Array<{name: string; run: Run}> = [{name: 'this', run: runWorkload}]
if (process.env.BENCH_COMPARE) {
  const other = (await import(
    path.join(path.resolve(process.env.BENCH_COMPARE), 'src/lib/ledger/workload/index.ts')
  )) as {
    runWorkload: Run
  }
  variants.unshift({name: 'compared', run: other.runWorkload})
}

const outDir = process.env.BENCH_PROFILE_DIR ?? (await mkdtemp(path.join(os.tmpdir(), 'atlas-workload-profile-')))
await mkdir(outDir, {recursive: true})

interface ProfileNode {
  callFrame: {functionName: string; lineNumber: number; url: string}
  children?: number[]
  id: number
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}
/** self time per function, as shares of the busy (non-idle) samples */
function top(profile: Profile, n: number): string[] {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]))
  const self = new Map<string, number>()
  let busy = 0
  for (const [i, id] of profile.samples.entries()) {
    const cf = byId.get(id)!.callFrame
    if (cf.functionName === '(idle)') continue
    const t = profile.timeDeltas[i] ?? 0
    busy += t
    const file = cf.url.replace(/^file:\/\//, '')
    const where = file.includes('/node_modules/')
      ? file.replace(/.*node_modules\//, '')
      : file.replace(/^.*?\/src\//, 'src/')
    const key = `${cf.functionName || '(anonymous)'} ${where}${where ? `:${cf.lineNumber + 1}` : ''}`
    self.set(key, (self.get(key) ?? 0) + t)
  }

  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, t]) => `${((100 * t) / busy).toFixed(1).padStart(5)}%  ${k}`)
}

const pg = await benchServer()
const tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-bench-profile-'))
const session = new Session()
session.connect()
try {
  const sql = await connectLedger(pg.url, {max: 1})
  await initLedger(sql, {accounts, openingBalance: 1_000_000, allowNegativeBalances: false})
  await sql.end({timeout: 1})
  const options = (name: string) => ({
    db: pg.url,
    concurrency: clients,
    pipeline,
    durationMs: seconds * 1000,
    runDir: path.join(tmp, `${name}-${Math.random()}`),
    originRegion: 'us',
    maxAmount: 100,
    accounts,
  })
  for (const v of variants) await v.run({...options(v.name), durationMs: 2000})
  if (profiling) await session.post('Profiler.enable')
  const perTransfer = new Map<string, number[]>()
  for (let round = 0; round < rounds; round++) {
    for (const v of variants) {
      if (profiling) await session.post('Profiler.start')
      const cpu0 = process.cpuUsage()
      const result = await v.run(options(v.name))
      const cpu = process.cpuUsage(cpu0)
      const us = (cpu.user + cpu.system) / result.stats.acknowledged
      perTransfer.set(v.name, [...(perTransfer.get(v.name) ?? []), us])
      if (!profiling) {
        console.log(
          `${v.name} round ${round + 1}: ${result.stats.averageTps} tps, CPU ${us.toFixed(1)} µs per transfer (system ${(cpu.system / result.stats.acknowledged).toFixed(1)}), load average ${os.loadavg()[0].toFixed(2)}`,
        )
        continue
      }

      const {profile} = (await session.post('Profiler.stop')) as {profile: Profile}
      const file = path.join(outDir, `workload-${v.name}-${round}.cpuprofile`)
      await writeFile(file, JSON.stringify(profile))
      console.log(
        `${v.name} round ${round + 1}: ${result.stats.averageTps} tps, CPU ${((cpu.user + cpu.system) / result.stats.acknowledged).toFixed(1)} µs per transfer (system ${(cpu.system / result.stats.acknowledged).toFixed(1)}), load average ${os.loadavg()[0].toFixed(2)}; ${file}`,
      )
      for (const line of top(profile, 15)) console.log(`  ${line}`)
    }
  }

  for (const [name, xs] of perTransfer)
    console.log(
      `${name}: mean CPU ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)} µs per transfer over ${xs.length} rounds`,
    )
} finally {
  session.disconnect()
  await pg.stop()
  await rm(tmp, {recursive: true, force: true})
}
