/**
 * What node-postgres's native client (`pg-native` on libpq) does in the situations the workload
 * has to classify: a multi-host conninfo with target_session_attrs=primary (a primary and its hot
 * standby), a SQL error, the backend terminated or killed while a statement or a COMMIT is in
 * flight, a backend that stops answering (query_timeout, cancel), a connect to an address that
 * never answers (a local socket that accepts and stays silent), new connections after a lost one;
 * and how long each of them holds the event loop. Prints what it sees; asserts nothing. Plain TCP
 * (TLS changes none of these paths in pg-native).
 *
 *   BENCH_PG_FROM=/dir/with/pg+pg-native node --import tsx bench/workload/native-probe.ts
 */
import {spawnSync} from 'node:child_process'
import {createRequire} from 'node:module'
import {type AddressInfo, createServer, type Socket} from 'node:net'
import path from 'node:path'
import {monitorEventLoopDelay} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

import {startPostgres} from '../../test/helpers/postgres.js'

interface NativeClient {
  connect(): Promise<void>
  end(): Promise<void>
  native: {cancel(cb: (error?: Error) => void): void; pq: {transactionStatus(): number}}
  on(event: 'error', listener: (error: Error) => void): void
  query(config: {
    name?: string
    query_timeout?: number
    text: string
    values?: unknown[]
  }): Promise<{rows: Record<string, unknown>[]}>
}
type NativeModule = {Client: new (config: Record<string, unknown>) => NativeClient}

if (!process.env.BENCH_PG_FROM) throw new Error('BENCH_PG_FROM: a directory with pg and pg-native installed')
const pg = createRequire(path.join(path.resolve(process.env.BENCH_PG_FROM), 'index.js'))('pg') as {
  native: NativeModule | null
}
if (!pg.native) throw new Error('pg-native is not installed beside pg')
const {Client} = pg.native

/** the fields an error carries (the ones the workload would look at) */
const shape = (error: unknown) => {
  const e = error as Record<string, unknown>
  return JSON.stringify({
    message: String(e.message).trim().replaceAll('\n', ' / '),
    code: e.code,
    severity: e.severity,
    ...(e.sqlState ? {sqlState: e.sqlState} : {}),
  })
}

/** how long a case may take before it is reported as never settled (the timer also keeps the loop alive) */
const settleMs = 10_000

/** runs `fn` and says how long it took and the longest event-loop stall meanwhile */
async function timed<T>(label: string, fn: () => Promise<T>): Promise<T | undefined> {
  const delay = monitorEventLoopDelay({resolution: 5})
  delay.enable()
  const t0 = performance.now()
  let timer: NodeJS.Timeout | undefined
  const never = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled after ${settleMs} ms`)), settleMs)
  })
  try {
    const value = await Promise.race([fn(), never])
    console.log(
      `${label}: ok in ${(performance.now() - t0).toFixed(0)} ms, event loop max stall ${(delay.max / 1e6).toFixed(0)} ms`,
    )
    return value
  } catch (error) {
    console.log(
      `${label}: rejected in ${(performance.now() - t0).toFixed(0)} ms, event loop max stall ${(delay.max / 1e6).toFixed(0)} ms: ${shape(error)}`,
    )
  } finally {
    clearTimeout(timer)
    delay.disable()
  }
}

const sleep = (ms: number) =>
  new Promise((resolve) => {
    setTimeout(resolve, ms)
  })

/**
 * Child mode (NATIVE_PROBE_RECONNECT=port:keep|end): a client whose backend is terminated while a
 * statement is in flight, ended or not, then 20 new connections with a query each.
 */
if (process.env.NATIVE_PROBE_RECONNECT) {
  const [port, variant] = process.env.NATIVE_PROBE_RECONNECT.split(':')
  const quiet = async () => {
    const client = new Client({nativeConnectionString: `host=127.0.0.1 port=${port} user=atlas dbname=postgres`})
    client.on('error', () => {})
    await client.connect()
    return client
  }

  const [lost, admin] = await Promise.all([quiet(), quiet()])
  const {pid} = (await lost.query({text: 'select pg_backend_pid() as pid'})).rows[0]
  // eslint-disable-next-line unicorn/prefer-top-level-await -- awaited after the backend is terminated
  const inFlight = lost.query({text: 'select pg_sleep(5)'}).catch(() => {})
  await sleep(300)
  await admin.query({text: 'select pg_terminate_backend($1)', values: [pid]})
  await inFlight
  if (variant === 'end') await lost.end()
  for (let i = 0; i < 20; i++) {
    const c = await quiet()
    await c.query({text: 'select $1::int', values: [i]})
    await c.end()
  }

  console.log('survived 20 new connections')
  // eslint-disable-next-line n/no-process-exit, unicorn/no-process-exit -- the child must not go on to start servers
  process.exit(0)
}

/** a TCP server that accepts connections and never says anything: a peer that hangs */
const silentSockets = new Set<Socket>()
const silent = createServer((socket) => {
  silentSockets.add(socket)
  socket.on('error', () => {})
})
await new Promise<void>((resolve) => {
  silent.listen(0, '127.0.0.1', resolve)
})
const silentPort = (silent.address() as AddressInfo).port

const primary = await startPostgres()
const standby = await startPostgres({standbyOf: primary})
const conninfo = (port: number, extra = '') => `host=127.0.0.1 port=${port} user=atlas dbname=postgres ${extra}`
/** a client with an 'error' listener (an unheard 'error' would end the process) that records what it hears */
const open = async (info: string) => {
  const client = new Client({nativeConnectionString: info})
  const heard: string[] = []
  client.on('error', (error) => heard.push(shape(error)))
  await client.connect()
  return {client, heard}
}

const backendPid = async (client: NativeClient) =>
  Number((await client.query({text: 'select pg_backend_pid() as pid'})).rows[0].pid)

/** the postmaster reinitialises after a backend crash: wait until it takes connections again */
async function untilAccepting(port: number) {
  for (let i = 0; i < 100; i++) {
    const ok = await open(conninfo(port)).then(
      async (c) => {
        await c.client.end()
        return true
      },
      () => false,
    )
    if (ok) return
    await sleep(100)
  }
}

try {
  const admin = await open(conninfo(primary.port))
  await admin.client.query({text: 'create table t (id int primary key); create table d (id int primary key)'})
  // a COMMIT that takes a while: the deferred trigger's sleep runs inside the COMMIT
  await admin.client.query({
    text: `create function slow_commit() returns trigger language plpgsql as $$ begin perform pg_sleep(3); return null; end $$;
      create constraint trigger slow_commit after insert on t deferrable initially deferred for each row execute function slow_commit()`,
  })

  console.log('\n## multi-host conninfo, target_session_attrs=primary (standby listed first)')
  for (const attrs of ['primary', 'read-write', 'any']) {
    const c = await timed(`target_session_attrs=${attrs}`, () =>
      open(
        `host=127.0.0.1,127.0.0.1 port=${standby.port},${primary.port} user=atlas dbname=postgres target_session_attrs=${attrs}`,
      ),
    )
    if (c) {
      const {rows} = await c.client.query({
        text: 'select pg_is_in_recovery() as standby, current_setting($1) as port',
        values: ['port'],
      })
      console.log(`  connected to port ${rows[0].port} (${rows[0].standby ? 'standby' : 'primary'})`)
      await c.client.end()
    }
  }

  await timed('only the standby, target_session_attrs=primary', () =>
    open(conninfo(standby.port, 'target_session_attrs=primary')),
  )
  const blackholed = await timed('a server that accepts and never answers, then the primary, connect_timeout=2', () =>
    open(
      `host=127.0.0.1,127.0.0.1 port=${silentPort},${primary.port} user=atlas dbname=postgres connect_timeout=2 target_session_attrs=primary`,
    ),
  )
  await blackholed?.client.end()

  console.log(
    "\n## the connect runs in libuv's thread pool (4 threads): 4 connects that hang, and a file read meanwhile",
  )
  const hanging = Array.from({length: 4}, () =>
    open(`host=127.0.0.1 port=${silentPort} user=atlas dbname=postgres connect_timeout=3`).catch(() => {}),
  )
  await sleep(100)
  const {readFile} = await import('node:fs/promises')
  await timed('fs.readFile while 4 connects hang', () => readFile('/etc/hostname'))
  await Promise.all(hanging)

  console.log('\n## a SQL error')
  const c1 = await open(conninfo(primary.port))
  await timed('select 1/0', () => c1.client.query({text: 'select 1/0'}))
  await timed('insert a duplicate key (named statement)', async () => {
    await c1.client.query({name: 'ins', text: 'insert into d values ($1)', values: [1]})
    await c1.client.query({name: 'ins', text: 'insert into d values ($1)', values: [1]})
  })

  console.log('\n## backend terminated (pg_terminate_backend) while a statement is in flight')
  {
    const {client, heard} = await open(conninfo(primary.port))
    const pid = await backendPid(client)
    // eslint-disable-next-line unicorn/prefer-top-level-await -- awaited below, after the fault is made
    const q = timed('select pg_sleep(5)', () => client.query({text: 'select pg_sleep(5)'}))
    await sleep(300)
    await admin.client.query({text: 'select pg_terminate_backend($1)', values: [pid]})
    await q
    await timed('next query on the same client', () => client.query({text: 'select 1'}))
    console.log(`  client 'error' events: ${heard.join(' ; ') || 'none'}`)
    // a lost client must be ended before any new connection is made (see the last section)
    await client.end()
  }

  console.log('\n## backend SIGKILLed while a statement is in flight, after a 22012 on the same connection')
  {
    const {client, heard} = await open(conninfo(primary.port))
    await client.query({text: 'select 1/0'}).catch(() => {})
    const pid = await backendPid(client)
    // eslint-disable-next-line unicorn/prefer-top-level-await -- awaited below, after the fault is made
    const q = timed('select pg_sleep(5)', () => client.query({text: 'select pg_sleep(5)'}))
    await sleep(300)
    process.kill(pid, 'SIGKILL')
    await q
    console.log(`  client 'error' events: ${heard.join(' ; ') || 'none'}`)
    // the postmaster's crash restart ends every session: the idle clients are lost as well
    await sleep(500)
    console.log(`  idle clients' 'error' events: ${[...admin.heard, ...c1.heard].join(' ; ') || 'none'}`)
    await Promise.all([client.end(), admin.client.end(), c1.client.end()])
  }

  await untilAccepting(primary.port)

  console.log('\n## backend SIGKILLed while a COMMIT is in flight (a named INSERT before it)')
  {
    const {client, heard} = await open(conninfo(primary.port))
    await client.query({text: 'begin'})
    await client.query({name: 'ins', text: 'insert into t values ($1)', values: [2]})
    const pid = await backendPid(client)
    // eslint-disable-next-line unicorn/prefer-top-level-await -- awaited below, after the fault is made
    const q = timed('commit', () => client.query({text: 'commit'}))
    await sleep(500)
    process.kill(pid, 'SIGKILL')
    await q
    console.log(`  client 'error' events: ${heard.join(' ; ') || 'none'}`)
    await client.end()
  }

  await untilAccepting(primary.port)
  {
    const {client} = await open(conninfo(primary.port))
    const {rows} = await client.query({text: 'select count(*)::int as n from t where id = 2'})
    console.log(
      `  the row of that transaction after crash recovery: ${rows[0].n === 1 ? 'committed' : 'not committed'}`,
    )
    await client.end()
  }

  console.log(
    '\n## backend stopped (SIGSTOP: the socket stays open, nothing answers); query_timeout 500 ms, then cancel',
  )
  {
    const {client, heard} = await open(conninfo(primary.port))
    const pid = await backendPid(client)
    process.kill(pid, 'SIGSTOP')
    await timed('select 1, query_timeout 500', () => client.query({text: 'select 1', query_timeout: 500}))
    console.log(
      `  libpq transaction status after the timeout: ${client.native.pq.transactionStatus()} (1 = a command still active)`,
    )
    await timed('next query on the same client (query_timeout 500)', () =>
      client.query({text: 'select 2 as two', query_timeout: 500}),
    )
    await timed(
      'native.cancel() (PQcancel, on the main thread)',
      () => new Promise<void>((resolve, reject) => client.native.cancel((e) => (e ? reject(e) : resolve()))),
    )
    process.kill(pid, 'SIGCONT')
    await sleep(500)
    await timed('a query after SIGCONT', () => client.query({text: 'select 3 as three', query_timeout: 2000}))
    console.log(`  client 'error' events: ${heard.join(' ; ') || 'none'}`)
    await client.end().catch(() => {})
  }

  console.log('\n## a connection lost with a statement in flight, then 20 new connections (in a child process)')
  for (const variant of ['keep', 'end']) {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: {...process.env, NATIVE_PROBE_RECONNECT: `${primary.port}:${variant}`},
      encoding: 'utf8',
      timeout: 60_000,
    })
    const said = `${child.stdout}${child.stderr}`.trim().split('\n').at(-1)
    console.log(
      `lost client ${variant === 'end' ? 'ended' : 'not ended'} before reconnecting: exit ${child.status ?? child.signal} (${said})`,
    )
  }
} finally {
  for (const socket of silentSockets) socket.destroy()
  silent.close()
  await standby.stop()
  await primary.stop()
}
