/**
 * `atlas workload` (direct to the database) against pgbench running the same
 * transfer statement (generated from src/lib/ledger/sql.ts TRANSFER) on the same
 * throwaway PostgreSQL (fsync on), same client count, same duration, both with
 * SERIALIZABLE as the session default and retries of serialization failures.
 * Both reach it as the world does (TLS verify-full; BENCH_TLS=off: plain TCP), see server.ts.
 * Runs alternate (pgbench, atlas, pgbench, atlas) to spread machine noise.
 * Goal: ratio (atlas tps / pgbench tps) >= 0.9 (issue 16). Also reports each client's CPU per
 * transfer (the workload's from this process, pgbench's from /usr/bin/time): on a machine whose cores
 * the server needs, client CPU is what separates the two. Reports, never asserts.
 *
 *   node --import tsx bench/workload/run.ts   (BENCH_CLIENTS, BENCH_SECONDS, BENCH_ACCOUNTS, BENCH_ROUNDS, BENCH_TLS)
 */
import {readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {connectLedger} from '../../src/lib/ledger/db.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import {DEFAULT_PIPELINE} from '../../src/lib/ledger/workload/defaults.js'
import {runWorkload} from '../../src/lib/ledger/workload/index.js'
import {benchServer, runPgbench} from './server.js'

/** client counts to compare at, e.g. 1,4,8 */
const clientCounts = (process.env.BENCH_CLIENTS ?? '8').split(',').map(Number)
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const accounts = Number(process.env.BENCH_ACCOUNTS ?? 10_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
/** pgbench threads: 1 is pgbench's default (one thread multiplexing all clients, like Node's event loop); BENCH_PGBENCH_THREADS=clients gives it one thread per client */
const pgbenchThreads = Number(process.env.BENCH_PGBENCH_THREADS ?? 1)
const maxAmount = 100
/** the workload's transfers in flight per connection (--pipeline), each depth a run of its own in every round, e.g. 1,4; default: the workload's default and 1 */
const pipelineDepths = (process.env.BENCH_PIPELINE ?? `${DEFAULT_PIPELINE},1`).split(',').map(Number)

/**
 * CPU of this process's main thread alone (µs, Linux): the rest of process.cpuUsage() is V8's
 * helper threads (garbage collection, compilation) and libuv's pool. Clock ticks of 10 ms.
 */
function mainThreadCpuUs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10_000
  } catch {
    return undefined
  }
}

const pg = await benchServer()
const tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-bench-workload-'))
try {
  const sql = await connectLedger(pg.url, {max: 1})
  await initLedger(sql, {accounts, openingBalance: 1_000_000, allowNegativeBalances: false})
  await sql.end({timeout: 1})
  type Run = {
    clientCpuUsPerTx?: number
    clientSysUsPerTx?: number
    failed?: number
    mainThreadUsPerTx?: number
    retries?: number
    tool: string
    tps: number
  }
  const workloadTool = (pipeline: number) =>
    `atlas --pipeline ${pipeline}${pipeline === DEFAULT_PIPELINE ? ' (default)' : ''}`
  const summary: Array<{
    clients: number
    pgbenchCpuUsPerTx?: number
    pgbenchTps: number
    results: Run[]
    workload: Array<{
      atlasCpuUsPerTx?: number
      atlasMainThreadUsPerTx?: number
      atlasTps: number
      pipeline: number
      ratio: number
    }>
  }> = []
  for (const clients of clientCounts) {
    const results: Run[] = []
    for (let round = 0; round < rounds; round++) {
      const bench = await runPgbench(pg, {clients, seconds, accounts, maxAmount, threads: pgbenchThreads})
      results.push({
        tool: 'pgbench',
        tps: bench.tps,
        retries: bench.retries,
        failed: bench.failed,
        clientCpuUsPerTx: bench.cpuUs,
        clientSysUsPerTx: bench.sysUs,
      })

      for (const pipeline of pipelineDepths) {
        const runDir = path.join(tmp, `run-${clients}-${round}-${pipeline}`)
        // the workload runs in this process: its CPU is this process's over the run
        const cpu0 = process.cpuUsage()
        const main0 = mainThreadCpuUs()
        const workload = await runWorkload({
          db: pg.url,
          concurrency: clients,
          pipeline,
          durationMs: seconds * 1000,
          runDir,
          originRegion: 'us',
          maxAmount,
          accounts,
        })
        const cpu1 = process.cpuUsage(cpu0)
        const main1 = mainThreadCpuUs()
        const finished =
          workload.stats.acknowledged + workload.stats.failed + workload.stats.unknown + workload.stats.rejected
        results.push({
          tool: workloadTool(pipeline),
          tps: workload.stats.averageTps,
          retries: workload.stats.retries,
          failed: workload.stats.failed + workload.stats.unknown + workload.stats.rejected,
          clientCpuUsPerTx: (cpu1.user + cpu1.system) / finished,
          clientSysUsPerTx: cpu1.system / finished,
          mainThreadUsPerTx: main0 === undefined || main1 === undefined ? undefined : (main1 - main0) / finished,
        })
        await rm(runDir, {recursive: true, force: true})
      }
    }

    const mean = (tool: string) => {
      const xs = results.filter((r) => r.tool === tool).map((r) => r.tps)
      return xs.reduce((a, b) => a + b, 0) / xs.length
    }

    const meanCpu = (tool: string, key: 'clientCpuUsPerTx' | 'mainThreadUsPerTx' = 'clientCpuUsPerTx') => {
      const xs = results.filter((r) => r.tool === tool && r[key] !== undefined).map((r) => r[key]!)
      return xs.length > 0 ? Number((xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)) : undefined
    }

    summary.push({
      clients,
      pgbenchTps: Number(mean('pgbench').toFixed(1)),
      pgbenchCpuUsPerTx: meanCpu('pgbench'),
      workload: pipelineDepths.map((pipeline) => ({
        pipeline,
        atlasTps: Number(mean(workloadTool(pipeline)).toFixed(1)),
        ratio: Number((mean(workloadTool(pipeline)) / mean('pgbench')).toFixed(3)),
        atlasCpuUsPerTx: meanCpu(workloadTool(pipeline)),
        atlasMainThreadUsPerTx: meanCpu(workloadTool(pipeline), 'mainThreadUsPerTx'),
      })),
      results,
    })
  }

  console.log(
    `${seconds}s per run, ${accounts} accounts, ${rounds} alternating rounds, fsync on, TLS ${pg.tls}, pgbench threads ${pgbenchThreads}, ${os.cpus().length} cores shared by PostgreSQL and the client, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )
  for (const row of summary) {
    for (const r of row.results)
      console.log(
        `  clients ${String(row.clients).padStart(2)}  ${r.tool.padEnd(15)} ${r.tps.toFixed(1).padStart(9)} tps   retries ${r.retries}   failed ${r.failed}   client CPU ${r.clientCpuUsPerTx?.toFixed(1) ?? '?'} µs/transfer (system ${r.clientSysUsPerTx?.toFixed(1) ?? '?'}${r.mainThreadUsPerTx === undefined ? '' : `; main thread ${r.mainThreadUsPerTx.toFixed(1)}`})`,
      )
    for (const w of row.workload)
      console.log(
        `  clients ${String(row.clients).padStart(2)}  mean: ${workloadTool(w.pipeline)} ${w.atlasTps} tps / pgbench ${row.pgbenchTps} tps = ratio ${w.ratio} (goal >= 0.9); client CPU per transfer: atlas ${w.atlasCpuUsPerTx ?? '?'} µs (main thread ${w.atlasMainThreadUsPerTx ?? '?'} µs), pgbench ${row.pgbenchCpuUsPerTx ?? '?'} µs`,
      )
  }

  console.log(
    JSON.stringify({bench: 'workload', tls: pg.tls, seconds, accounts, pgbenchThreads, pipelineDepths, summary}),
  )
} finally {
  await pg.stop()
  await rm(tmp, {recursive: true, force: true})
}
