import {expect} from 'chai'
import {randomUUID} from 'node:crypto'

import {connectLedger, type LedgerSql} from '../../src/lib/ledger/db.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

/**
 * The ledger pool's hook that tells a statement written to a connection from one that never
 * left the queue (watchSent: a statement never written cannot have committed), with several
 * watchers of one key (a redelivered request), and the errors of its statements without
 * postgres.js's per-query stack capture.
 */
describe('ledger pool (real PostgreSQL)', function () {
  this.timeout(120_000)
  let pg: TestPostgres
  let sql: LedgerSql

  before(async () => {
    pg = await startPostgres()
    sql = await connectLedger(pg.url, {max: 2})
  })

  after(async () => {
    await sql?.end({timeout: 1})
    await pg?.stop()
  })

  const run = (key: string) => sql.unsafe('SELECT $1::text AS key', [key], {prepare: true})

  it('calls each watcher of a key once when its statement is written, and no longer after it stops watching', async () => {
    const key = randomUUID()
    const calls = {a: 0, b: 0, c: 0}
    const stopA = sql.watchSent!(key, () => calls.a++)
    const stopB = sql.watchSent!(key, () => calls.b++)
    const stopC = sql.watchSent!(key, () => calls.c++)
    stopB()
    stopB() // twice: still only b's registration is gone
    expect((await run(key))[0].key).to.equal(key)
    expect(calls).to.deep.equal({a: 1, b: 0, c: 1})
    stopA()
    // another statement with another key does not reach c
    await run(randomUUID())
    expect(calls.c).to.equal(1)
    await run(key)
    expect(calls).to.deep.equal({a: 1, b: 0, c: 2})
    stopC()
    await run(key)
    expect(calls).to.deep.equal({a: 1, b: 0, c: 2})
  })

  it('lets a watcher stop watching while it is being called (as a transfer does once its statement is sent)', async () => {
    const key = randomUUID()
    const seen: string[] = []
    const stops: Array<() => void> = []
    for (const name of ['first', 'second', 'third']) {
      stops.push(
        sql.watchSent!(key, () => {
          seen.push(name)
          stops[seen.length - 1]()
        }),
      )
    }

    await run(key)
    expect(seen).to.deep.equal(['first', 'second', 'third'])
    await run(key)
    expect(seen).to.have.length(3)
  })

  it("still reports a statement's SQLSTATE and message", async () => {
    const error = await sql
      .unsafe('SELECT $1::int', ['not a number'], {prepare: true})
      .catch((error_: unknown) => error_)
    expect(error).to.include({code: '22P02'})
    expect((error as Error).message).to.match(/invalid input syntax for type integer/)
  })
})
