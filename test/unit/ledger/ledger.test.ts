import {expect} from 'chai'
import {randomUUID} from 'node:crypto'

import {decodeTransferMessage} from '../../../src/lib/cloud/queue.js'
import {parseDuration} from '../../../src/lib/duration.js'
import {combineDatabaseUrls, describeDatabase, type LedgerSql} from '../../../src/lib/ledger/db.js'
import {LEDGER_METRICS} from '../../../src/lib/ledger/metrics.js'
import {combineStatus, IdStatus, statusOf} from '../../../src/lib/ledger/runlog.js'
import * as q from '../../../src/lib/ledger/sql.js'
import {LatencyHistogram} from '../../../src/lib/ledger/stats.js'
import {
  backoffDelay,
  classifyError,
  DEFAULT_RETRY_POLICY,
  transfer,
  validateTransfer,
} from '../../../src/lib/ledger/transfer.js'

/** A stand-in pool whose statements answer from a script: each entry is rows or an error to throw. */
function scriptedSql(script: Array<Error | unknown[]>): LedgerSql & {calls: string[]} {
  const calls: string[] = []
  const fake = {
    calls,
    async unsafe(text: string) {
      calls.push(text === q.TRANSFER ? 'TRANSFER' : text === q.CONFIRM_TRANSFER ? 'CONFIRM' : text)
      const next = script.shift()
      if (next === undefined) throw new Error('script exhausted')
      if (next instanceof Error) throw next
      return next
    },
  }
  return fake as unknown as LedgerSql & {calls: string[]}
}

const err = (code: string, message = code) => Object.assign(new Error(message), {code})
const request = () => ({id: randomUUID(), from: 1, to: 2, amount: 5, originRegion: 'us'})
const fast = {baseDelayMs: 1, maxDelayMs: 2}

describe('ledger transfer (unit)', () => {
  it('retries serialization failures and reports applied', async () => {
    const sql = scriptedSql([err('40001'), err('40P01'), [{id: 1}, {id: 2}]])
    const result = await transfer(sql, request(), {retry: fast})
    expect(result).to.include({outcome: 'applied', attempts: 3, retries: 2})
  })

  it('a lost connection, then the key found on retry: already applied (the lost commit had happened)', async () => {
    const r = request()
    const sql = scriptedSql([err('CONNECTION_CLOSED'), [], [{from_account: '1', to_account: '2', amount: '5'}]])
    const result = await transfer(sql, r, {retry: fast})
    expect(result.outcome).to.equal('already_applied')
    expect(sql.calls).to.deep.equal(['TRANSFER', 'TRANSFER', 'CONFIRM'])
  })

  it('the key found by the transfer but not by the confirming read is not settled: retried, then applied', async () => {
    const sql = scriptedSql([err('CONNECTION_CLOSED'), [], [], [{id: 1}, {id: 2}]])
    const result = await transfer(sql, request(), {retry: fast})
    expect(result.outcome).to.equal('applied')
    expect(sql.calls).to.deep.equal(['TRANSFER', 'TRANSFER', 'CONFIRM', 'TRANSFER'])
  })

  it('once the key was found, retries that run out are unknown, never failed', async () => {
    const sql = scriptedSql([[], [], err('ECONNREFUSED')])
    const result = await transfer(sql, request(), {retry: {...fast, maxAttempts: 2}})
    expect(result.outcome).to.equal('unknown')
  })

  it('a lost connection that retries cannot settle is unknown, never failed', async () => {
    const sql = scriptedSql([err('ECONNRESET'), err('ECONNREFUSED'), err('57P03')])
    const result = await transfer(sql, request(), {retry: {...fast, maxAttempts: 3}})
    expect(result.outcome).to.equal('unknown')
  })

  it('when nothing was ever sent, exhausted retries are failed', async () => {
    const sql = scriptedSql([err('ECONNREFUSED'), err('40001')])
    const result = await transfer(sql, request(), {retry: {...fast, maxAttempts: 2}})
    expect(result.outcome).to.equal('failed')
  })

  it('insufficient funds and key reuse are rejected without retry', async () => {
    expect((await transfer(scriptedSql([err('23514')]), request())).outcome).to.equal('rejected')
    const reused = await transfer(scriptedSql([[], [{from_account: '1', to_account: '3', amount: '5'}]]), request())
    expect(reused).to.include({outcome: 'rejected', reason: 'idempotency key already used for a different transfer'})
  })

  it('an answer on a connection that closed before it settled is not trusted, even when a statement under the same key was written first on another', async () => {
    // a pool that behaves as connectLedger's over postgres.js 3.4.9: it reports where each statement under a key
    // is written and which connections close, and (the library's bug) can resolve a statement whose connection
    // closed with the rows the dead server had sent
    const sentWatchers: Array<(connection: number) => void> = []
    const closeListeners: Array<(connection: number) => void> = []
    const calls: string[] = []
    const answers: Array<() => unknown[]> = [
      () => {
        // a redelivered request's statement under the same key is written first, on connection 1...
        for (const onSent of sentWatchers.slice()) onSent(1)
        // ...then this transfer on connection 2, which closes before its commit is answered
        for (const onSent of sentWatchers.slice()) onSent(2)
        for (const listener of closeListeners) listener(2)
        return [{id: 1}, {id: 2}]
      },
      () => [],
      () => [{from_account: '1', to_account: '2', amount: '5'}],
    ]
    const sql = {
      generation: 0,
      renew() {},
      onConnectionClosed(listener: (connection: number) => void) {
        closeListeners.push(listener)
      },
      watchSent(_key: string, onSent: (connection: number) => void) {
        sentWatchers.push(onSent)
        return () => sentWatchers.splice(sentWatchers.indexOf(onSent), 1)
      },
      async unsafe(text: string) {
        calls.push(text === q.TRANSFER ? 'TRANSFER' : text === q.CONFIRM_TRANSFER ? 'CONFIRM' : text)
        return answers.shift()!()
      },
    } as unknown as LedgerSql
    const result = await transfer(sql, request(), {retry: fast})
    expect(result.outcome).to.equal('already_applied')
    expect(calls).to.deep.equal(['TRANSFER', 'TRANSFER', 'CONFIRM'])
  })

  it('a statement waiting for a connection past its deadline ends even when the pool refuses the first renewal', async function () {
    this.timeout(10_000)
    // a pool that renews at most once per 100 ms (as connectLedger's and TransferPool do): the watchdog's first
    // renewal for this attempt comes right after another one and is refused; the statement never reaches a
    // connection (nothing listens) and is rejected as not sent only by a renewal that happens
    let rejectWaiting: ((error: Error) => void) | undefined
    let renewals = 0
    const pool = {
      generation: 0,
      renew(seen: number) {
        if (seen !== pool.generation) return
        if (renewals++ === 0) return
        pool.generation++
        rejectWaiting?.(err('CONNECTION_ENDED', 'the pool was renewed before a connection was free'))
      },
      watchSent: () => () => {},
      unsafe: () =>
        new Promise<never>((_, reject) => {
          rejectWaiting = reject
        }),
    }
    const result = await transfer(pool as unknown as LedgerSql, request(), {retry: {...fast, deadlineMs: 300}})
    expect(result.outcome).to.equal('failed')
    expect(pool.generation).to.equal(1)
  })

  it('a confirming read written after the pool was renewed is bounded by the generation it was written under', async function () {
    this.timeout(10_000)
    // the transfer finds its key on a connection of generation 0; before the confirming read goes out another
    // worker renews the pool (generation 1), and the read lands on a connection of generation 1 whose server
    // never answers (frozen). The watchdog must renew generation 1: a renewal of generation 0 is refused, and
    // the read would wait until its connection died, whatever the transfer's deadline.
    let rejectFrozen: ((error: Error) => void) | undefined
    const sentWatchers: Array<() => void> = []
    const renewals: number[] = []
    const pool = {
      generation: 0,
      renew(seen: number) {
        renewals.push(seen)
        if (seen !== pool.generation) return
        pool.generation++
        rejectFrozen?.(err('CONNECTION_DESTROYED', 'the pool was renewed'))
      },
      watchSent(_key: string, onSent: () => void) {
        sentWatchers.push(onSent)
        return () => sentWatchers.splice(sentWatchers.indexOf(onSent), 1)
      },
      answers: [
        async () => {
          for (const onSent of sentWatchers.slice()) onSent()
          pool.generation = 1
          return []
        },
        () =>
          new Promise<never>((_, reject) => {
            for (const onSent of sentWatchers.slice()) onSent()
            rejectFrozen = reject
            // the frozen server's socket gives up at last (keepalive): long after the attempt timeout
            setTimeout(() => reject(err('CONNECTION_CLOSED', 'keepalive')), 3000).unref()
          }),
        async () => [],
        async () => [{from_account: '1', to_account: '2', amount: '5'}],
      ] as Array<() => Promise<unknown[]>>,
      unsafe: () => pool.answers.shift()!(),
    }
    const started = performance.now()
    const result = await transfer(pool as unknown as LedgerSql, request(), {
      retry: {...fast, attemptTimeoutMs: 200, deadlineMs: 8000},
    })
    expect(result.outcome).to.equal('already_applied')
    expect(renewals).to.include(1)
    expect(performance.now() - started).to.be.below(2500)
  })

  it('invalid requests are rejected before touching the database', async () => {
    const sql = scriptedSql([])
    for (const bad of [{id: 'x'}, {from: 0}, {to: 1}, {amount: 0}, {amount: 1.5}, {originRegion: 'US EAST'}]) {
      const result = await transfer(sql, {...request(), ...bad})
      expect(result.outcome, JSON.stringify(bad)).to.equal('rejected')
    }

    expect(sql.calls).to.deep.equal([])
    expect(validateTransfer(request())).to.equal(undefined)
  })

  it('classifies errors: definite retry, lost connection, never connected, rejection', () => {
    expect(classifyError(err('40001')).kind).to.equal('retryable')
    expect(classifyError(err('25006')).kind).to.equal('retryable')
    expect(classifyError(err('CONNECTION_CLOSED')).kind).to.equal('connection')
    expect(classifyError(err('57P01')).kind).to.equal('connection')
    expect(classifyError(err('40003')).kind).to.equal('ambiguous')
    expect(classifyError(err('ECONNREFUSED')).kind).to.equal('not_connected')
    expect(classifyError(err('23503')).kind).to.equal('rejected')
    expect(classifyError(err('42P01')).kind).to.equal('fatal')
  })

  it('backoff is bounded exponential with full jitter', () => {
    const policy = {...DEFAULT_RETRY_POLICY, baseDelayMs: 10, maxDelayMs: 100}
    expect(backoffDelay(1, policy, () => 0.999)).to.equal(9)
    expect(backoffDelay(3, policy, () => 0.999)).to.equal(39)
    expect(backoffDelay(20, policy, () => 0.999)).to.equal(99)
    expect(backoffDelay(20, policy, () => 0)).to.equal(0)
  })
})

describe('ledger helpers (unit)', () => {
  it('merges comma-separated URLs into one multi-host URL and masks passwords', () => {
    const {url, hosts} = combineDatabaseUrls(
      'postgres://app:s3cret@10.0.0.1:5432/ledger?sslmode=disable,postgres://app:s3cret@10.0.0.2:5433/ledger',
    )
    expect(hosts).to.deep.equal(['10.0.0.1:5432', '10.0.0.2:5433'])
    expect(url).to.equal('postgres://app:s3cret@10.0.0.1:5432,10.0.0.2:5433/ledger?sslmode=disable')
    expect(combineDatabaseUrls(['postgres://a@h1:1,h2:2/db']).hosts).to.deep.equal(['h1:1', 'h2:2'])
    expect(describeDatabase('postgres://app:s3cret@h:1/db')).to.equal('postgres://app:***@h:1/db')
    expect(() => combineDatabaseUrls('mysql://x')).to.throw(/not a PostgreSQL/)
  })

  it('run-log statuses: an acknowledgement wins, a failure never hides an unknown', () => {
    expect(combineStatus(statusOf('attempt'), IdStatus.Acknowledged)).to.equal(IdStatus.Acknowledged)
    expect(combineStatus(IdStatus.Unknown, IdStatus.NotCommitted)).to.equal(IdStatus.Unknown)
    expect(combineStatus(IdStatus.NotCommitted, IdStatus.Unknown)).to.equal(IdStatus.Unknown)
    expect(combineStatus(IdStatus.Unknown, statusOf('already_applied')!)).to.equal(IdStatus.Acknowledged)
    expect(statusOf('bogus')).to.equal(undefined)
  })

  it('the latency histogram gives percentiles within one 5% bucket', () => {
    const h = new LatencyHistogram()
    for (let i = 1; i <= 1000; i++) h.record(i)
    expect(h.percentile(0.5)).to.be.within(500, 525)
    expect(h.percentile(0.99)).to.be.within(990, 1000)
    expect(h.max).to.equal(1000)
    expect(new LatencyHistogram().percentile(0.5)).to.equal(0)
  })

  it('parses durations', () => {
    expect(parseDuration('30s')).to.equal(30_000)
    expect(parseDuration('2m')).to.equal(120_000)
    expect(parseDuration('250ms')).to.equal(250)
    expect(parseDuration('1.5')).to.equal(1500)
    expect(() => parseDuration('soon')).to.throw(/invalid duration/)
  })

  it('decodes queue messages and refuses malformed ones', () => {
    const r = request()
    expect(decodeTransferMessage(JSON.stringify(r))).to.deep.equal(r)
    expect(decodeTransferMessage('not json')).to.equal(undefined)
    expect(decodeTransferMessage(JSON.stringify({...r, amount: '5'}))).to.equal(undefined)
    expect(decodeTransferMessage(undefined)).to.equal(undefined)
  })

  it('the metric names are the contract the alerts and dashboard use', () => {
    expect(Object.values(LEDGER_METRICS)).to.deep.equal([
      'atlas_transfers_total',
      'atlas_transfer_retries_total',
      'atlas_transfer_duration_seconds',
      'atlas_queue_lag_seconds',
      'atlas_audit_write_failures_total',
    ])
  })

  it('the ledger SQL avoids PostgreSQL-only constructs (it must run on CockroachDB)', () => {
    const all = [
      q.CREATE_MIGRATIONS_TABLE,
      ...q.MIGRATIONS.flatMap((m) => m.statements({allowNegativeBalances: false})),
      q.TRANSFER,
      q.CONFIRM_TRANSFER,
      q.REPLAY_CHUNK,
      q.INSERT_ACCOUNTS,
    ]
    for (const statement of all) {
      expect(statement).to.not.match(/\$\$|plpgsql|SERIAL\b|::|RETURNING \*|LANGUAGE|CREATE (OR REPLACE )?FUNCTION/i)
    }

    expect(q.MIGRATIONS[0].statements({allowNegativeBalances: false}).join(',')).to.include('CHECK (balance >= 0)')
    expect(q.MIGRATIONS[0].statements({allowNegativeBalances: true}).join(',')).to.not.include('CHECK (balance >= 0)')
  })
})
