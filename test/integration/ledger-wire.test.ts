import {expect} from 'chai'
import {randomUUID} from 'node:crypto'
import {chmod, chown, mkdtemp, rm, writeFile} from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import {PreconditionError} from '../../src/lib/errors.js'
import {connectLedger} from '../../src/lib/ledger/db.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import {transfer} from '../../src/lib/ledger/transfer.js'
import {WireConnection} from '../../src/lib/ledger/wire/connection.js'
import {connectTransferPool, promoted, type TransferPool} from '../../src/lib/ledger/wire/pool.js'
import {postgresOsUser} from '../../src/lib/proc/index.js'
import {sleep} from '../../src/lib/wait.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'
import {listenOnLoopback} from '../helpers/tcp.js'

/**
 * A TCP proxy that hands the server's bytes to the client one byte per read (each in its own turn
 * of the event loop): every message the client parses arrives split at every offset.
 */
async function oneByteProxy(target: number): Promise<{close(): Promise<void>; port: number}> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect({host: '127.0.0.1', port: target})
    client.setNoDelay(true)
    sockets.add(client).add(upstream)
    client.pipe(upstream)
    let chain = Promise.resolve()
    upstream.on('data', (chunk: Buffer) => {
      upstream.pause()
      chain = chain.then(async () => {
        for (const byte of chunk) {
          if (client.destroyed) return
          client.write(Buffer.from([byte]))
          await new Promise((resolve) => setImmediate(resolve))
        }

        upstream.resume()
      })
    })
    const end = () => {
      client.destroy()
      upstream.destroy()
    }

    client.on('close', end).on('error', end)
    upstream.on('close', () => void chain.then(end)).on('error', end)
  })
  return listenOnLoopback(server, sockets)
}

/**
 * The transfer path's own PostgreSQL client (wire/connection.ts, wire/pool.ts) against a real
 * server: answers, errors, pipelining, bytes split at every offset, the primary among several
 * hosts, SCRAM and MD5 logins, a connection lost with a statement in flight, and what the pool
 * tells transfer() (written or not, closed connections).
 */
describe('the transfer pool (own wire protocol, real PostgreSQL)', function () {
  this.timeout(180_000)
  let pg: TestPostgres
  let dir: string
  const pools: TransferPool[] = []
  const open = async (...args: Parameters<typeof connectTransferPool>) => {
    const pool = await connectTransferPool(...args)
    pools.push(pool)
    return pool
  }

  const url = (user: string, port = pg.port, password?: string) =>
    `postgres://${user}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@127.0.0.1:${port}/postgres`
  const request = (from = 1, to = 2, amount = 1) => ({id: randomUUID(), from, to, amount, originRegion: 'us'})

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-wire-'))
    await chmod(dir, 0o755) // the postgres OS user reads pg_hba.conf here
    const hba = path.join(dir, 'pg_hba.conf')
    await writeFile(
      hba,
      [
        'local all all trust',
        'host all scram_user 127.0.0.1/32 scram-sha-256',
        'host all md5_user 127.0.0.1/32 md5',
        'host all all 127.0.0.1/32 trust',
        'host replication all 127.0.0.1/32 trust',
        '',
      ].join('\n'),
    )
    const user = await postgresOsUser()
    if (user) await chown(hba, user.uid, user.gid)
    pg = await startPostgres({settings: {hba_file: hba}})
    const admin = await connectLedger(pg.url, {max: 1})
    await initLedger(admin, {accounts: 10, openingBalance: 1000, allowNegativeBalances: false})
    await admin.unsafe(`SET password_encryption = 'scram-sha-256'`)
    await admin.unsafe(`CREATE ROLE scram_user LOGIN PASSWORD 'sçram pässword'`)
    await admin.unsafe(`SET password_encryption = 'md5'`)
    await admin.unsafe(`CREATE ROLE md5_user LOGIN PASSWORD 'md5 secret'`)
    await admin.end({timeout: 1})
  })

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.end({timeout: 1}).catch(() => {})))
  })

  after(async () => {
    await pg?.stop()
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('applies a transfer, confirms it under the same key, and rejects an overdraft with its SQLSTATE', async () => {
    const sql = await open(pg.url, {max: 2})
    const first = request()
    expect((await transfer(sql, first)).outcome).to.equal('applied')
    // the retry finds the key and reads the stored transfer back (its row decoded from text)
    expect((await transfer(sql, first)).outcome).to.equal('already_applied')
    const reused = await transfer(sql, {...first, amount: 2})
    expect(reused.outcome).to.equal('rejected')
    expect(reused.reason).to.match(/different transfer/)
    const overdraft = await transfer(sql, request(3, 4, 5000))
    expect(overdraft).to.include({outcome: 'rejected', sqlstate: '23514'})
  })

  it('answers rows as text and reports an error with its SQLSTATE and message; the connection stays usable', async () => {
    const sql = await open(pg.url, {max: 1})
    const rows = await sql.unsafe('SELECT $1::text AS key, NULL::int AS nothing, $2::bigint * 2 AS twice', ['k', 21])
    expect(rows).to.deep.equal([{key: 'k', nothing: null, twice: '42'}])
    const failed = await sql.unsafe('SELECT 1 / $1::int AS x', [0]).then(
      () => {},
      (error: {code: string; message: string}) => error,
    )
    expect(failed).to.include({code: '22012', message: 'division by zero'})
    // a statement that does not parse fails with the parser's error, every time it is tried
    for (let i = 0; i < 2; i++) {
      const error = await sql.unsafe('SELEKT $1::int', [1]).then(
        () => {},
        (error_: {code: string}) => error_,
      )
      expect(error).to.include({code: '42601'})
    }

    expect(await sql.unsafe('SELECT $1::int + 1 AS n', [1])).to.deep.equal([{n: '2'}])
  })

  it('pipelines statements beyond its connections and answers each with its own rows, in bytes split at every offset', async () => {
    const proxy = await oneByteProxy(pg.port)
    try {
      const sql = await open(url('atlas', proxy.port), {max: 2})
      const keys = Array.from({length: 40}, (_, i) => `key-${i}-${'x'.repeat(i * 7)}`)
      const answers = await Promise.all(
        keys.map((key, i) =>
          i % 5 === 0
            ? sql.unsafe('SELECT 1 / $1::int AS x', [0]).then(
                () => 'no error',
                (error: {code: string}) => error.code,
              )
            : sql.unsafe('SELECT $1::text AS key, length($1::text) AS n', [key]).then((rows) => rows[0]),
        ),
      )
      for (const [i, key] of keys.entries())
        expect(answers[i]).to.deep.equal(i % 5 === 0 ? '22012' : {key, n: String(key.length)})
      // the transfer statements too, through the same split stream
      expect((await transfer(sql, request(5, 6))).outcome).to.equal('applied')
    } finally {
      await proxy.close()
    }
  })

  it('holds statements given while one is unanswered and writes them together, once, when it is answered', async () => {
    const sql = await open(pg.url, {max: 1})
    await sql.unsafe('SELECT $1::text AS key', ['warm-up'])
    const events: string[] = []
    const [a, b, c] = ['a', 'b', 'c'].map((name) => {
      const key = `${name}-${randomUUID()}`
      sql.watchSent(key, () => events.push(`${name} written`))
      return key
    })
    // the client's writes to this server (plain TCP here: the test server runs without TLS)
    let writes = 0
    const {write} = net.Socket.prototype
    net.Socket.prototype.write = function (this: net.Socket, ...args: unknown[]) {
      if (this.remotePort === pg.port) writes++
      return (write as (...a: unknown[]) => boolean).apply(this, args)
    } as typeof write
    try {
      const first = sql.unsafe('SELECT $1::text AS key, pg_sleep(0.3)', [a]).then(() => events.push('a answered'))
      await sleep(100)
      expect(events).to.deep.equal(['a written'])
      const later = [b, c].map((key) =>
        sql.unsafe('SELECT $1::text AS key', [key]).then(() => events.push(`${key[0]} answered`)),
      )
      await sleep(100)
      // a is still running: b and c have not left the client
      expect(events).to.deep.equal(['a written'])
      await Promise.all([first, ...later])
      expect(events).to.deep.equal(['a written', 'a answered', 'b written', 'c written', 'b answered', 'c answered'])
      expect(writes).to.equal(2)
    } finally {
      net.Socket.prototype.write = write
    }
  })

  it('a statement whose parameters cannot be encoded is refused whole: the statements after it get their own answers', async () => {
    const sql = await open(pg.url, {max: 1})
    await sql.unsafe('SELECT $1::text AS key', ['warm-up'])
    // a statement new to the connection (its Parse would be sent with it), and a parameter that is no text
    expect(() => sql.unsafe('SELECT $1::text AS never', [undefined as unknown as string])).to.throw(TypeError)
    const answers = Promise.all([
      sql.unsafe('SELECT 1 / $1::int AS x', [0]).then(
        () => 'no error',
        (error: {code: string}) => error.code,
      ),
      sql.unsafe('SELECT $1::text AS never', ['now it is']),
      sql.unsafe('SELECT $1::text AS key', ['after']),
    ])
    const settled = await Promise.race([answers, sleep(3000).then(() => 'still waiting after 3 s')])
    expect(settled).to.deep.equal(['22012', [{never: 'now it is'}], [{key: 'after'}]])
  })

  it('logs in with SCRAM-SHA-256 and MD5, and refuses a wrong password with exit 3 before any transfer', async () => {
    const scram = await open(url('scram_user', pg.port, 'sçram pässword'), {max: 1})
    expect(await scram.unsafe('SELECT current_user AS u', [])).to.deep.equal([{u: 'scram_user'}])
    const md5 = await open(url('md5_user', pg.port, 'md5 secret'), {max: 1})
    expect(await md5.unsafe('SELECT current_user AS u', [])).to.deep.equal([{u: 'md5_user'}])
    const refused = await connectTransferPool(url('scram_user', pg.port, 'wrong'), {max: 1}).then(
      () => {},
      (error: unknown) => error,
    )
    expect(refused).to.be.instanceOf(PreconditionError)
    expect(refused).to.include({code: 'DATABASE_LOGIN_REFUSED'})
  })

  it('refuses at once, with exit 3, a URL that requires TLS from a server without it', async () => {
    // the test server runs with ssl off: it answers the SSLRequest with 'N'
    const refused = await connectTransferPool(`${pg.url}?sslmode=require`, {max: 1}).then(
      (pool) => {
        pools.push(pool)
        return 'connected'
      },
      (error: unknown) => error,
    )
    expect(refused).to.be.instanceOf(PreconditionError)
    expect(refused).to.include({code: 'DATABASE_TLS_REJECTED'})
  })

  it('a connection lost with a statement in flight: the statement is rejected as CONNECTION_CLOSED, the close and the write were reported, and the pool goes on', async () => {
    const sql = await open(pg.url, {max: 1})
    const closed: number[] = []
    sql.onConnectionClosed((c) => closed.push(c))
    const written: number[] = []
    const key = randomUUID()
    const stop = sql.watchSent(key, (c) => written.push(c))
    const [{pid}] = await sql.unsafe('SELECT pg_backend_pid()::text AS pid', [])
    const inFlight = sql.unsafe('SELECT $1::text AS key, pg_sleep(30)', [key]).then(
      () => {},
      (error: {code: string}) => error.code,
    )
    await sleep(200)
    const admin = await connectLedger(pg.url, {max: 1})
    await admin.unsafe('SELECT pg_terminate_backend($1)', [Number(pid)])
    await admin.end({timeout: 1})
    expect(await inFlight).to.equal('CONNECTION_CLOSED')
    stop()
    expect(written).to.have.length(1)
    expect(closed).to.deep.equal(written)
    // the next statement opens a new connection
    expect((await sql.unsafe('SELECT 1 AS one', []))[0]).to.deep.equal({one: '1'})
  })

  it('a statement that never reached a connection is never reported written, and a renewal rejects it as not sent', async () => {
    // a port where nothing listens: the statement waits for a connection
    const idle = net.createServer()
    await new Promise<void>((resolve) => idle.listen(0, '127.0.0.1', resolve))
    const {port} = idle.address() as net.AddressInfo
    await new Promise<void>((resolve) => idle.close(() => resolve()))
    const sql = await open(url('atlas', port), {max: 1, connectTimeoutSeconds: 1})
    const key = randomUUID()
    let written = 0
    sql.watchSent(key, () => written++)
    const waiting = sql.unsafe('SELECT $1::text AS key', [key]).then(
      () => 'answered',
      (error: {code: string}) => error.code,
    )
    await sleep(500)
    sql.renew(sql.generation)
    expect(await waiting).to.equal('CONNECTION_ENDED')
    expect(written).to.equal(0)
  })

  it('a connection retired while idle is closed even when its server never answers the Terminate (frozen)', async () => {
    const sql = await open(pg.url, {max: 1})
    const closed: number[] = []
    sql.onConnectionClosed((c) => closed.push(c))
    expect(await sql.unsafe('SELECT 1 AS one', [])).to.deep.equal([{one: '1'}])
    await pg.kill('SIGSTOP')
    try {
      // the pool is renewed (as after a lost connection elsewhere): its idle connection is retired
      sql.renew(sql.generation)
      // its socket must not stay half-closed for as long as the node is frozen (or until TCP keepalive
      // gives up): that holds a descriptor per retired connection and keeps the process from exiting
      for (let i = 0; i < 300 && closed.length === 0; i++) await sleep(50)
    } finally {
      await pg.kill('SIGCONT')
    }

    expect(closed, 'closed while the server was frozen').to.have.length(1)
  })

  describe('a failover', () => {
    let primary: TestPostgres
    let standby: TestPostgres

    before(async () => {
      primary = await startPostgres()
      standby = await startPostgres({standbyOf: primary})
    })

    after(async () => {
      await Promise.all([primary?.stop().catch(() => {}), standby?.stop().catch(() => {})])
    })

    it('a session opened on a standby learns of its promotion from its next Sync (in_hot_standby), and writes there', async () => {
      await primary.kill('SIGKILL')
      const c = await WireConnection.connect({
        host: '127.0.0.1',
        port: standby.port,
        user: 'atlas',
        startup: {database: 'postgres'},
        connectTimeoutMs: 5000,
        tls: false,
      })
      try {
        expect(c.inHotStandby).to.equal(true)
        // no promotion: the watch ends on time with nothing found
        expect(await promoted([{connection: c}], 300)).to.equal(undefined)
        const watching = promoted([{connection: c}], 60_000)
        // postgres.js directly: the ledger's serializable default cannot run on a hot standby
        const {default: postgres} = await import('postgres')
        const admin = postgres(standby.url, {max: 1, onnotice() {}})
        await admin.unsafe('SELECT pg_promote(true, 30)')
        await admin.end({timeout: 1})
        expect((await watching)?.connection).to.equal(c)
        expect(c.inHotStandby).to.equal(false)
        // the same session, opened while the server was a standby, now writes
        expect(await c.execute('CREATE TABLE written_after_promotion (id int)', [])).to.deep.equal([])
      } finally {
        c.destroy()
      }
    })
  })

  describe('with a standby', () => {
    let standby: TestPostgres

    before(async () => {
      standby = await startPostgres({standbyOf: pg})
    })

    after(async () => {
      await standby?.stop()
    })

    it('connects only to the primary, whichever host comes first', async () => {
      const sql = await open([standby.url, pg.url], {max: 3})
      const answers = await Promise.all(
        Array.from({length: 6}, () => sql.unsafe('SELECT pg_is_in_recovery()::text AS standby', [])),
      )
      expect(answers.map((rows) => rows[0].standby)).to.deep.equal(Array.from({length: 6}, () => 'false'))
      expect((await transfer(sql, request(7, 8))).outcome).to.equal('applied')
    })
  })
})
