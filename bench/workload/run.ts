/**
 * `atlas workload` (direct to the database) against pgbench running the same
 * transfer statement (generated from src/lib/ledger/sql.ts TRANSFER) on the same
 * throwaway PostgreSQL (fsync on), same client count, same duration, both with
 * SERIALIZABLE as the session default and retries of serialization failures.
 * Runs alternate (pgbench, atlas, pgbench, atlas) to spread machine noise.
 * Goal: ratio (atlas tps / pgbench tps) >= 0.8. Reports, never asserts.
 *
 *   node --import tsx bench/workload/run.ts   (BENCH_CLIENTS, BENCH_SECONDS, BENCH_ACCOUNTS, BENCH_ROUNDS)
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {connectLedger} from '../../src/lib/ledger/db.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import * as q from '../../src/lib/ledger/sql.js'
import {runWorkload} from '../../src/lib/ledger/workload.js'
import {CommandRunner} from '../../src/lib/tools/runner.js'
import {startPostgres} from '../../test/helpers/postgres.js'

/** client counts to compare at, e.g. 1,4,8 */
const clientCounts = (process.env.BENCH_CLIENTS ?? '8').split(',').map(Number)
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const accounts = Number(process.env.BENCH_ACCOUNTS ?? 10_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
/** pgbench threads: 1 is pgbench's default (one thread multiplexing all clients, like Node's event loop); BENCH_PGBENCH_THREADS=clients gives it one thread per client */
const pgbenchThreads = Number(process.env.BENCH_PGBENCH_THREADS ?? 1)
const maxAmount = 100

/** The same statement, with pgbench variables in place of the bind parameters. */
function pgbenchScript(): string {
  const statement = q.TRANSFER.replace('$1', 'gen_random_uuid()')
    .replaceAll('$2', ':from_account')
    .replaceAll('$3', ':to_account')
    .replaceAll('$4', ':amount')
    .replaceAll('$5', "'us'")
    .replace(/\s*\n\s*/g, ' ')
  // the workload picks distinct accounts the same way: to is drawn from N-1 and shifted past from
  return [
    `\\set from_account random(1, ${accounts})`,
    `\\set to_account random(1, ${accounts - 1})`,
    '\\if :to_account >= :from_account',
    '\\set to_account :to_account + 1',
    '\\endif',
    `\\set amount random(1, ${maxAmount})`,
    `${statement};`,
    '',
  ].join('\n')
}

const pg = await startPostgres({settings: {max_connections: 100, shared_buffers: '128MB'}})
const tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-bench-workload-'))
try {
  const sql = await connectLedger(pg.url, {max: 1})
  await initLedger(sql, {accounts, openingBalance: 1_000_000, allowNegativeBalances: false})
  await sql.end({timeout: 1})
  const script = path.join(tmp, 'transfer.sql')
  await writeFile(script, pgbenchScript())
  const runner = new CommandRunner()
  const summary: Array<{clients: number; pgbenchTps: number; atlasTps: number; ratio: number; results: Array<{tool: string; tps: number; retries?: number; failed?: number}>}> = []
  for (const clients of clientCounts) {
    const results: Array<{tool: string; tps: number; retries?: number; failed?: number}> = []
    for (let round = 0; round < rounds; round++) {
      const bench = await runner.run(
        'pgbench',
        ['-n', '-M', 'prepared', '-c', String(clients), '-j', String(Math.min(clients, pgbenchThreads)), '-T', String(seconds), '--max-tries=10', '-f', script, '-h', pg.host, '-p', String(pg.port), '-U', 'atlas', 'postgres'],
        {env: {PGOPTIONS: '-c default_transaction_isolation=serializable'}, timeoutMs: (seconds + 60) * 1000},
      )
      const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(bench.stdout)?.[1])
      const retried = Number(/number of transactions retried: (\d+)/.exec(bench.stdout)?.[1] ?? 0)
      const failed = Number(/number of failed transactions: (\d+)/.exec(bench.stdout)?.[1] ?? 0)
      results.push({tool: 'pgbench', tps, retries: retried, failed})

      const runDir = path.join(tmp, `run-${clients}-${round}`)
      const workload = await runWorkload({db: pg.url, concurrency: clients, durationMs: seconds * 1000, runDir, originRegion: 'us', maxAmount, accounts})
      results.push({tool: 'atlas workload', tps: workload.stats.averageTps, retries: workload.stats.retries, failed: workload.stats.failed + workload.stats.unknown + workload.stats.rejected})
      await rm(runDir, {recursive: true, force: true})
    }
    const mean = (tool: string) => {
      const xs = results.filter((r) => r.tool === tool).map((r) => r.tps)
      return xs.reduce((a, b) => a + b, 0) / xs.length
    }
    summary.push({clients, pgbenchTps: Number(mean('pgbench').toFixed(1)), atlasTps: Number(mean('atlas workload').toFixed(1)), ratio: Number((mean('atlas workload') / mean('pgbench')).toFixed(3)), results})
  }
  console.log(`${seconds}s per run, ${accounts} accounts, ${rounds} alternating rounds, fsync on, pgbench threads ${pgbenchThreads}, ${os.cpus().length} cores shared by PostgreSQL and the client, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  for (const row of summary) {
    for (const r of row.results) console.log(`  clients ${String(row.clients).padStart(2)}  ${r.tool.padEnd(15)} ${r.tps.toFixed(1).padStart(9)} tps   retries ${r.retries}   failed ${r.failed}`)
    console.log(`  clients ${String(row.clients).padStart(2)}  mean: atlas ${row.atlasTps} tps / pgbench ${row.pgbenchTps} tps = ratio ${row.ratio} (goal >= 0.8)`)
  }
  console.log(JSON.stringify({bench: 'workload', seconds, accounts, pgbenchThreads, summary}))
} finally {
  await pg.stop()
  await rm(tmp, {recursive: true, force: true})
}
