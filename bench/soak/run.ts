/**
 * Soak benchmark on the local world: nothing is broken on purpose, so any Patroni leader or timeline
 * change is a spurious failover. Brings up a fresh world (`atlas up`), watches it idle for BENCH_IDLE,
 * then watches it under `atlas workload --duration BENCH_WORKLOAD` (default concurrency; BENCH_RATE
 * passes --rate), then verifies the ledger. The watch samples the health model (etcd + Patroni probes,
 * src/lib/world/local/health.ts) every ~250 ms and counts per phase Patroni leader and timeline
 * changes, members leaving the synchronous standby set or the cluster, etcd leader and term changes,
 * and scans what the Patroni logs gained for demotions, promotions, failover and lost-lock lines.
 * Also reports the workload's acknowledged count, the longest gap between acknowledged commits, the
 * verify result and the load average. Reports, never asserts; always tears the world down.
 *
 *   node --import tsx bench/soak/run.ts   (BENCH_IDLE=10m, BENCH_WORKLOAD=10m, BENCH_RATE unset)
 */
import {execa} from 'execa'
import {cp, mkdtemp, readFile, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import type {VerifyResult} from '../../src/lib/ledger/verify/model.js'
import type {WorkloadResult} from '../../src/lib/ledger/workload/types.js'

import {longestWriteGap} from '../../src/lib/chaos/timeline.js'
import {parseDuration} from '../../src/lib/duration.js'
import {fetchJson} from '../../src/lib/health/http.js'
import {LocalWorld} from '../../src/lib/world/local/index.js'
import {etcdArgs, patroniDynamicConfig, patroniUrl} from '../../src/lib/world/local/layout.js'
import {managedProcesses} from '../../src/lib/world/local/processes.js'
import {parseJsonOutput, REPO_ROOT} from '../../test/helpers/cli.js'
import {createTestWorld} from '../../test/helpers/world.js'
import {type PatroniLogScan, scanPatroniLog, SoakCounter, type SoakCounts, soakSample} from './count.js'

const idleMs = parseDuration(process.env.BENCH_IDLE ?? '10m')
const workloadMs = parseDuration(process.env.BENCH_WORKLOAD ?? '10m')
const rate = process.env.BENCH_RATE
const SAMPLE_INTERVAL_MS = 250

interface PhaseReport {
  counts: SoakCounts
  endedAt: string
  load: {end: number[]; max1m: number; start: number[]}
  patroniLogLines: string[]
  /** per region: what its Patroni log gained during the phase */
  patroniLogs: Record<string, Omit<PatroniLogScan, 'lines'>>
  /** slowest health probe (ms): a sample took this long */
  probeMaxMs: number
  seconds: number
  startedAt: string
}

const interrupted = new AbortController()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // the first signal ends the phase in progress; the world is still torn down (later signals are ignored until then)
  process.on(signal, () => {
    if (!interrupted.signal.aborted) console.error(`\n${signal}: stopping, tearing the world down`)
    interrupted.abort()
  })
}

const testWorld = await createTestWorld('bench-soak')
const world = new LocalWorld(testWorld.config, {baseDir: testWorld.baseDir})
const patroniLogFiles = managedProcesses(world.layout)
  .filter((p) => p.kind === 'patroni')
  .map((p) => ({region: p.region!, file: p.logFile}))
const phases: Record<string, PhaseReport> = {}
let workload: undefined | WorkloadResult
let workloadExit: number | undefined
let workloadStderr = ''
let maxGap: null | {fromIso: string; seconds: number; toIso: string} = null
let verify: undefined | {exitCode: number; ok?: boolean; summary?: VerifyResult['summary']; violations?: number}
let timing: Record<string, unknown> = {}
let error: string | undefined
let keptLogs: string | undefined
const startedAt = new Date()
const loadAtStart = os.loadavg()

/** sleeps ms, or less when the bench is interrupted */
function pause(ms: number): Promise<void> {
  return sleep(ms, undefined, {signal: interrupted.signal}).then(
    () => {},
    () => {},
  )
}

/** bytes of each Patroni log now: where a phase's part of the log starts */
async function logOffsets(): Promise<Record<string, number>> {
  const offsets: Record<string, number> = {}
  for (const {region, file} of patroniLogFiles)
    offsets[region] = await stat(file).then(
      (s) => s.size,
      () => 0,
    )
  return offsets
}

async function scanLogs(offsets: Record<string, number>) {
  const perRegion: Record<string, Omit<PatroniLogScan, 'lines'>> = {}
  const lines: string[] = []
  for (const {region, file} of patroniLogFiles) {
    const text = await readFile(file).catch(() => Buffer.alloc(0))
    const {lines: matched, ...rest} = scanPatroniLog(
      text.subarray(0, offsets[region]).toString('utf8'),
      text.subarray(offsets[region]).toString('utf8'),
    )
    perRegion[region] = rest
    lines.push(...matched.map((l) => `${region}: ${l}`))
  }

  return {perRegion, lines}
}

/** Watches until `until` settles (or the bench is interrupted): one health sample per ~250 ms. */
async function watchPhase(name: string, until: Promise<unknown>): Promise<void> {
  const counter = new SoakCounter()
  const offsets = await logOffsets()
  const start = Date.now()
  const load = {start: os.loadavg(), end: [] as number[], max1m: os.loadavg()[0]}
  const phase = {done: false}
  let probeMaxMs = 0
  void until.finally(() => {
    phase.done = true
  })
  console.log(`${name}: watching (load ${load.start.map((x) => x.toFixed(2)).join(' ')})`)
  let lastReport = start
  while (!phase.done && !interrupted.signal.aborted) {
    const tick = Date.now()
    counter.add(soakSample(await world.health()))
    probeMaxMs = Math.max(probeMaxMs, Date.now() - tick)
    load.max1m = Math.max(load.max1m, os.loadavg()[0])
    if (Date.now() - lastReport >= 60_000) {
      lastReport = Date.now()
      const c = counter.result()
      console.log(
        `${name}: ${((Date.now() - start) / 1000).toFixed(0)} s, ${c.samples} samples, leader changes ${c.patroniLeaderChanges}, timeline changes ${c.timelineChanges}, etcd leader changes ${c.etcdLeaderChanges}, load ${os.loadavg()[0].toFixed(2)}`,
      )
    }

    const wait = SAMPLE_INTERVAL_MS - (Date.now() - tick)
    if (wait > 0) await pause(wait)
  }

  load.end = os.loadavg()
  const logs = await scanLogs(offsets)
  phases[name] = {
    startedAt: new Date(start).toISOString(),
    endedAt: new Date().toISOString(),
    seconds: Math.round((Date.now() - start) / 100) / 10,
    counts: counter.result(),
    patroniLogs: logs.perRegion,
    patroniLogLines: logs.lines,
    probeMaxMs,
    load,
  }
}

/** `atlas workload` as a child of its own, so that an interrupt can stop it (SIGINT: it stops and closes its run log). */
function startWorkload() {
  const args = ['workload', '--duration', `${Math.round(workloadMs / 1000)}s`, '--json']
  if (rate) args.push('--rate', rate)
  const child = execa(process.execPath, [path.join(REPO_ROOT, 'bin', 'run.js'), ...args], {
    cwd: REPO_ROOT,
    env: {ATLAS_CONFIG: testWorld.configFile, NO_COLOR: '1'},
    extendEnv: true,
    reject: false,
    stdin: 'ignore',
    timeout: workloadMs + 180_000,
  })
  const stop = () => child.kill('SIGINT')
  interrupted.signal.addEventListener('abort', stop)
  return child.finally(() => interrupted.signal.removeEventListener('abort', stop))
}

/** acknowledgement times of new commits ("applied" lines of the run log) */
async function appliedTimes(runLog: string): Promise<number[]> {
  const times: number[] = []
  for (const line of (await readFile(runLog, 'utf8')).split('\n')) {
    if (line.startsWith('applied\t')) times.push(Number(line.split('\t')[2]))
  }

  return times
}

try {
  const upStarted = Date.now()
  const up = await testWorld.atlas(['up', '--json'])
  if (up.exitCode !== 0) throw new Error(`atlas up failed:\n${up.stderr}`)
  console.log(`atlas up: ${((Date.now() - upStarted) / 1000).toFixed(1)} s, base dir ${testWorld.baseDir}`)

  // the timing under test: what the code sets, and what Patroni runs with (its dynamic configuration)
  const [r0] = world.layout.regions
  const dcs = patroniDynamicConfig(world.layout)
  const etcd = etcdArgs(world.layout, r0)
  const arg = (name: string) => Number(etcd[etcd.indexOf(name) + 1])
  const running = await fetchJson<Record<string, unknown>>(`${patroniUrl(world.layout, r0)}/config`, {
    timeoutMs: 5000,
  }).catch((error_: Error): Record<string, unknown> => ({error: error_.message}))
  timing = {
    patroni: {ttl: dcs.ttl, loop_wait: dcs.loop_wait, retry_timeout: dcs.retry_timeout},
    patroniRunning: {ttl: running.ttl, loop_wait: running.loop_wait, retry_timeout: running.retry_timeout},
    etcd: {heartbeatIntervalMs: arg('--heartbeat-interval'), electionTimeoutMs: arg('--election-timeout')},
  }
  console.log(`timing: ${JSON.stringify(timing)}`)

  if (!interrupted.signal.aborted) await watchPhase('idle', pause(idleMs))

  if (!interrupted.signal.aborted) {
    const child = startWorkload()
    await watchPhase('workload', child)
    const result = await child
    workloadExit = result.exitCode ?? -1
    workloadStderr = result.stderr.split('\n').slice(-5).join('\n')
    if (workloadExit === 0 || result.stdout.trim().startsWith('{')) {
      try {
        workload = parseJsonOutput<WorkloadResult>({
          exitCode: workloadExit,
          stdout: result.stdout,
          stderr: result.stderr,
        })
      } catch {
        // reported through workloadExit and the stderr tail
      }
    }

    if (workload) {
      const acks = await appliedTimes(workload.runLog)
      const gap = acks.length > 1 ? longestWriteGap(acks, Math.min(...acks), Math.max(...acks)) : null
      if (gap) {
        const first = Math.min(...acks)
        maxGap = {
          seconds: gap.seconds,
          fromIso: new Date(first + gap.fromSeconds * 1000).toISOString(),
          toIso: new Date(first + gap.toSeconds * 1000).toISOString(),
        }
      }

      const checked = await testWorld.atlas(['verify', '--ledger-balance', '--run-dir', workload.runDir, '--json'], {
        timeoutMs: 600_000,
      })
      try {
        const v = parseJsonOutput<VerifyResult>(checked)
        verify = {exitCode: checked.exitCode, ok: v.ok, summary: v.summary, violations: v.violations.length}
      } catch {
        verify = {exitCode: checked.exitCode}
      }
    }
  }
} catch (error_) {
  error = (error_ as Error).message
  console.error(`soak: ${error}`)
} finally {
  // the world's logs (Patroni, PostgreSQL, etcd) outlive it, to explain whatever the counts show
  try {
    keptLogs = await mkdtemp(path.join(os.tmpdir(), 'atlas-soak-logs-'))
    await cp(world.layout.logDir, keptLogs, {recursive: true})
  } catch (error_) {
    keptLogs = `not kept: ${(error_ as Error).message}`
  }

  await testWorld.destroy().catch((error_: Error) => console.error(`teardown: ${error_.message}`))
}

const rows = Object.entries(phases).map(([name, p]) => {
  const c = p.counts
  const log = Object.values(p.patroniLogs)
  const sum = (f: (x: Omit<PatroniLogScan, 'lines'>) => number) => log.reduce((a, x) => a + f(x), 0)
  return `| ${name} | ${p.seconds.toFixed(0)} | ${c.samples} | **${c.spuriousFailovers}** | ${c.patroniLeaderChanges} | ${c.timelineChanges} | ${c.patroniLeaderlessSamples} | ${c.leftSyncSet} | ${c.leftCluster} | ${c.etcdLeaderChanges} / ${c.etcdTermChanges} | ${sum((x) => x.counts.demoted)} / ${sum((x) => x.counts.promoted)} / ${sum((x) => x.counts.failover)} / ${sum((x) => x.counts['leader-lock-lost'])} / ${sum((x) => x.lockOwnerChanges)} | ${sum((x) => x.counts['loop-time-exceeded'])} | ${sum((x) => x.linesScanned)} | ${c.probeMissSamples} | ${p.load.start[0].toFixed(2)} -> ${p.load.end[0].toFixed(2)} (max ${p.load.max1m.toFixed(2)}) |`
})
const table = [
  '| phase | s | samples | spurious failovers | Patroni leader changes | timeline changes | samples without leader | left sync set | left cluster | etcd leader / term changes | log: demoted / promoted / failover / lock lost / lock owner changes | log: loop time exceeded | log lines read | samples with a probe miss | load 1 min start -> end (max) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
]
const machine = `${startedAt.toISOString().slice(0, 10)}, ${os.cpus().length} cores, load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')} at start / ${os
  .loadavg()
  .map((x) => x.toFixed(2))
  .join(' ')} at end`
const s = workload?.stats
console.log(`\n${machine}\ntiming: ${JSON.stringify(timing)}\n\n${table.join('\n')}\n`)
console.log(
  workload
    ? `workload: ${s!.acknowledged} acknowledged, ${s!.unknown} unknown (${s!.unknownResolved} settled), ${s!.failed} failed, ${s!.retries} retries, ${s!.averageTps} tps, p99 ${s!.latencyMs.p99} ms, max ${s!.latencyMs.max} ms; longest gap between acknowledged commits ${maxGap ? `${maxGap.seconds.toFixed(3)} s (${maxGap.fromIso} -> ${maxGap.toIso})` : 'n/a'}`
    : `workload: ${workloadExit === undefined ? 'not run' : `exit ${workloadExit}, no result: ${workloadStderr}`}`,
)
console.log(
  `verify: ${verify ? `exit ${verify.exitCode}, ok ${verify.ok ?? 'n/a'}, ${verify.summary?.transfers ?? '?'} transfers, ${verify.violations ?? '?'} violations listed` : 'not run'}`,
)
for (const [name, p] of Object.entries(phases)) {
  for (const e of p.counts.events) console.log(`${name} event ${new Date(e.at).toISOString()} ${e.kind}: ${e.detail}`)
  for (const l of p.patroniLogLines) console.log(`${name} log ${l}`)
}

console.log(`world logs: ${keptLogs}`)
if (error) console.log(`error: ${error}`)
const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'last-run.json')
await writeFile(
  out,
  `${JSON.stringify(
    {
      at: startedAt.toISOString(),
      machine,
      idleMs,
      workloadMs,
      rate: rate ?? null,
      interrupted: interrupted.signal.aborted,
      error: error ?? null,
      timing,
      phases,
      workload: workload
        ? {stats: workload.stats, runDir: workload.runDir, stoppedBy: workload.stoppedBy, longestAckGap: maxGap}
        : {exitCode: workloadExit ?? null, stderrTail: workloadStderr},
      verify: verify ?? null,
      logs: keptLogs ?? null,
    },
    null,
    2,
  )}\n`,
)
console.log(`\nresult: ${out}`)
// the probes' keep-alive sockets must not hold a finished bench open
// eslint-disable-next-line n/no-process-exit, unicorn/no-process-exit -- a bench script, not the CLI
process.exit(0)
