/**
 * Where the workload's client CPU per transfer goes, layer by layer, on one throwaway PostgreSQL
 * (TLS verify-full unless BENCH_TLS=off): one connection per client in a bare loop (`connection`:
 * the driver spike's `wire`), the transfer pool's statement alone in a bare loop (`pool`), the transfer function on it (`transfer`: retries, watchdog, the sent hook), and the
 * whole workload (`workload`: run log, stats, request generation). Alternating rounds; reports
 * CPU per transfer (process.cpuUsage) and tps, never asserts.
 *
 *   node --import tsx bench/workload/decompose.ts   (BENCH_CLIENTS=8, BENCH_SECONDS=5, BENCH_ROUNDS=2, BENCH_LAYERS)
 */
import {randomInt, randomUUID} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {connectLedger, tlsOptions} from '../../src/lib/ledger/db.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import * as q from '../../src/lib/ledger/sql.js'
import {transfer} from '../../src/lib/ledger/transfer.js'
import {WireConnection} from '../../src/lib/ledger/wire/connection.js'
import {connectTransferPool, loginOf} from '../../src/lib/ledger/wire/pool.js'
import {runWorkload} from '../../src/lib/ledger/workload/index.js'
import {benchServer} from './server.js'

const clients = Number(process.env.BENCH_CLIENTS ?? 8)
const seconds = Number(process.env.BENCH_SECONDS ?? 5)
const rounds = Number(process.env.BENCH_ROUNDS ?? 2)
const accounts = 10_000
/** which layers to run, e.g. transfer (default: all three) */
const layers = new Set((process.env.BENCH_LAYERS ?? 'connection,pool,transfer,workload').split(','))

const request = () => {
  const from = randomInt(1, accounts + 1)
  let to = randomInt(1, accounts)
  if (to >= from) to++
  return {id: randomUUID(), from, to, amount: randomInt(1, 101), originRegion: 'us'}
}

async function loop(one: (client: number) => Promise<unknown>): Promise<{cpuUs: number; tps: number}> {
  let done = 0
  const until = performance.now() + seconds * 1000
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(
    Array.from({length: clients}, async (_, client) => {
      while (performance.now() < until) {
        await one(client)
        done++
      }
    }),
  )
  const cpu = process.cpuUsage(cpu0)
  return {tps: done / ((performance.now() - t0) / 1000), cpuUs: (cpu.user + cpu.system) / done}
}

const server = await benchServer()
const tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-bench-decompose-'))
const load = () => os.loadavg()[0].toFixed(2)
console.log(`${new Date().toISOString()} ${clients} clients, ${seconds} s per run, TLS ${server.tls}, load ${load()}`)
try {
  const sql = await connectLedger(server.url, {max: 1})
  await initLedger(sql, {accounts, openingBalance: 1_000_000, allowNegativeBalances: false})
  await sql.end({timeout: 1})
  const sums = new Map<string, {cpu: number; n: number; tps: number}>()
  const add = (name: string, r: {cpuUs: number; tps: number}) => {
    const s = sums.get(name) ?? {cpu: 0, tps: 0, n: 0}
    sums.set(name, {cpu: s.cpu + r.cpuUs, tps: s.tps + r.tps, n: s.n + 1})
    console.log(
      `  ${name.padEnd(9)} ${r.tps.toFixed(0).padStart(6)} tps  ${r.cpuUs.toFixed(1).padStart(6)} µs/transfer  load ${load()}`,
    )
  }

  for (let round = 0; round < rounds; round++) {
    if (layers.has('connection')) {
      const {user, startup} = loginOf(tlsOptions(server.url).url)
      const tls = typeof server.postgresJsOptions.ssl === 'object' ? server.postgresJsOptions.ssl : false
      const connections = await Promise.all(
        Array.from({length: clients}, () =>
          WireConnection.connect({host: server.host, port: server.port, user, startup, tls, connectTimeoutMs: 10_000}),
        ),
      )
      add(
        'connection',
        await loop((client) => {
          const r = request()
          return connections[client].execute(q.TRANSFER, [r.id, r.from, r.to, r.amount, r.originRegion]).then(
            () => {},
            () => {},
          )
        }),
      )
      for (const c of connections) c.end()
    }

    const pool = await connectTransferPool(server.url, {max: clients})
    if (layers.has('pool'))
      add(
        'pool',
        await loop(() => {
          const r = request()
          return pool.unsafe(q.TRANSFER, [r.id, r.from, r.to, r.amount, r.originRegion]).then(
            () => {},
            () => {},
          )
        }),
      )
    if (layers.has('transfer')) add('transfer', await loop(() => transfer(pool, request())))
    await pool.end({timeout: 1})
    if (!layers.has('workload')) continue
    const cpu0 = process.cpuUsage()
    const result = await runWorkload({
      db: server.url,
      concurrency: clients,
      durationMs: seconds * 1000,
      runDir: path.join(tmp, `run-${round}`),
      originRegion: 'us',
    })
    const cpu = process.cpuUsage(cpu0)
    add('workload', {tps: result.stats.averageTps, cpuUs: (cpu.user + cpu.system) / result.stats.applied})
  }

  for (const [name, s] of sums)
    console.log(`${name.padEnd(9)} mean ${(s.tps / s.n).toFixed(0)} tps, ${(s.cpu / s.n).toFixed(1)} µs/transfer`)
} finally {
  await server.stop()
  await rm(tmp, {recursive: true, force: true})
}
