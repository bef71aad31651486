/**
 * `atlas up` from nothing (cold: new directory, no CA, no data directories) to a
 * world that takes transfers, per step, then `atlas down --purge`. The built CLI
 * is run as a user runs it (npm run build first), with the same world as the
 * integration tests (test/helpers/world.ts: three regions, a port block of its own).
 * Goal: cold up <= 8 s. Reports the wall time of each step as `up` prints it and
 * the load average; never asserts.
 *
 * BENCH_COMPARE=<another checkout, built> alternates rounds between that checkout's
 * CLI and this one, for a before/after ratio measured in the same sitting.
 *
 *   node --import tsx bench/up/run.ts   (BENCH_ROUNDS, default 3; BENCH_COMPARE)
 */
import {execa} from 'execa'
import os from 'node:os'
import path from 'node:path'

import {REPO_ROOT} from '../../test/helpers/cli.js'
import {createTestWorld} from '../../test/helpers/world.js'

const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const builds = [
  ...(process.env.BENCH_COMPARE ? [{name: 'compared', root: path.resolve(process.env.BENCH_COMPARE)}] : []),
  {name: 'this', root: REPO_ROOT},
]
type Result = {build: string; load: number; seconds: number; steps: Record<string, number>}
const results: Result[] = []
for (let round = 0; round < rounds; round++) {
  for (const build of builds) {
    const world = await createTestWorld('bench-up')
    try {
      const load = os.loadavg()[0]
      const t0 = performance.now()
      const up = await execa(process.execPath, [path.join(build.root, 'bin', 'run.js'), 'up'], {
        env: {ATLAS_CONFIG: world.configFile, NO_COLOR: '1'},
        reject: false,
        timeout: 300_000,
        stdin: 'ignore',
      })
      const seconds = (performance.now() - t0) / 1000
      if (up.exitCode !== 0) throw new Error(`atlas up (${build.name}) exited ${up.exitCode}:\n${up.stderr}`)
      // "✓ <title> (1.2s)[: note]" per step (src/lib/progress.ts)
      const steps: Record<string, number> = {}
      for (const m of up.stderr.matchAll(/^✓ (.+?) \((\d+(?:\.\d+)?)s\)/gm)) steps[m[1]] = Number(m[2])
      results.push({build: build.name, seconds, load, steps})
      console.log(
        `round ${round + 1} (${build.name}): up ${seconds.toFixed(2)} s (load average ${load.toFixed(2)} at the start)`,
      )
      for (const [title, s] of Object.entries(steps)) console.log(`  ${s.toFixed(1).padStart(5)} s  ${title}`)
    } finally {
      await world.destroy()
    }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const summary = builds.map((b) => {
  const xs = results.filter((r) => r.build === b.name).map((r) => r.seconds)
  return {build: b.name, root: b.root, min: Math.min(...xs), median: median(xs), max: Math.max(...xs)}
})
for (const s of summary)
  console.log(
    `${os.cpus().length} cores; ${s.build} (${s.root}): cold up min ${s.min.toFixed(2)} s, median ${s.median.toFixed(2)} s, max ${s.max.toFixed(2)} s (goal <= 8 s)`,
  )
if (summary.length === 2)
  console.log(`median ratio this / compared: ${(summary[1].median / summary[0].median).toFixed(2)}`)
console.log(
  `load average now ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
console.log(JSON.stringify({bench: 'up', rounds, summary, results}))
