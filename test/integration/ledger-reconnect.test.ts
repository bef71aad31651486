import {expect} from 'chai'
import {randomUUID} from 'node:crypto'

import {connectLedger} from '../../src/lib/ledger/db.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import {transfer} from '../../src/lib/ledger/transfer.js'
import {connectTransferPool} from '../../src/lib/ledger/wire/pool.js'
import {sleep} from '../../src/lib/wait.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

/**
 * What a transfer does while no node is primary (the old primary SIGKILLed, the
 * standby not promoted yet): its statement waits for a connection, which postgres.js
 * keeps looking for among the hosts. Waiting is not sending: the attempt timeout
 * (meant for a node that took the statement and never answers) must neither cut
 * the wait short and renew the pool, nor make the outcome ambiguous.
 */
// both pools transfer() runs on: postgres.js (connectLedger: the service) and the workload's own (wire/pool.ts)
const pools = {'postgres.js': connectLedger, 'the transfer pool': connectTransferPool}

for (const [poolName, connect] of Object.entries(pools))
  describe(`a transfer while no node is primary (${poolName})`, function () {
    this.timeout(180_000)
    let primary: TestPostgres
    let standby: TestPostgres
    let sql: Awaited<ReturnType<typeof connect>> | undefined
    const request = () => ({id: randomUUID(), from: 1, to: 2, amount: 1, originRegion: 'us'})

    before(async () => {
      primary = await startPostgres()
      const setup = await connectLedger(primary.url, {max: 1})
      await initLedger(setup, {accounts: 5, openingBalance: 1000, allowNegativeBalances: false})
      await setup.end({timeout: 1})
      standby = await startPostgres({standbyOf: primary})
    })

    after(async () => {
      await sql?.end({timeout: 1}).catch(() => {})
      await Promise.all([primary?.stop().catch(() => {}), standby?.stop().catch(() => {})])
    })

    it('waits on one attempt for the promoted standby, and reports a transfer that never reached a primary as failed, not unknown', async () => {
      sql = await connect([primary.url, standby.url], {max: 2, connectTimeoutSeconds: 1})
      expect((await transfer(sql, request())).outcome).to.equal('applied')
      const {generation} = sql

      await primary.kill('SIGKILL')
      // the pool's idle connections see their sockets close
      await sleep(300)
      // an attempt timeout far below the time without a primary
      const retry = {attemptTimeoutMs: 300, deadlineMs: 30_000, maxAttempts: 50, maxDelayMs: 50}
      const waiting = transfer(sql, request(), {retry})
      await sleep(1500)
      const {default: postgres} = await import('postgres')
      const admin = postgres(standby.url, {max: 1, onnotice() {}})
      await admin.unsafe('SELECT pg_promote(true, 30)')
      await admin.end({timeout: 1})
      const found = await waiting
      expect(found.outcome, found.reason).to.equal('applied')
      // one attempt: the wait for a connection was not cut short, so nothing became ambiguous
      expect(found.attempts).to.equal(1)
      expect(sql.generation, 'the pool was renewed while nothing had been sent').to.equal(generation)

      // no primary at all until the transfer's deadline: nothing was ever sent, so it definitely did not commit
      await standby.kill('SIGKILL')
      await sleep(300)
      const never = await transfer(sql, request(), {retry: {...retry, deadlineMs: 1500}})
      expect(never.outcome, never.reason).to.equal('failed')
    })
  })
