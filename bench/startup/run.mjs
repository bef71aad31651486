// Start-up cost of the CLI, measured against `node -e 0` in the same run: wall time and CPU time
// (user + system, from /usr/bin/time; the goal, `atlas --help` <= 2.5x `node -e 0`, is in CPU time,
// which a busy machine distorts less than wall time).
// Cold = first run with empty oclif cache/data dirs; warm = median of repeated runs, the cases interleaved.
// Prints a table and a JSON line; never asserts (benchmarks are reported, not tested).
//   npm run build && node bench/startup/run.mjs   (BENCH_RUNS, BENCH_COMPARE, BENCH_DOCTOR)
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const runs = Number(process.env.BENCH_RUNS ?? 15)
const cli = path.join(root, 'bin', 'run.js')
const timeTool = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined

const cases = {
  'node -e 0': ['-e', '0'],
  'atlas --help': [cli, '--help'],
  'atlas up --help': [cli, 'up', '--help'],
  // BENCH_COMPARE=<another checkout, built>: its --help in the same sitting, for a before/after
  ...(process.env.BENCH_COMPARE
    ? {'compared --help': [path.join(path.resolve(process.env.BENCH_COMPARE), 'bin', 'run.js'), '--help']}
    : {}),
  // slow (it runs every tool's --version): only with BENCH_DOCTOR=1
  ...(process.env.BENCH_DOCTOR ? {'atlas doctor --json': [cli, 'doctor', '--json']} : {}),
}

function timeOnce(args, env) {
  const started = process.hrtime.bigint()
  const [cmd, argv] = timeTool ? [timeTool, ['-f', 'CPU %U %S', process.execPath, ...args]] : [process.execPath, args]
  const result = spawnSync(cmd, argv, {env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'})
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (result.status !== 0 && !(args.includes('doctor') && result.status === 3))
    throw new Error(`${args.join(' ')} exited ${result.status}`)
  const cpu = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(result.stderr ?? '')
  return {ms, cpuMs: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : Number.NaN}
}

// /usr/bin/time counts in 10 ms steps: the mean over many runs is finer than any one run
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

// measures the built CLI: run `npm run build` first
const home = mkdtempSync(path.join(os.tmpdir(), 'atlas-bench-'))
const env = {
  ...process.env,
  XDG_CACHE_HOME: path.join(home, 'cache'),
  XDG_DATA_HOME: path.join(home, 'data'),
  XDG_CONFIG_HOME: path.join(home, 'config'),
}
const samples = Object.fromEntries(
  Object.keys(cases).map((name) => [name, {cold: timeOnce(cases[name], env), warm: []}]),
)
for (let i = 0; i < runs; i++)
  for (const [name, args] of Object.entries(cases)) samples[name].warm.push(timeOnce(args, env))
rmSync(home, {recursive: true, force: true})

const results = {}
for (const [name, s] of Object.entries(samples)) {
  results[name] = {
    coldMs: s.cold.ms,
    warmMedianMs: median(s.warm.map((w) => w.ms)),
    warmMeanCpuMs: mean(s.warm.map((w) => w.cpuMs)),
    warmMinMs: Math.min(...s.warm.map((w) => w.ms)),
    warmMaxMs: Math.max(...s.warm.map((w) => w.ms)),
  }
}

const baseline = results['node -e 0']
console.log(
  `${os.cpus().length} cores, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}, ${runs} warm runs per case`,
)
console.log(
  `${'case'.padEnd(22)} ${'cold ms'.padStart(9)} ${'warm median'.padStart(12)} ${'wall ratio'.padStart(11)} ${'mean cpu ms'.padStart(12)} ${'cpu ratio (goal <= 2.5)'.padStart(24)}`,
)
for (const [name, r] of Object.entries(results)) {
  r.warmRatioToNode = r.warmMedianMs / baseline.warmMedianMs
  r.cpuRatioToNode = r.warmMeanCpuMs / baseline.warmMeanCpuMs
  console.log(
    `${name.padEnd(22)} ${r.coldMs.toFixed(0).padStart(9)} ${r.warmMedianMs.toFixed(0).padStart(12)} ${r.warmRatioToNode.toFixed(2).padStart(11)} ${r.warmMeanCpuMs.toFixed(0).padStart(12)} ${r.cpuRatioToNode.toFixed(2).padStart(24)}`,
  )
}

console.log(JSON.stringify({bench: 'startup', runs, loadAverage: os.loadavg(), results}))
