/**
 * Driver spike: a bare loop of the TRANSFER statement per client (no run log, no stats, no
 * retries), postgres.js against node-postgres (`pg`, pure JS), node-postgres's native client
 * (`pg-native`: libpq, the library pgbench uses) and the workload's own connection (`wire`:
 * src/lib/ledger/wire/connection.ts in the same bare loop, and `wire+log`: the same with a run-log
 * write(2) per transfer as the workload does), against pgbench on the same throwaway
 * PostgreSQL: where does the client's CPU per transfer go when the workload's own code is taken
 * away? Runs alternate (pgbench, postgres.js, pg, pg-native, wire, wire+log) per round; each round's
 * ratio is against the pgbench run just before it. Reports, never asserts. The client CPU per
 * transfer is the process's (`process.cpuUsage`, all threads, libpq's included) over the run, and
 * its kernel (system) part; pgbench's from /usr/bin/time. BENCH_DRIVERS picks the clients
 * (default: pgbench,postgres.js,pg,pg-native,wire,wire+log; pg and pg-native only where installed).
 * Figures, including those of the earlier spike client's variants, and the native client's behaviour
 * on faults (native-probe.ts): RESULTS.md.
 *
 * `pg` and `pg-native` are not dependencies of atlas: install them anywhere (`npm install pg
 * pg-native` in some directory; pg-native's `libpq` addon builds against libpq-dev with
 * node-gyp: where npm skips its install script, `node-gyp rebuild --nodedir=/usr` in
 * node_modules/libpq) and point BENCH_PG_FROM at that directory. Without it only postgres.js and pgbench
 * run; without a built pg-native, `pg` runs and the native client is left out (said on stderr).
 * The native client is given libpq's own conninfo, the same parameters pgbench gets from its
 * environment (sslmode=verify-full, sslrootcert: libpq's TLS, not Node's).
 *
 *   BENCH_PG_FROM=/some/dir node --import tsx bench/workload/driver-spike.ts   (BENCH_CLIENTS, BENCH_SECONDS, BENCH_ROUNDS, BENCH_TLS, BENCH_DRIVERS)
 */
import {randomInt, randomUUID} from 'node:crypto'
import {closeSync, openSync, writeSync} from 'node:fs'
import {createRequire} from 'node:module'
import os from 'node:os'
import path from 'node:path'

import {connectLedger} from '../../src/lib/ledger/db.js'
import {attemptLine, outcomeLine} from '../../src/lib/ledger/runlog.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import * as q from '../../src/lib/ledger/sql.js'
import {WireConnection, type WireConnectOptions} from '../../src/lib/ledger/wire/connection.js'
import {type BenchServer, benchServer, runPgbench} from './server.js'

const clientCounts = (process.env.BENCH_CLIENTS ?? '1,4,8').split(',').map(Number)
const seconds = Number(process.env.BENCH_SECONDS ?? 6)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const accounts = 10_000
const maxAmount = 100
const drivers = new Set((process.env.BENCH_DRIVERS ?? 'pgbench,postgres.js,pg,pg-native,wire,wire+log').split(','))

interface PgClient {
  connect(): Promise<void>
  end(): Promise<void>
  query(config: {name?: string; text: string; values?: unknown[]}): Promise<{rowCount: number; rows: unknown[]}>
}
type PgModule = {Client: new (config: Record<string, unknown>) => PgClient; native: null | PgModule}
const pgModule = process.env.BENCH_PG_FROM
  ? (createRequire(path.join(path.resolve(process.env.BENCH_PG_FROM), 'index.js'))('pg') as PgModule)
  : undefined
/** `pg.native` is null when pg-native is not installed; it throws when its addon was not built */
const pgNative = (() => {
  if (!pgModule) return
  try {
    return pgModule.native ?? undefined
  } catch (error) {
    console.error(`pg-native left out: ${(error as Error).message.split('\n')[0]}`)
  }
})()
if (pgModule && !pgNative) console.error('pg-native left out: not installed beside pg')

/** libpq conninfo with what pgbench gets from its environment and PGOPTIONS */
const libpqConninfo = (server: BenchServer) =>
  [
    `host=${server.host}`,
    `port=${server.port}`,
    'user=atlas',
    'dbname=postgres',
    `sslmode=${server.libpqEnv.PGSSLMODE}`,
    ...(server.libpqEnv.PGSSLROOTCERT ? [`sslrootcert=${server.libpqEnv.PGSSLROOTCERT}`] : []),
    "options='-c default_transaction_isolation=serializable'",
  ].join(' ')

const params = (): [string, number, number, number, string] => {
  const from = randomInt(1, accounts + 1)
  let to = randomInt(1, accounts)
  if (to >= from) to++
  return [randomUUID(), from, to, randomInt(1, maxAmount + 1), 'us']
}

/** a transfer updates its two accounts' rows: anything else is not the statement the others run */
const transferred = (rows: readonly unknown[]) => {
  if (rows.length !== 2) throw new Error(`wire: a transfer returned ${rows.length} rows, not 2`)
}

/** the workload's connection options: the URL's user and database, the TLS options postgres.js is given */
const wireOptions = (server: BenchServer): WireConnectOptions => ({
  host: server.host,
  port: server.port,
  user: 'atlas',
  password: undefined,
  startup: {
    database: 'postgres',
    default_transaction_isolation: 'serializable',
    // eslint-disable-next-line unicorn/text-encoding-identifier-case -- PostgreSQL's name for it
    client_encoding: 'UTF8',
  },
  connectTimeoutMs: 10_000,
  tls: typeof server.postgresJsOptions.ssl === 'object' ? server.postgresJsOptions.ssl : false,
})

/** runs `one` in `clients` loops for `seconds`; tps and client CPU per transfer */
async function loop(clients: number, one: (client: number) => Promise<unknown>) {
  let done = 0
  const until = performance.now() + seconds * 1000
  // no garbage of the previous run's connections in this one's CPU
  globalThis.gc?.()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(
    Array.from({length: clients}, async (_, c) => {
      while (performance.now() < until) {
        // a serialization failure is tried again, up to 10 tries as pgbench --max-tries=10
        for (let tries = 1; ; tries++) {
          try {
            await one(c)
            break
          } catch (error) {
            if ((error as {code?: string}).code !== '40001' || tries === 10) throw error
          }
        }

        done++
      }
    }),
  )
  const elapsed = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  return {tps: done / elapsed, cpuUs: (cpu.user + cpu.system) / done, sysUs: cpu.system / done}
}

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
const loadAtStart = load()
const startedAt = new Date().toISOString()
const server = await benchServer()
try {
  const sql = await connectLedger(server.url, {max: 1})
  await initLedger(sql, {accounts, openingBalance: 1_000_000, allowNegativeBalances: false})
  await sql.end({timeout: 1})
  const {default: postgres} = await import('postgres')
  const {mkdtemp, rm} = await import('node:fs/promises')
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'atlas-wire-log-'))
  const rows: string[] = []
  for (const clients of clientCounts) {
    const sums = new Map<string, {cpu: number; ratios: number[]; sys: number; tps: number}>()
    let roundBase = 0
    const add = (name: string, r: {cpuUs?: number; sysUs?: number; tps: number}) => {
      const s = sums.get(name) ?? {tps: 0, cpu: 0, sys: 0, ratios: []}
      s.tps += r.tps / rounds
      s.cpu += (r.cpuUs ?? Number.NaN) / rounds
      s.sys += (r.sysUs ?? Number.NaN) / rounds
      // each round's ratio against the pgbench run just before it
      if (name === 'pgbench') roundBase = r.tps
      s.ratios.push(r.tps / roundBase)
      sums.set(name, s)
      console.error(
        `${clients} clients, ${name}: ${r.tps.toFixed(0)} tps, ${r.cpuUs?.toFixed(0)} µs (${r.sysUs?.toFixed(0)} system), load ${load()}`,
      )
    }

    for (let round = 0; round < rounds; round++) {
      add('pgbench', await runPgbench(server, {clients, seconds, accounts, maxAmount}))
      if (drivers.has('postgres.js')) {
        const pjs = postgres(server.postgresJsUrl, {
          ...server.postgresJsOptions,
          max: clients,
          fetch_types: false,
          prepare: true,
          onnotice() {},
          connection: {default_transaction_isolation: 'serializable'},
        })
        await Promise.all(Array.from({length: clients}, () => pjs`select 1`))
        add('postgres.js', await loop(clients, () => pjs.unsafe(q.TRANSFER, params(), {prepare: true})))
        await pjs.end({timeout: 1})
      }

      if (pgModule && drivers.has('pg')) {
        const conns = Array.from(
          {length: clients},
          () =>
            new pgModule.Client({
              connectionString: server.pgUrl,
              ssl: server.pgSsl,
              options: '-c default_transaction_isolation=serializable',
            }),
        )
        await Promise.all(conns.map((c) => c.connect()))
        add('pg', await loop(clients, (c) => conns[c].query({name: 'transfer', text: q.TRANSFER, values: params()})))
        await Promise.all(conns.map((c) => c.end()))
      }

      if (pgNative && drivers.has('pg-native')) {
        const conninfo = libpqConninfo(server)
        const conns = Array.from({length: clients}, () => new pgNative.Client({nativeConnectionString: conninfo}))
        await Promise.all(conns.map((c) => c.connect()))
        // libpq's TLS is not Node's: make sure the sessions are the ones pgbench has
        const {rows} = await conns[0].query({text: 'select ssl from pg_stat_ssl where pid = pg_backend_pid()'})
        if ((rows[0] as {ssl: boolean}).ssl !== (server.tls !== 'off')) throw new Error('pg-native: TLS not as asked')
        add(
          'pg-native',
          await loop(clients, (c) => conns[c].query({name: 'transfer', text: q.TRANSFER, values: params()})),
        )
        await Promise.all(conns.map((c) => c.end()))
      }

      for (const name of ['wire', 'wire+log'] as const) {
        if (!drivers.has(name)) continue
        // each connection prepares the statement on its first execution, outside the timed loop
        const conns = await Promise.all(
          Array.from({length: clients}, () => WireConnection.connect(wireOptions(server))),
        )
        await Promise.all(conns.map(async (c) => transferred(await c.execute(q.TRANSFER, params()))))
        if (name === 'wire+log') {
          // as the workload's run log: one write(2) per transfer, the last outcome and the next attempt
          const fd = openSync(path.join(logDir, `transfers-${clients}-${round}.log`), 'a')
          const last: string[] = Array.from({length: clients}, () => '')
          add(
            name,
            await loop(clients, async (c) => {
              const p = params()
              writeSync(
                fd,
                `${last[c]}${attemptLine({id: p[0], from: p[1], to: p[2], amount: p[3], originRegion: p[4]})}`,
              )
              transferred(await conns[c].execute(q.TRANSFER, p))
              last[c] = outcomeLine(p[0], 'applied')
            }),
          )
          closeSync(fd)
        } else {
          add(name, await loop(clients, async (c) => transferred(await conns[c].execute(q.TRANSFER, params()))))
        }

        for (const c of conns) c.end()
      }
    }

    const base = sums.get('pgbench')!.tps
    for (const [name, s] of sums)
      rows.push(
        `| ${clients} | ${name} | ${s.tps.toFixed(0)} | ${(s.tps / base).toFixed(2)} | ${s.ratios.map((r) => r.toFixed(2)).join(', ')} | ${s.cpu.toFixed(0)} µs | ${s.sys.toFixed(0)} µs |`,
      )
  }

  await rm(logDir, {recursive: true, force: true})
  console.log(
    `${startedAt} – ${new Date().toISOString()}: ${seconds}s per run, ${rounds} rounds, TLS ${server.tls}, ${os.cpus().length} cores, Node ${process.version}, load average ${loadAtStart} → ${load()}`,
  )
  console.log('| clients | client | tps (mean) | / pgbench | per round | client CPU per transfer | of which system |')
  console.log('| --- | --- | --- | --- | --- | --- | --- |')
  for (const r of rows) console.log(r)
} finally {
  await server.stop()
}
