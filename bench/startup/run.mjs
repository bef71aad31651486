// Start-up cost of the CLI, measured against `node -e 0` in the same run.
// Cold = first run with empty oclif cache/data dirs; warm = median of repeated runs.
// Prints a table and a JSON line; never asserts (benchmarks are reported, not tested).
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const runs = Number(process.env.BENCH_RUNS ?? 15)
const cli = path.join(root, 'bin', 'run.js')

const cases = {
  'node -e 0': ['-e', '0'],
  'atlas --help': [cli, '--help'],
  'atlas doctor --json': [cli, 'doctor', '--json'],
}

function timeOnce(args, env) {
  const started = process.hrtime.bigint()
  const result = spawnSync(process.execPath, args, {env, stdio: ['ignore', 'ignore', 'ignore']})
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (result.status !== 0 && !(args.includes('doctor') && result.status === 3)) throw new Error(`${args.join(' ')} exited ${result.status}`)
  return ms
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

// measures the built CLI: run `npm run build` first
const results = {}
for (const [name, args] of Object.entries(cases)) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'atlas-bench-'))
  const env = {...process.env, XDG_CACHE_HOME: path.join(home, 'cache'), XDG_DATA_HOME: path.join(home, 'data'), XDG_CONFIG_HOME: path.join(home, 'config')}
  const cold = timeOnce(args, env)
  const warm = []
  for (let i = 0; i < runs; i++) warm.push(timeOnce(args, env))
  rmSync(home, {recursive: true, force: true})
  results[name] = {coldMs: cold, warmMedianMs: median(warm), warmMinMs: Math.min(...warm), warmMaxMs: Math.max(...warm)}
}
const baseline = results['node -e 0'].warmMedianMs
console.log(`${'case'.padEnd(22)} ${'cold ms'.padStart(9)} ${'warm median'.padStart(12)} ${'ratio to node'.padStart(14)}`)
for (const [name, r] of Object.entries(results)) {
  r.warmRatioToNode = r.warmMedianMs / baseline
  console.log(`${name.padEnd(22)} ${r.coldMs.toFixed(0).padStart(9)} ${r.warmMedianMs.toFixed(0).padStart(12)} ${r.warmRatioToNode.toFixed(2).padStart(14)}`)
}
console.log(JSON.stringify({bench: 'startup', runs, results}))
