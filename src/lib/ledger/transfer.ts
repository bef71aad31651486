import type {TransferRequest} from '../model/transfer.js'

import {sleep} from '../wait.js'
import * as q from './sql.js'

export type {TransferRequest} from '../model/transfer.js'

/**
 * applied / already_applied: the transfer is committed (acknowledged).
 * rejected: definitely not applied, and retrying will not change that (insufficient funds, unknown account, key reused for a different transfer).
 * failed: definitely not committed, but retries ran out (database unreachable, read-only node, serialization conflicts).
 * unknown: the connection was lost while COMMIT was in flight and retries did not resolve it; retry with the same id to find out.
 */
export type TransferOutcome = 'already_applied' | 'applied' | 'failed' | 'rejected' | 'unknown'

export interface TransferResult {
  attempts: number
  id: string
  latencyMs: number
  outcome: TransferOutcome
  /** why it was rejected, failed or unknown */
  reason?: string
  /** attempts retried after 40001 / connection loss */
  retries: number
  sqlstate?: string
}

export interface RetryPolicy {
  /**
   * a statement written to a connection may go unanswered this long; then the pool is renewed and
   * the outcome is unknown until a retry settles it. Waiting for a connection (nothing written yet,
   * e.g. while no node is primary) is bounded by deadlineMs instead: it cannot make an outcome unknown.
   */
  attemptTimeoutMs: number
  baseDelayMs: number
  /** overall time budget across attempts */
  deadlineMs: number
  maxAttempts: number
  maxDelayMs: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 10,
  baseDelayMs: 5,
  maxDelayMs: 1000,
  deadlineMs: 30_000,
  attemptTimeoutMs: 10_000,
}

export interface TransferOptions {
  /** called before each retry (metrics) */
  onRetry?: (info: {attempt: number; reason: string; sqlstate?: string}) => void
  retry?: Partial<RetryPolicy>
  signal?: AbortSignal
}

/**
 * What transfer() needs of a pool: a postgres.js pool from connectLedger, or the workload's own
 * TransferPool (wire/pool.ts). Both run its statements as named prepared statements, report when a
 * statement is written (watchSent) and when a connection closes, and can be renewed.
 */
export interface TransferSql {
  /** increases each time the pool is renewed */
  readonly generation?: number
  /** calls `listener` with the id of each connection of the pool (of any generation) that closes */
  onConnectionClosed?: (listener: (connection: number) => void) => void
  /** replaces the pool's connections when `generation` is still the current one */
  renew?: (generation: number) => void
  unsafe(
    text: string,
    parameters: Array<number | string>,
    options: {prepare: true},
  ): PromiseLike<ReadonlyArray<Record<string, unknown>>>
  /**
   * calls `onSent` with the connection's id each time a statement whose first parameter is `key`
   * is written to a connection, until the returned function stops the watching
   */
  watchSent?: (key: string, onSent: (connection: number) => void) => () => void
}

/** named prepared statements: one round trip per execution instead of describe + execute */
const PREPARED = {prepare: true} as const

export const isAcknowledged = (outcome: TransferOutcome): boolean =>
  outcome === 'applied' || outcome === 'already_applied'

/** SQLSTATEs after which the transaction definitely did not commit and a retry may succeed. */
const RETRYABLE_SQLSTATES = new Set([
  '40001', // serialization_failure (and CockroachDB's restart errors)
  '40P01', // deadlock_detected
  '25006', // read_only_sql_transaction: we reached a replica; reconnect to the writable node
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, recovering)
  '53300', // too_many_connections
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
])
/** CockroachDB: "result is ambiguous": the commit may or may not have happened. */
const AMBIGUOUS_SQLSTATES = new Set(['40003'])
const DEFINITE_REJECTIONS: Record<string, string> = {
  '23514': 'insufficient funds (the balance may not go negative)',
  '23503': 'unknown account',
  '22P02': 'invalid input',
  '22003': 'amount out of range',
}
/** the transfer statement found the key and the confirming read did not: ambiguous, retried under the same key */
const KEY_NOT_CONFIRMED = Object.assign(new Error('the idempotency key was found, then not found again'), {
  code: 'KEY_NOT_CONFIRMED',
})
/**
 * the statement's connection closed before the statement settled, and postgres.js resolved it anyway
 * (see connectLedger): its answer may be a dead server's rows without the commit, so it is ambiguous
 */
const CONNECTION_CLOSED_UNANSWERED = Object.assign(
  new Error('the connection closed before the statement was answered'),
  {code: 'CONNECTION_CLOSED'},
)
/** the statement may have reached the server before the connection died */
const LOST_CONNECTION_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'])
/** no connection was made: nothing was sent */
const NOT_CONNECTED_CODES = new Set([
  'CONNECT_TIMEOUT',
  'CONNECTION_ENDED',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
])

/**
 * retryable: definitely not committed, try again. connection: the connection was
 * lost with the statement possibly applied (ambiguous until a retry finds out).
 * not_connected: nothing was sent, try again. rejected: definite, do not retry.
 */
type ErrorKind = 'ambiguous' | 'connection' | 'fatal' | 'not_connected' | 'rejected' | 'retryable'

export function classifyError(error: unknown): {kind: ErrorKind; reason: string; sqlstate?: string} {
  const err = error as {code?: string; errno?: string; message?: string}
  const code = err?.code ?? ''
  const reason = (err?.message ?? String(error)).split('\n')[0]
  if (AMBIGUOUS_SQLSTATES.has(code)) return {kind: 'ambiguous', sqlstate: code, reason}
  if (error === KEY_NOT_CONFIRMED) return {kind: 'ambiguous', reason}
  if (code in DEFINITE_REJECTIONS) return {kind: 'rejected', sqlstate: code, reason: DEFINITE_REJECTIONS[code]}
  // the server ended the session (shutdown, crash, lost link) possibly after the commit record was written
  if (code === '08006' || code === '08003' || code === '08000' || code === '57P01' || code === '57P02')
    return {kind: 'connection', sqlstate: code, reason}
  if (code === '57P03' || code === '08001' || code === '08004' || code === '53300')
    return {kind: 'not_connected', sqlstate: code, reason}
  if (RETRYABLE_SQLSTATES.has(code)) return {kind: 'retryable', sqlstate: code, reason}
  if (LOST_CONNECTION_CODES.has(code) || LOST_CONNECTION_CODES.has(err?.errno ?? ''))
    return {kind: 'connection', reason}
  if (NOT_CONNECTED_CODES.has(code) || NOT_CONNECTED_CODES.has(err?.errno ?? '')) return {kind: 'not_connected', reason}
  return {kind: 'fatal', sqlstate: /^[0-9A-Z]{5}$/.test(code) ? code : undefined, reason}
}

/** Full jitter: uniform in [0, min(max, base * 2^attempt)]. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1))
  return Math.floor(random() * ceiling)
}

export function validateTransfer(request: TransferRequest): string | undefined {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(request.id)) return 'id must be a UUID'
  if (!Number.isSafeInteger(request.from) || request.from <= 0) return 'from must be a positive integer account id'
  if (!Number.isSafeInteger(request.to) || request.to <= 0) return 'to must be a positive integer account id'
  if (request.from === request.to) return 'from and to must differ'
  if (!Number.isSafeInteger(request.amount) || request.amount <= 0)
    return 'amount must be a positive integer (minor units)'
  if (typeof request.originRegion !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(request.originRegion))
    return 'originRegion must be a region name'
  return undefined
}

/**
 * The one transfer function (CLI, workload and ledger service all use it). One
 * SERIALIZABLE transaction; retried on 40001 and connection loss with bounded
 * exponential backoff and full jitter. The idempotency key makes every retry
 * safe, including the retry after a commit whose outcome was lost with the
 * connection: that retry either finds the key (already applied) or applies it
 * (the first never committed). If no retry settles it, the outcome is "unknown".
 */
export async function transfer(
  sql: TransferSql,
  request: TransferRequest,
  options: TransferOptions = {},
): Promise<TransferResult> {
  const policy = options.retry ? {...DEFAULT_RETRY_POLICY, ...options.retry} : DEFAULT_RETRY_POLICY
  const started = performance.now()
  const deadline = Date.now() + policy.deadlineMs
  const done = (outcome: TransferOutcome, attempts: number, extra: Partial<TransferResult> = {}): TransferResult => ({
    id: request.id,
    outcome,
    attempts,
    retries: Math.max(0, attempts - 1),
    latencyMs: performance.now() - started,
    ...extra,
  })
  const invalid = validateTransfer(request)
  if (invalid) return done('rejected', 0, {reason: invalid})

  // a statement waiting for a connection (nothing written yet) waits until then at most (see WatchedAttempt)
  const unsentDeadline = started + policy.deadlineMs
  // once any attempt may have committed, giving up means "unknown", never "failed"
  let ambiguous = false
  let last: {reason: string; sqlstate?: string} = {reason: 'not attempted'}
  let attempt = 0
  while (attempt < policy.maxAttempts) {
    attempt++
    const generation = sql.generation ?? 0
    let watch: undefined | WatchedAttempt
    try {
      // one statement = one implicit SERIALIZABLE transaction (the session default, see connectLedger):
      // a single round trip, and no pinned connection that a crash could leave half-used
      watch = watchAttempt(sql, request.id, policy.attemptTimeoutMs, unsentDeadline, generation, options.signal)
      const moved = await answer(sql, watch, q.TRANSFER, [
        request.id,
        request.from,
        request.to,
        request.amount,
        request.originRegion,
      ])

      if (moved.length === 2) return done('applied', attempt)
      if (moved.length > 0)
        return done(ambiguous ? 'unknown' : 'failed', attempt, {
          reason: `transfer touched ${moved.length} accounts, expected 2`,
        })
      // the key exists: the transfer may be stored, so giving up from here on means "unknown"
      ambiguous = true
      // the same transfer (already applied), or a different one reusing the key? Read so that the
      // answer comes only once the stored transfer is replicated (CONFIRM_TRANSFER), bounded like the
      // transfer: a primary cut off from its standbys never answers it. Watched under the generation it is
      // given in: the pool may have been renewed since the transfer was answered, and a renewal of the old
      // generation would be refused while this read waits on a connection of the new one
      watch = watchAttempt(
        sql,
        request.id,
        policy.attemptTimeoutMs,
        unsentDeadline,
        sql.generation ?? 0,
        options.signal,
      )
      const [stored] = await answer(sql, watch, q.CONFIRM_TRANSFER, [request.id])
      // the key was there and is not now (another node answered, or the first was cut off and rewound):
      // not settled; the next attempt applies it or finds it
      if (!stored) throw KEY_NOT_CONFIRMED
      if (
        Number(stored.from_account) !== request.from ||
        Number(stored.to_account) !== request.to ||
        Number(stored.amount) !== request.amount
      ) {
        return done('rejected', attempt, {reason: 'idempotency key already used for a different transfer'})
      }

      return done('already_applied', attempt)
    } catch (error) {
      let info = classifyError(error)
      // a statement never written to any connection cannot have committed: whatever ended its wait
      // (the pool renewed, the deadline), the transfer is not ambiguous because of it
      if (info.kind === 'connection' && watch && !watch.sent) info = {...info, kind: 'not_connected'}
      last = info
      if (info.kind === 'rejected') {
        // definite even after an earlier ambiguous attempt: had that one committed, the key would have been found
        return done('rejected', attempt, {reason: info.reason, sqlstate: info.sqlstate})
      }

      if (info.kind === 'ambiguous' || info.kind === 'connection') ambiguous = true
      // the generation the failed statement was given in (the confirming read may be of a later one)
      if (info.kind === 'connection' || info.kind === 'ambiguous') sql.renew?.(watch?.generation ?? generation)
      if (info.kind === 'fatal') {
        return done(ambiguous ? 'unknown' : 'failed', attempt, {reason: info.reason, sqlstate: info.sqlstate})
      }

      if (attempt >= policy.maxAttempts || Date.now() >= deadline || options.signal?.aborted) break
      options.onRetry?.({attempt, sqlstate: info.sqlstate, reason: info.reason})
      const delay = Math.min(backoffDelay(attempt, policy), Math.max(0, deadline - Date.now()))
      // an abort ends the retries (the outcome so far stands)
      if (
        !(await sleep(delay, options.signal).then(
          () => true,
          () => false,
        ))
      )
        break
    }
  }

  return done(ambiguous ? 'unknown' : 'failed', attempt, {reason: last.reason, sqlstate: last.sqlstate})
}

/**
 * One statement of an attempt, released from its pool's watchdog once it settles. An answer that
 * arrives after its connection closed is not the server's (see connectLedger): a lost connection.
 */
async function answer(
  sql: TransferSql,
  watch: undefined | WatchedAttempt,
  text: string,
  parameters: Array<number | string>,
): Promise<ReadonlyArray<Record<string, unknown>>> {
  try {
    const rows = await sql.unsafe(text, parameters, PREPARED)
    if (watch?.lost) throw CONNECTION_CLOSED_UNANSWERED
    return rows
  } finally {
    watch?.release()
  }
}

/**
 * Bounds how long one attempt may wait without a timer per attempt: a watchdog per
 * pool renews the pool when an attempt is overdue, and the pool then rejects the
 * stuck statements of the old generation (postgres.js: CONNECTION_DESTROYED; the
 * transfer pool destroys a retired connection after 1 s). The clock starts when the
 * statement is written to a connection (the pool's watchSent): a frozen node that
 * never answers is left after attemptTimeoutMs, and the outcome is ambiguous
 * (retried under the same key). While the statement only waits for a connection
 * (no node is primary yet, postgres.js is trying the hosts in turn), renewing the
 * pool would not bring the new primary any sooner, and a statement waiting on a
 * promoted primary for its synchronous standby would lose the time it spent waiting
 * for the connection: such an attempt runs until the transfer's deadline (or its
 * abort signal). Pools without renew() are not watched; without watchSent every
 * statement counts as written at once.
 */
interface WatchedAttempt {
  /** performance.now() after which the pool is renewed */
  deadline: number
  generation: number
  /** its connection closed while it was in flight: whatever answer it gets is not the server's */
  lost: boolean
  release(): void
  /** written to a connection (may have reached the server) */
  sent: boolean
  signal?: AbortSignal
}
/** one attempt in its pool's watchdog: an object and one bound callback per attempt, no other closures */
class Attempt implements WatchedAttempt {
  deadline: number
  readonly generation: number
  lost = false
  /**
   * the callback given to watchSent, called for every statement written under the attempt's key until
   * it is released: the first starts its clock. Every connection is noted, as a statement of another
   * attempt with the same key (a redelivered request) may be the one written first and be reported
   * to both; a close of any of them makes this attempt's answer untrustworthy (only a retry is lost).
   */
  readonly markSent = (connection?: number) => {
    if (connection !== undefined && connection !== this.connection) {
      if (this.connection === undefined) this.connection = connection
      else (this.otherConnections ??= []).push(connection)
    }

    if (this.sent) return
    this.sent = true
    this.deadline = performance.now() + this.timeoutMs
  }
  /** the pool was renewed for it: the watchdog does not again */
  renewed = false
  sent = false
  readonly signal?: AbortSignal
  unwatch?: () => void
  /** the connection it was written to, and any other that a statement under its key was written to */
  private connection?: number
  private readonly inFlight: Set<Attempt>
  private otherConnections?: number[]
  private readonly timeoutMs: number

  constructor(
    inFlight: Set<Attempt>,
    deadline: number,
    generation: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ) {
    this.inFlight = inFlight
    this.deadline = deadline
    this.generation = generation
    this.timeoutMs = timeoutMs
    this.signal = signal
    inFlight.add(this)
  }

  release(): void {
    this.unwatch?.()
    this.inFlight.delete(this)
  }

  wasWrittenTo(connection: number): boolean {
    return this.connection === connection || (this.otherConnections?.includes(connection) ?? false)
  }
}

interface Watchdog {
  inFlight: Set<Attempt>
  timer: NodeJS.Timeout
}
const watchdogs = new WeakMap<TransferSql, Watchdog>()

/** registers one attempt with its pool's watchdog (created on first use); the caller releases it when the attempt settles */
function watchAttempt(
  sql: TransferSql,
  key: string,
  timeoutMs: number,
  unsentDeadline: number,
  generation: number,
  signal?: AbortSignal,
): undefined | WatchedAttempt {
  if (!sql.renew) return undefined
  let dog = watchdogs.get(sql)
  if (!dog) {
    const inFlight = new Set<Attempt>()
    const timer = setInterval(() => {
      const now = performance.now()
      for (const entry of inFlight) {
        // an overdue attempt stays in the set until it settles: a close of its connection must still mark it
        if (!entry.renewed && (now > entry.deadline || (!entry.sent && entry.signal?.aborted))) {
          sql.renew!(entry.generation)
          // a renewal the pool refused (another came within its 100 ms) is asked for again at the next tick:
          // marked renewed too early, a statement still waiting for a connection would wait past its deadline
          if ((sql.generation ?? 0) !== entry.generation) entry.renewed = true
        }
      }
    }, 100)
    timer.unref()
    sql.onConnectionClosed?.((connection) => {
      for (const entry of inFlight) if (entry.wasWrittenTo(connection)) entry.lost = true
    })
    dog = {inFlight, timer}
    watchdogs.set(sql, dog)
  }

  const entry = new Attempt(dog.inFlight, unsentDeadline, generation, timeoutMs, signal)
  if (sql.watchSent) entry.unwatch = sql.watchSent(key, entry.markSent)
  else entry.markSent()
  return entry
}
