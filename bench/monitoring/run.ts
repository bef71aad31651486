// What monitoring costs `atlas up`: a fresh local world brought up with monitoring
// (Prometheus, Alertmanager, an exporter per region) against the same world brought up
// with --no-monitoring (the reference), alternating, BENCH_ROUNDS pairs, in the same run.
// Reports up's own durationSeconds, the ratio, and the load average around each up.
// Never asserts (benchmarks are reported, not tested). Build first: npm run build.
import {loadavg} from 'node:os'

import type {UpResult} from '../../src/lib/world/types.js'

import {parseJsonOutput} from '../../test/helpers/cli.js'
import {createTestWorld} from '../../test/helpers/world.js'

const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

const world = await createTestWorld('bench-monitoring')
const samples: Record<'with' | 'without', Array<{load1: number; seconds: number}>> = {with: [], without: []}
try {
  for (let round = 0; round < rounds; round++) {
    // alternate which goes first, so a trend in the machine's load hits both alike
    const order: Array<'with' | 'without'> = round % 2 === 0 ? ['without', 'with'] : ['with', 'without']
    for (const kind of order) {
      const load1 = loadavg()[0]
      const result = await world.atlas(['up', '--json', ...(kind === 'without' ? ['--no-monitoring'] : [])], {
        timeoutMs: 300_000,
      })
      if (result.exitCode !== 0) throw new Error(`up (${kind} monitoring) failed:\n${result.stderr}`)
      const up = parseJsonOutput<UpResult>(result)
      if ((kind === 'with') !== Boolean(up.monitoring?.enabled))
        throw new Error(`up (${kind} monitoring): monitoring ${JSON.stringify(up.monitoring)}`)
      samples[kind].push({seconds: up.durationSeconds, load1: (load1 + loadavg()[0]) / 2})
      console.log(
        `round ${round + 1} ${kind.padEnd(7)} monitoring: up ${up.durationSeconds.toFixed(1)} s, load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
      )
      // a down that fails (a port still held for a moment) is tried once more before the bench gives up
      let down = await world.atlas(['down', '--purge', '--yes'], {timeoutMs: 180_000})
      if (down.exitCode !== 0) down = await world.atlas(['down', '--purge', '--yes'], {timeoutMs: 180_000})
      if (down.exitCode !== 0) throw new Error(`down failed (exit ${down.exitCode}):\n${down.stdout}\n${down.stderr}`)
    }
  }
} finally {
  await world.destroy()
}

const w = median(samples.with.map((s) => s.seconds))
const wo = median(samples.without.map((s) => s.seconds))
console.log(`median up: with monitoring ${w.toFixed(1)} s, without ${wo.toFixed(1)} s; ratio ${(w / wo).toFixed(2)}`)
console.log(
  JSON.stringify({
    bench: 'monitoring-up',
    rounds,
    medianWithSeconds: w,
    medianWithoutSeconds: wo,
    ratio: w / wo,
    samples,
  }),
)
