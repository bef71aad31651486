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

const clients = Number(process.env.BENCH_CLIENTS ?? 8)
const seconds = Number(process.env.BENCH_SECONDS ?? 10)
const accounts = Number(process.env.BENCH_ACCOUNTS ?? 10_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
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
  const results: Array<{tool: string; tps: number; retries?: number; failed?: number}> = []
  for (let round = 0; round < rounds; round++) {
    const bench = await runner.run(
      'pgbench',
      ['-n', '-M', 'prepared', '-c', String(clients), '-j', String(clients), '-T', String(seconds), '--max-tries=10', '-f', script, '-h', pg.host, '-p', String(pg.port), '-U', 'atlas', 'postgres'],
      {env: {PGOPTIONS: '-c default_transaction_isolation=serializable'}, timeoutMs: (seconds + 60) * 1000},
    )
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(bench.stdout)?.[1])
    const retried = Number(/number of transactions retried: (\d+)/.exec(bench.stdout)?.[1] ?? 0)
    const failed = Number(/number of failed transactions: (\d+)/.exec(bench.stdout)?.[1] ?? 0)
    results.push({tool: 'pgbench', tps, retries: retried, failed})

    const workload = await runWorkload({db: pg.url, concurrency: clients, durationMs: seconds * 1000, runDir: path.join(tmp, `run-${round}`), originRegion: 'us', maxAmount, accounts})
    results.push({tool: 'atlas workload', tps: workload.stats.averageTps, retries: workload.stats.retries, failed: workload.stats.failed + workload.stats.unknown + workload.stats.rejected})
  }
  const mean = (tool: string) => {
    const xs = results.filter((r) => r.tool === tool).map((r) => r.tps)
    return xs.reduce((a, b) => a + b, 0) / xs.length
  }
  const ratio = mean('atlas workload') / mean('pgbench')
  console.log(`clients ${clients}, ${seconds}s per run, ${accounts} accounts, ${rounds} rounds, fsync on, PostgreSQL on ${os.cpus().length} cores shared with the client`)
  for (const r of results) console.log(`  ${r.tool.padEnd(15)} ${r.tps.toFixed(1).padStart(9)} tps   retries ${r.retries}   failed ${r.failed}`)
  console.log(`mean: atlas ${mean('atlas workload').toFixed(1)} tps, pgbench ${mean('pgbench').toFixed(1)} tps, ratio ${ratio.toFixed(3)} (goal >= 0.8)`)
  console.log(JSON.stringify({bench: 'workload', clients, seconds, accounts, results, ratio: Number(ratio.toFixed(3))}))
} finally {
  await pg.stop()
  await rm(tmp, {recursive: true, force: true})
}
