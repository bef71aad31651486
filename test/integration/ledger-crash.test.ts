import {expect} from 'chai'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import postgres from 'postgres'

import {connectLedger} from '../../src/lib/ledger/db.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import * as q from '../../src/lib/ledger/sql.js'
import {transfer} from '../../src/lib/ledger/transfer.js'
import {verifyLedger} from '../../src/lib/ledger/verify/index.js'
import {startWorkload} from '../../src/lib/ledger/workload/index.js'
import {sleep} from '../../src/lib/wait.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

type Admin = ReturnType<typeof postgres>

/** with `missing`: every commit that wrote something waits for a synchronous standby that never comes */
async function synchronousStandbyMissing(admin: Admin, missing: boolean): Promise<void> {
  await admin.unsafe(
    missing ? `ALTER SYSTEM SET synchronous_standby_names = 'nobody'` : 'ALTER SYSTEM RESET synchronous_standby_names',
  )
  await admin.unsafe('SELECT pg_reload_conf()')
}

/** the pid of the first backend matching `where` (SQL on pg_stat_activity), waited for up to 10 s (a busy machine) */
async function backendWhere(admin: Admin, where: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const rows = await admin.unsafe(`SELECT pid FROM pg_stat_activity WHERE ${where}`)
    if (rows.length > 0) return rows[0].pid as number
    await sleep(50)
  }

  throw new Error(`no backend where ${where}`)
}

describe('PostgreSQL SIGKILLed mid-workload and restarted', function () {
  this.timeout(180_000)
  let pg: TestPostgres
  let tmp: string

  beforeEach(async () => {
    pg = await startPostgres()
    tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-crash-test-'))
    const sql = await connectLedger(pg.url, {max: 1})
    await initLedger(sql, {accounts: 50, openingBalance: 100_000, allowNegativeBalances: false})
    await sql.end({timeout: 1})
  })

  afterEach(async () => {
    await pg?.stop()
    if (tmp) await rm(tmp, {recursive: true, force: true})
  })

  async function crashDuringWorkload(
    retry: {maxAttempts: number; maxDelayMs?: number},
    resolveUnknown: boolean,
    pipeline = 1,
  ) {
    const runDir = path.join(tmp, 'run')
    const handle = await startWorkload({
      db: pg.url,
      concurrency: 8,
      pipeline,
      durationMs: 4000,
      runDir,
      originRegion: 'us',
      retry: {baseDelayMs: 20, ...retry},
      resolveUnknown,
    })
    // let it commit for a while, then crash the server while transfers are in flight: a session holding
    // the accounts table keeps every worker's next transfer sent and waiting inside the server (on busy
    // cores the workers could otherwise all be between transfers at the moment of the kill)
    await handle.waitForAcknowledgedAfter(new Date(Date.now() + 700), {timeoutMs: 10_000})
    const blocker = postgres(pg.url, {max: 2, onnotice() {}})
    const session = await blocker.reserve()
    await session`BEGIN`
    await session`LOCK TABLE accounts IN EXCLUSIVE MODE`
    const waiting = async () =>
      (
        await blocker`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'`.catch(() => [
          {n: 0},
        ])
      )[0].n as number
    for (let i = 0; i < 100 && (await waiting()) === 0; i++) await sleep(50)
    const killedAt = new Date()
    await pg.kill('SIGKILL')
    await blocker.end({timeout: 0}).catch(() => {})
    await sleep(500)
    await pg.restart()
    const recoveredAt = await handle.waitForAcknowledgedAfter(killedAt, {timeoutMs: 20_000})
    const result = await handle.done
    if (process.env.ATLAS_TEST_DEBUG) console.log({killedAt, recoveredAt, endedAt: result.endedAt, stats: result.stats})
    return {runDir, result, killedAt, recoveredAt}
  }

  it('without retries: in-flight commits are reported unknown (never failed), and verify proves no acknowledged transfer was lost', async () => {
    const {runDir, result, killedAt, recoveredAt} = await crashDuringWorkload({maxAttempts: 1}, false)
    expect(recoveredAt.getTime()).to.be.greaterThan(killedAt.getTime())
    expect(result.stats.acknowledged).to.be.greaterThan(50)
    // SIGKILL while 8 workers are committing: some COMMITs were in flight
    expect(result.stats.unknown, JSON.stringify(result.stats)).to.be.greaterThan(0)
    const log = await readFile(result.runLog, 'utf8')
    expect(log.split('\n').filter((l) => l.startsWith('unknown\t'))).to.have.length(result.stats.unknown)

    const verdict = await verifyLedger({db: pg.url, runLogs: [runDir]})
    expect(verdict.ok, JSON.stringify(verdict.violations)).to.equal(true)
    const ids = verdict.summary.runLogIds!
    expect(ids.acknowledged).to.equal(result.stats.acknowledged)
    expect(ids.unknown).to.equal(result.stats.unknown)
    // each unknown outcome is resolved by the verifier one way or the other
    expect(ids.unknownCommitted + ids.unknownNotCommitted).to.equal(ids.unknown)
  })

  it('with retries: the idempotency key resolves lost commits, nothing acknowledged is lost, conservation holds', async () => {
    const {runDir, result} = await crashDuringWorkload({maxAttempts: 40, maxDelayMs: 200}, true)
    expect(result.stats.retries).to.be.greaterThan(0)
    // unknown outcomes left at the end of the run were settled by a retry under the same key
    expect(result.stats.unknownResolved).to.equal(result.stats.unknown)
    const verdict = await verifyLedger({db: pg.url, runLogs: [runDir]})
    expect(verdict.ok, JSON.stringify(verdict.violations)).to.equal(true)
    expect(verdict.summary.runLogIds!.acknowledged).to.equal(result.stats.acknowledged + result.stats.unknownResolved)
    expect(verdict.summary.runLogIds!.unknown).to.equal(0)
    expect(verdict.summary.balanceTotal).to.equal(verdict.summary.mintedTotal)
  })

  for (const pipeline of [1, 3]) {
    const how = pipeline === 1 ? 'one transfer per connection' : `${pipeline} transfers pipelined on each connection`
    it(`unknown outcomes are settled after the run by retrying under the same key (resolveUnknown), ${how}`, async () => {
      const {runDir, result} = await crashDuringWorkload({maxAttempts: 1}, true, pipeline)
      // the crash took the transfers in flight with it: several per connection when pipelined
      expect(result.stats.unknown, JSON.stringify(result.stats)).to.be.above(pipeline === 1 ? 0 : 8)
      expect(result.stats.unknownResolved).to.equal(result.stats.unknown)
      const verdict = await verifyLedger({db: pg.url, runLogs: [runDir]})
      expect(verdict.ok, JSON.stringify(verdict.violations)).to.equal(true)
      expect(verdict.summary.runLogIds!.unknown).to.equal(0)
      expect(verdict.summary.runLogIds!.acknowledged).to.equal(result.stats.acknowledged + result.stats.unknownResolved)
    })
  }

  it('a frozen (SIGSTOPped) server: an attempt that gets no answer ends as unknown within its bound, and the retry after thawing is safe', async () => {
    const sql = await connectLedger(pg.url, {max: 2})
    try {
      const request = {id: '6f1c1d2e-0000-4000-8000-000000000001', from: 1, to: 2, amount: 3, originRegion: 'us'}
      expect((await transfer(sql, {...request, id: '6f1c1d2e-0000-4000-8000-000000000000'})).outcome).to.equal(
        'applied',
      )
      await pg.kill('SIGSTOP')
      const started = Date.now()
      let frozen
      try {
        frozen = await transfer(sql, request, {retry: {maxAttempts: 1, attemptTimeoutMs: 300}})
      } finally {
        await pg.kill('SIGCONT')
      }

      expect(frozen.outcome).to.equal('unknown')
      expect(Date.now() - started).to.be.below(5000)
      const again = await transfer(sql, request, {retry: {maxAttempts: 20, maxDelayMs: 200}})
      expect(again.outcome).to.be.oneOf(['applied', 'already_applied'])
      const [{n}] = await sql.unsafe('SELECT count(*)::int AS n FROM transfers WHERE id = $1', [request.id])
      expect(n).to.equal(1)
    } finally {
      await sql.end({timeout: 1})
    }
  })

  it('a transfer committed only on the primary (its wait for the synchronous standby cut short) is not reported already applied until it is replicated', async () => {
    // a synchronous standby that never comes: every commit that wrote something waits for it
    const admin = postgres(pg.url, {max: 2, onnotice() {}})
    const sql = await connectLedger(pg.url, {max: 2})
    const request = {id: '6f1c1d2e-0000-4000-8000-0000000000aa', from: 1, to: 2, amount: 3, originRegion: 'us'}
    try {
      await synchronousStandbyMissing(admin, true)
      // the first attempt commits on the primary and waits for the standby...
      const first = admin
        .unsafe(q.TRANSFER, [request.id, request.from, request.to, request.amount, request.originRegion])
        .catch((error: Error) => error)
      const waiting = await backendWhere(admin, `wait_event = 'SyncRep'`)
      // ...and its backend is terminated (as when a primary cut off from its standbys is shut down): PostgreSQL
      // lets the commit go without the standby, so it is visible on this primary only
      await admin`SELECT pg_terminate_backend(${waiting})`
      expect(await first).to.be.instanceOf(Error)
      const [{visible}] = await admin`SELECT count(*)::int AS visible FROM transfers WHERE id = ${request.id}`
      expect(visible).to.equal(1)

      // the retry finds the key, but the confirming read waits for the standby like a commit: never "already applied"
      const retried = await transfer(sql, request, {
        retry: {maxAttempts: 3, attemptTimeoutMs: 500, deadlineMs: 3000, baseDelayMs: 10, maxDelayMs: 50},
      })
      expect(retried.outcome, JSON.stringify(retried)).to.equal('unknown')

      // once the standby condition is lifted, the same request is settled as already applied
      await synchronousStandbyMissing(admin, false)
      const settled = await transfer(sql, request, {retry: {maxAttempts: 20, maxDelayMs: 200}})
      expect(settled.outcome).to.equal('already_applied')
    } finally {
      await synchronousStandbyMissing(admin, false).catch(() => {})
      await sql.end({timeout: 1})
      await admin.end({timeout: 1})
    }
  })

  it('a transfer whose connection closes before its commit is answered is never applied on the strength of the rows it had sent', async () => {
    // several hosts (here the same server twice) and target_session_attrs: the pool postgres.js builds for a cluster
    const admin = postgres(pg.url, {max: 2, onnotice() {}})
    const sql = await connectLedger([pg.url, pg.url], {max: 1, applicationName: 'atlas-stale-answer'})
    const request = {id: '6f1c1d2e-0000-4000-8000-0000000000bb', from: 3, to: 4, amount: 3, originRegion: 'us'}
    const backendOf = async (where: string) =>
      backendWhere(admin, `application_name = 'atlas-stale-answer' AND ${where}`)

    try {
      await synchronousStandbyMissing(admin, true)
      // the pool's connection closes while idle: the transfer is then the first statement of a new connection
      await admin.unsafe('SELECT pg_terminate_backend($1)', [await backendOf(`state = 'idle'`)])
      await sleep(200)
      const outcome = transfer(sql, request, {
        retry: {maxAttempts: 3, attemptTimeoutMs: 3000, deadlineMs: 6000, baseDelayMs: 10, maxDelayMs: 50},
      })
      // its rows are sent, its commit waits for the standby; then the server ends the session without answering
      await admin.unsafe('SELECT pg_terminate_backend($1)', [await backendOf(`wait_event = 'SyncRep'`)])
      await sleep(200)
      // the next statement on the pool reconnects the same connection object
      await sql.unsafe('SELECT 1').catch(() => {})
      const result = await outcome
      expect(result.outcome, JSON.stringify(result)).to.not.equal('applied')
      expect(result.outcome).to.equal('unknown')
    } finally {
      await synchronousStandbyMissing(admin, false).catch(() => {})
      await sql.end({timeout: 1})
      await admin.end({timeout: 1})
    }
  })
})
