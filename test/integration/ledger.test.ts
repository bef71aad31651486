import {expect} from 'chai'
import {randomUUID} from 'node:crypto'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import postgres from 'postgres'

import {connectLedger, type LedgerSql} from '../../src/lib/ledger/db.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import {transfer} from '../../src/lib/ledger/transfer.js'
import {verifyLedger} from '../../src/lib/ledger/verify/index.js'
import {runWorkload, startWorkload} from '../../src/lib/ledger/workload/index.js'
import {sleep} from '../../src/lib/wait.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

describe('ledger on a real PostgreSQL', function () {
  this.timeout(120_000)
  let pg: TestPostgres
  let sql: LedgerSql
  let tmp: string

  before(async () => {
    pg = await startPostgres()
    sql = await connectLedger(pg.url, {max: 10})
    tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-ledger-test-'))
  })

  after(async () => {
    await sql?.end({timeout: 1})
    await pg?.stop()
    if (tmp) await rm(tmp, {recursive: true, force: true})
  })

  it('init creates the schema and mints once; re-running is a no-op; other settings are refused', async () => {
    const first = await initLedger(sql, {accounts: 20, openingBalance: 1000, allowNegativeBalances: false})
    expect(first.minted).to.equal(true)
    expect(first.migrationsApplied).to.deep.equal([1])
    expect(first.mint.total).to.equal('20000')
    const again = await initLedger(sql, {accounts: 20, openingBalance: 1000, allowNegativeBalances: false})
    expect(again.minted).to.equal(false)
    expect(again.migrationsApplied).to.deep.equal([])
    const [{n}] = await sql.unsafe('SELECT count(*)::int AS n FROM accounts')
    expect(n).to.equal(20)
    let refused: Error | undefined
    try {
      await initLedger(sql, {accounts: 30, openingBalance: 1000, allowNegativeBalances: false})
    } catch (error) {
      refused = error as Error
    }

    expect(refused?.message).to.match(/already minted with different settings: accounts 20 \(asked 30\)/)
  })

  it('applies a transfer once: the same key again is "already applied" and moves nothing', async () => {
    const id = randomUUID()
    const request = {id, from: 1, to: 2, amount: 7, originRegion: 'us'}
    expect((await transfer(sql, request)).outcome).to.equal('applied')
    expect((await transfer(sql, request)).outcome).to.equal('already_applied')
    const rows = await sql.unsafe('SELECT id, balance::int AS balance FROM accounts WHERE id IN (1, 2) ORDER BY id')
    expect(rows.map((r) => r.balance)).to.deep.equal([993, 1007])
    const reused = await transfer(sql, {...request, amount: 8})
    expect(reused.outcome).to.equal('rejected')
    expect(reused.reason).to.match(/idempotency key/)
  })

  it('rejects insufficient funds and unknown accounts without changing anything', async () => {
    const poor = await transfer(sql, {id: randomUUID(), from: 3, to: 4, amount: 5000, originRegion: 'us'})
    expect(poor.outcome).to.equal('rejected')
    expect(poor.sqlstate).to.equal('23514')
    const ghost = await transfer(sql, {id: randomUUID(), from: 3, to: 999, amount: 5, originRegion: 'us'})
    expect(ghost.outcome).to.equal('rejected')
    expect(ghost.sqlstate).to.equal('23503')
    const [{balance}] = await sql.unsafe('SELECT balance::int AS balance FROM accounts WHERE id = 3')
    expect(balance).to.equal(1000)
  })

  it('after a concurrent workload, conservation, replay, durability and no-phantoms hold', async () => {
    // a database of its own: the transfers of the tests above are not in this run log
    await sql.unsafe('CREATE DATABASE workload_check')
    const url = pg.url.replace(/\/postgres$/, '/workload_check')
    const own = await connectLedger(url, {max: 2})
    await initLedger(own, {accounts: 20, openingBalance: 1000, allowNegativeBalances: false})
    const runDir = path.join(tmp, 'run1')
    const result = await runWorkload({db: url, concurrency: 8, count: 400, runDir, originRegion: 'us', maxAmount: 50})
    expect(result.stats.attempted).to.equal(400)
    expect(result.stats.acknowledged + result.stats.rejected).to.equal(400)
    expect(result.stats.unknown).to.equal(0)
    // contention on 20 accounts forces serialization retries
    const log = await readFile(result.runLog, 'utf8')
    expect(log.split('\n').filter((l) => l.startsWith('attempt\t'))).to.have.length(400)
    const verdict = await verifyLedger({sql: own, runLogs: [runDir]})
    await own.end({timeout: 1})
    expect(verdict.ok, JSON.stringify(verdict.violations)).to.equal(true)
    expect(verdict.summary.runLogIds!.acknowledged).to.equal(result.stats.acknowledged)
    expect(verdict.summary.transfers).to.equal(result.stats.applied)
    expect(verdict.checks.map((c) => [c.name, c.ok, c.skipped])).to.deep.include.members([
      ['conservation', true, undefined],
      ['replay', true, undefined],
      ['durability', true, undefined],
      ['phantoms', true, undefined],
    ])
  })

  it('--rate paces the workload, and waitForAcknowledgedAfter resolves with a transfer issued after the given time', async () => {
    const url = pg.url.replace(/\/postgres$/, '/workload_check')
    const started = Date.now()
    const handle = await startWorkload({
      db: url,
      concurrency: 4,
      count: 40,
      rate: 100,
      runDir: path.join(tmp, 'paced'),
      originRegion: 'us',
    })
    const marker = new Date(started + 200)
    const recovered = await handle.waitForAcknowledgedAfter(marker, {timeoutMs: 5000})
    const result = await handle.done
    // 40 transfers at 100/s take about 0.4 s, not the few milliseconds they would unpaced
    expect(Date.now() - started).to.be.at.least(350)
    expect(result.stats.attempted).to.equal(40)
    expect(recovered.getTime()).to.be.greaterThan(marker.getTime())
    // and once the workload has ended, a time after every acknowledgement can never be reached
    let error: Error | undefined
    await handle.waitForAcknowledgedAfter(new Date(), {timeoutMs: 1000}).catch((error_: Error) => (error = error_))
    expect(error?.message).to.match(/ended with no transfer acknowledged/)
  })

  it('--pipeline: connections carry several transfers at once (written before the one ahead is answered), and nothing else changes', async () => {
    // a database of its own: verify checks this run log against every stored transfer
    await sql.unsafe('CREATE DATABASE pipeline_check')
    const url = pg.url.replace(/\/postgres$/, '/pipeline_check')
    const pool = await connectLedger(url, {max: 2, applicationName: 'atlas-workload'})
    await initLedger(pool, {accounts: 100, openingBalance: 100_000, allowNegativeBalances: false})
    // which connection each transfer's statement was last written to (the pool's own report, as the
    // transfer function's watchdog gets it), and which transfers have settled
    const writtenTo = new Map<string, number>()
    const watched = new Proxy(pool, {
      get(target, prop) {
        if (prop !== 'watchSent') return Reflect.get(target, prop)
        return (key: string, onSent: (connection: number) => void) =>
          target.watchSent!(key, (connection) => {
            writtenTo.set(key, connection)
            onSent(connection)
          })
      },
    })
    const runDir = path.join(tmp, 'pipelined')
    const handle = await startWorkload({
      sql: watched,
      concurrency: 2,
      pipeline: 3,
      durationMs: 60_000,
      runDir,
      originRegion: 'us',
      onOutcome: ({id}) => writtenTo.delete(id),
    })
    const observer = postgres(url, {max: 2, onnotice() {}})
    const session = await observer.reserve()
    try {
      await handle.waitForAcknowledgedAfter(new Date(Date.now() + 300), {timeoutMs: 10_000})
      // block every transfer inside the server: none is answered while the lock is held
      await session`BEGIN`
      await session`LOCK TABLE accounts IN EXCLUSIVE MODE`
      let blocked: Array<{wait_event_type: null | string}> = []
      for (let i = 0; i < 100; i++) {
        blocked = await observer`SELECT wait_event_type FROM pg_stat_activity WHERE application_name = 'atlas-workload'`
        if (blocked.length === 2 && blocked.every((b) => b.wait_event_type === 'Lock') && writtenTo.size === 6) break
        await sleep(50)
      }

      // two connections (backends), each blocked on one statement...
      expect(blocked.map((b) => b.wait_event_type)).to.deep.equal(['Lock', 'Lock'])
      // ...and six transfers written to them and unanswered: the ones behind each blocked statement were
      // written without waiting for its answer
      expect(handle.stats().inFlight).to.equal(6)
      expect(writtenTo.size).to.equal(6)
      const perConnection = new Map<number, number>()
      for (const connection of writtenTo.values())
        perConnection.set(connection, (perConnection.get(connection) ?? 0) + 1)
      expect(perConnection.size).to.equal(2)
      expect(Math.max(...perConnection.values())).to.be.at.least(3)
    } finally {
      await session`COMMIT`.catch(() => {})
      session.release()
      await observer.end({timeout: 1})
    }

    const result = await handle.stop()
    await pool.end({timeout: 1})
    expect(result.stats.unknown).to.equal(0)
    expect(result.stats.failed).to.equal(0)
    expect(result.stats.acknowledged + result.stats.rejected).to.equal(result.stats.attempted)
    const verdict = await verifyLedger({db: url, runLogs: [runDir]})
    expect(verdict.ok, JSON.stringify(verdict.violations)).to.equal(true)
    expect(verdict.summary.runLogIds!.acknowledged).to.equal(result.stats.acknowledged)
  })

  it('verify without a run log still checks conservation and replay, and finds the transfers above', async () => {
    const verdict = await verifyLedger({sql})
    expect(verdict.ok).to.equal(true)
    expect(verdict.summary.transfers).to.equal(1)
    expect(verdict.checks.find((c) => c.name === 'durability')!.skipped).to.match(/no run log/)
  })
})
