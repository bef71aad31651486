import {expect} from 'chai'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {connectLedger} from '../../src/lib/ledger/db.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import {verifyLedger} from '../../src/lib/ledger/verify/index.js'
import {startWorkload} from '../../src/lib/ledger/workload/index.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

/**
 * A primary with a synchronous hot standby (real streaming replication). With both
 * in one multi-host --db the workload writes only to the primary; when the primary
 * is SIGKILLed and the standby promoted, it reconnects to the new primary by itself,
 * and verify on the promoted node proves no acknowledged transfer was lost.
 */
describe('failover: multi-host URL, SIGKILLed primary, promoted synchronous standby', function () {
  this.timeout(180_000)
  let primary: TestPostgres
  let standby: TestPostgres
  let tmp: string

  before(async () => {
    primary = await startPostgres()
    const sql = await connectLedger(primary.url, {max: 1})
    await initLedger(sql, {accounts: 20, openingBalance: 10_000, allowNegativeBalances: false})
    standby = await startPostgres({standbyOf: primary})
    // from now on every commit waits for the standby: an acknowledged transfer is on both nodes
    await sql.unsafe("ALTER SYSTEM SET synchronous_standby_names = '*'")
    await sql.unsafe('SELECT pg_reload_conf()')
    await sql.end({timeout: 1})
    tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-failover-test-'))
  })

  after(async () => {
    await Promise.all([primary?.stop(), standby?.stop()])
    if (tmp) await rm(tmp, {recursive: true, force: true})
  })

  it('writes only to the primary, follows the promotion, and loses no acknowledged transfer', async () => {
    const inRecovery = async (pg: TestPostgres) => {
      // a plain session: serializable (the ledger's session default) is refused on a hot standby
      const {default: postgres} = await import('postgres')
      const sql = postgres(pg.url, {max: 1, onnotice() {}})
      const [{r}] = await sql.unsafe('SELECT pg_is_in_recovery() AS r')
      await sql.end({timeout: 1})
      return r as boolean
    }

    expect(await inRecovery(standby)).to.equal(true)
    const runDir = path.join(tmp, 'run')
    // the standby is listed first: it must be skipped, not written to (25006)
    const handle = await startWorkload({
      db: [standby.url, primary.url],
      concurrency: 4,
      durationMs: 8000,
      runDir,
      originRegion: 'us',
      retry: {maxAttempts: 60, maxDelayMs: 200},
    })
    await handle.waitForAcknowledgedAfter(new Date(Date.now() + 500), {timeoutMs: 10_000})
    expect(handle.stats().acknowledged).to.be.greaterThan(0)

    const failedAt = new Date()
    await primary.kill('SIGKILL')
    const {default: postgres} = await import('postgres')
    const sql = postgres(standby.url, {max: 1, onnotice() {}})
    await sql.unsafe('SELECT pg_promote(true, 30)')
    await sql.end({timeout: 1})
    const recoveredAt = await handle.waitForAcknowledgedAfter(failedAt, {timeoutMs: 20_000})
    const result = await handle.done
    expect(recoveredAt.getTime() - failedAt.getTime()).to.be.below(15_000)
    expect(result.stats.acknowledged).to.be.greaterThan(0)

    const verdict = await verifyLedger({db: standby.url, runLogs: [runDir]})
    expect(verdict.ok, JSON.stringify(verdict.violations)).to.equal(true)
    expect(verdict.summary.runLogIds!.acknowledged).to.equal(result.stats.acknowledged)
    await primary.restart().catch(() => {})
  })
})
