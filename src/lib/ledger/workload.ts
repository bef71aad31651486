import {randomInt, randomUUID} from 'node:crypto'
import path from 'node:path'

import type {AuditLog} from '../cloud/audit.js'
import type {TransferQueue} from '../cloud/queue.js'

import {UsageError} from '../errors.js'
import {traceIdOf} from '../model/trace-context.js'
import {sleep} from '../wait.js'
import {connectLedger, describeDatabase, type LedgerSql} from './db.js'
import {AcknowledgementTracker} from './recovery.js'
import {attemptLine, outcomeLine, RunLogWriter} from './runlog.js'
import {registerRunDir} from './runlogs.js'
import {type MintRecord, requireMint} from './schema.js'
import {LatencyHistogram} from './stats.js'
import {endTransfer, startTransfer} from './tracing.js'
import {
  isAcknowledged,
  type RetryPolicy,
  transfer,
  type TransferOutcome,
  type TransferRequest,
  type TransferResult,
} from './transfer.js'

export interface WorkloadOptions {
  /** accounts 1..N to move money between; default: all minted accounts */
  accounts?: number
  /** direct mode: write one audit record per acknowledged transfer */
  audit?: AuditLog
  concurrency?: number
  /** seconds to wait for one host to answer a new connection (default 5) */
  connectTimeoutSeconds?: number
  /** stop after this many transfers were issued */
  count?: number
  /** direct mode: database URL(s); several hosts = reconnect to whichever is writable */
  db?: string | string[]
  /** stop after this long */
  durationMs?: number
  /** amounts are uniform in 1..maxAmount minor units */
  maxAmount?: number
  /** called for every finished transfer */
  onOutcome?: (event: {at: Date; id: string; latencyMs: number; outcome: 'sent' | TransferOutcome}) => void
  /** called every progressIntervalMs with a stats snapshot */
  onProgress?: (stats: WorkloadStats) => void
  originRegion?: string
  progressIntervalMs?: number
  /** queue mode: where requests are sent */
  queue?: TransferQueue
  /** transfers per second across all workers; unset: as fast as possible */
  rate?: number
  /**
   * After the run, retry every transfer whose outcome was unknown, under its own key
   * (default true in direct mode): the retry finds it committed or commits it, so the
   * client ends up knowing, and writing the audit record of, every transfer it issued.
   * Outcomes that stay unknown are left in the log as such.
   */
  resolveUnknown?: boolean
  retry?: Partial<RetryPolicy>
  /** where the run log goes (created) */
  runDir: string
  /** the world's runs directory: a runDir outside it is recorded in its index, so verify and blast-radius read the log */
  runsDir?: string
  signal?: AbortSignal
  /** an existing pool instead of db (in-process callers); not closed by the workload */
  sql?: LedgerSql
  /** 'db' (default): transfers go straight to the database; 'queue': requests go to SQS for `atlas ledger serve` */
  via?: 'db' | 'queue'
}

export interface WorkloadStats {
  acknowledged: number
  alreadyApplied: number
  applied: number
  attempted: number
  auditErrors: number
  /** acknowledged (or sent) per second since the start */
  averageTps: number
  elapsedSeconds: number
  failed: number
  firstAcknowledgedAt?: string
  inFlight: number
  lastAcknowledgedAt?: string
  latencyMs: {max: number; p50: number; p99: number}
  /** the most recent error reasons (at most 5, deduplicated) */
  recentErrors: string[]
  rejected: number
  retries: number
  /** --via queue: accepted by SQS */
  sent: number
  /** acknowledged (or sent) per second over the last progress interval */
  tps: number
  /** outcomes that were unknown when the transfer returned */
  unknown: number
  /** of those, settled afterwards by a retry under the same key (see resolveUnknown) */
  unknownResolved: number
}

export interface WorkloadResult {
  database?: string
  endedAt: string
  originRegion: string
  runDir: string
  runLog: string
  startedAt: string
  stats: WorkloadStats
  stoppedBy: 'count' | 'duration' | 'signal' | 'stop'
  via: 'db' | 'queue'
}

export interface WorkloadHandle {
  /** settles when the workload ends (count, duration, stop() or the signal) */
  readonly done: Promise<WorkloadResult>
  readonly runDir: string
  readonly runLog: string
  /** a snapshot of the counters */
  stats(): WorkloadStats
  /** stop issuing transfers, let in-flight ones finish (with their retries), close the log */
  stop(): Promise<WorkloadResult>
  /**
   * Resolves with the acknowledgement time of the first transfer issued strictly
   * after `after` (immediately if one was already acknowledged): the recovery
   * point for RTO. Transfers in flight at `after` do not count, since they may
   * have committed before the fault.
   */
  waitForAcknowledgedAfter(after: Date, options?: {signal?: AbortSignal; timeoutMs?: number}): Promise<Date>
}

/** how long the settling of unknown outcomes may take in all, after the run */
const RESOLVE_BUDGET_MS = 30_000

/** Default run directory: <runsDir>/<timestamp>. */
export function defaultRunDir(runsDir: string, now = new Date()): string {
  return path.join(runsDir, now.toISOString().replaceAll(/[:.]/g, '-'))
}

/**
 * Starts a transfer workload and returns at once with a handle. Every attempt,
 * acknowledgement, unknown and failure is appended to <runDir>/transfers.log
 * before it is counted, so `verify --run-dir` can tell lost from never committed.
 *
 * In phases: checkOptions, openLedger (pool and mint), openRunLog, then the run
 * (runWorker per worker, resolveUnknowns) and finishRun, which closes the log.
 */
export async function startWorkload(options: WorkloadOptions): Promise<WorkloadHandle> {
  const settings = checkOptions(options)
  const ledger = await openLedger(options, settings)
  const {log, startedAt, started} = await openRunLog(options, settings, ledger)
  const tally = new WorkloadTally(started)
  const stop = new StopSwitch(options.signal, options.durationMs)
  const progressTimer = setInterval(() => {
    tally.measureWindow()
    options.onProgress?.(tally.snapshot())
  }, options.progressIntervalMs ?? 1000)
  progressTimer.unref()

  const run: WorkloadRun = {
    options,
    settings,
    sql: ledger.sql,
    accounts: ledger.accounts,
    log,
    tally,
    stop,
    waitForSlot: rateSchedule(options.rate),
  }
  const done = finishRun(run, ledger, startedAt, progressTimer)
  // callers may only use waitForAcknowledgedAfter; an unhandled rejection must not crash them
  done.catch(() => {})
  done.then(
    () => tally.recovery.close(new Error('the workload ended with no transfer acknowledged after that time')),
    (error: Error) => tally.recovery.close(error),
  )

  return {
    runDir: options.runDir,
    runLog: log.file,
    stats: () => tally.snapshot(),
    done,
    async stop() {
      stop.stopIssuing = true
      return done
    },
    waitForAcknowledgedAfter(after, waitOptions = {}) {
      return tally.recovery.waitForIssuedAfter(after, waitOptions)
    },
  }
}

/** The options, checked, with their defaults. */
interface WorkloadSettings {
  concurrency: number
  maxAmount: number
  originRegion: string
  via: 'db' | 'queue'
}

function checkOptions(options: WorkloadOptions): WorkloadSettings {
  const via = options.via ?? 'db'
  const concurrency = options.concurrency ?? 8
  const maxAmount = options.maxAmount ?? 100
  const originRegion = options.originRegion ?? 'us'
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError('concurrency must be a positive integer')
  if (options.count !== undefined && (!Number.isInteger(options.count) || options.count < 0))
    throw new UsageError('count must be a non-negative integer')
  if (options.rate !== undefined && !(options.rate > 0)) throw new UsageError('rate must be positive')
  if (via === 'queue' && !options.queue) throw new UsageError('--via queue needs a queue (a cloud endpoint and region)')
  if (options.durationMs === undefined && options.count === undefined && !options.signal) {
    throw new UsageError('give --duration or --count (or a signal to stop the workload)')
  }

  return {via, concurrency, maxAmount, originRegion}
}

interface OpenLedger {
  accounts: number
  mint?: MintRecord
  /** the workload made the pool, and closes it */
  ownPool: boolean
  /** the pool transfers go through (none in queue mode when the accounts are given) */
  sql?: LedgerSql
}

/** The pool (the caller's, or one of its own) and the mint record, which also gives the number of accounts. */
async function openLedger(options: WorkloadOptions, settings: WorkloadSettings): Promise<OpenLedger> {
  let {sql} = options
  const ownPool = !sql && (settings.via === 'db' || options.accounts === undefined)
  if (!sql && ownPool) {
    if (!options.db || (Array.isArray(options.db) && options.db.length === 0))
      throw new UsageError('no database given', {hint: 'pass --db or start a world with `atlas up`'})
    sql = await connectLedger(options.db, {
      max: settings.concurrency,
      applicationName: 'atlas-workload',
      connectTimeoutSeconds: options.connectTimeoutSeconds,
    })
  }

  let {accounts} = options
  let mint: MintRecord | undefined
  try {
    // the mint time names the ledger in the run log (runlogs.ts: which logs belong to which ledger)
    if (sql) mint = await requireMint(sql)
    if (accounts === undefined) accounts = mint!.accounts
  } catch (error) {
    if (ownPool) await sql!.end({timeout: 1})
    throw error
  }

  if (accounts < 2) throw new UsageError('at least 2 accounts are needed')
  return {sql, ownPool, accounts, mint}
}

/** Creates the run log (recorded in the runs index when it lives elsewhere) and writes its start line. */
async function openRunLog(
  options: WorkloadOptions,
  settings: WorkloadSettings,
  ledger: OpenLedger,
): Promise<{log: RunLogWriter; started: number; startedAt: Date}> {
  const log = new RunLogWriter(options.runDir)
  if (options.runsDir) await registerRunDir(options.runsDir, options.runDir)
  const startedAt = new Date()
  const started = performance.now()
  const {via, originRegion, concurrency} = settings
  log.comment('start', {
    startedAt: startedAt.toISOString(),
    ledgerMintedAt: ledger.mint?.mintedAt.toISOString(),
    via,
    originRegion,
    concurrency,
    accounts: ledger.accounts,
    count: options.count,
    durationMs: options.durationMs,
    rate: options.rate,
  })
  return {log, startedAt, started}
}

/** requests whose outcome was unknown are kept for resolveUnknown up to this many (a run has few of them) */
const MAX_UNKNOWN_KEPT = 100_000

/** The counters, latencies, recent errors and acknowledgement times of a run: what stats() reports. */
class WorkloadTally {
  readonly counters = {
    attempted: 0,
    applied: 0,
    alreadyApplied: 0,
    sent: 0,
    rejected: 0,
    failed: 0,
    unknown: 0,
    unknownResolved: 0,
    retries: 0,
    inFlight: 0,
    auditErrors: 0,
  }
  readonly histogram = new LatencyHistogram()
  readonly recentErrors: string[] = []
  /** when writes came back: the recovery point for RTO (waitForAcknowledgedAfter) */
  readonly recovery = new AcknowledgementTracker()
  /** requests whose outcome was unknown, with the traceparent each was sent under (audited when it is settled) */
  readonly unknownRequests: Array<{request: TransferRequest; traceparent?: string}> = []
  /** ms since the epoch */
  private firstAckAt?: number
  private lastAckAt?: number
  private lastProgress = {at: performance.now(), done: 0}
  private readonly started: number
  private windowTps = 0

  constructor(started: number) {
    this.started = started
  }

  /** counts a finished direct-mode transfer (its outcome line is already in the run log) */
  account(
    request: TransferRequest,
    done: TransferResult,
    issuedAt: number,
    atMs: number,
    traceparent: string | undefined,
    onOutcome: WorkloadOptions['onOutcome'],
  ): void {
    const {counters} = this
    counters.retries += done.retries
    if (isAcknowledged(done.outcome)) {
      this.histogram.record(done.latencyMs)
      if (done.outcome === 'applied') counters.applied++
      else counters.alreadyApplied++
      this.acknowledged(atMs, issuedAt, done.outcome === 'applied')
    } else {
      if (done.outcome === 'rejected') counters.rejected++
      else if (done.outcome === 'failed') counters.failed++
      else {
        counters.unknown++
        if (this.unknownRequests.length < MAX_UNKNOWN_KEPT) this.unknownRequests.push({request, traceparent})
      }

      this.noteError(done.reason)
    }

    onOutcome?.({id: request.id, outcome: done.outcome, at: new Date(atMs), latencyMs: done.latencyMs})
  }

  /** an acknowledgement; only new commits (and sent requests) tell when writes came back */
  acknowledged(atMs: number, issuedAt: number, newCommit: boolean): void {
    this.firstAckAt ??= atMs
    this.lastAckAt = atMs
    if (newCommit) this.recovery.record(atMs, issuedAt)
  }

  /** an audit record that could not be written: counted, and among the recent errors */
  auditFailed(error: unknown): void {
    this.counters.auditErrors++
    this.noteError(`audit: ${(error as Error).message}`)
  }

  completed(): number {
    return this.counters.applied + this.counters.alreadyApplied + this.counters.sent
  }

  /** acknowledged (or sent) per second since the last measurement */
  measureWindow(): void {
    const now = performance.now()
    const done = this.completed()
    this.windowTps = ((done - this.lastProgress.done) * 1000) / Math.max(1, now - this.lastProgress.at)
    this.lastProgress = {at: now, done}
  }

  noteError(reason: string | undefined): void {
    if (!reason) return
    const i = this.recentErrors.indexOf(reason)
    if (i !== -1) this.recentErrors.splice(i, 1)
    this.recentErrors.push(reason)
    if (this.recentErrors.length > 5) this.recentErrors.shift()
  }

  snapshot(): WorkloadStats {
    const {counters, histogram} = this
    const elapsedSeconds = (performance.now() - this.started) / 1000
    return {
      elapsedSeconds: round(elapsedSeconds, 3),
      attempted: counters.attempted,
      acknowledged: counters.applied + counters.alreadyApplied,
      applied: counters.applied,
      alreadyApplied: counters.alreadyApplied,
      sent: counters.sent,
      rejected: counters.rejected,
      failed: counters.failed,
      unknown: counters.unknown,
      unknownResolved: counters.unknownResolved,
      retries: counters.retries,
      inFlight: counters.inFlight,
      auditErrors: counters.auditErrors,
      tps: round(this.windowTps, 1),
      averageTps: round(elapsedSeconds > 0 ? this.completed() / elapsedSeconds : 0, 1),
      latencyMs: {
        p50: round(histogram.percentile(0.5), 2),
        p99: round(histogram.percentile(0.99), 2),
        max: round(histogram.max, 2),
      },
      firstAcknowledgedAt: this.firstAckAt === undefined ? undefined : new Date(this.firstAckAt).toISOString(),
      lastAcknowledgedAt: this.lastAckAt === undefined ? undefined : new Date(this.lastAckAt).toISOString(),
      recentErrors: [...this.recentErrors],
    }
  }
}

/** What ends the issuing of transfers: stop(), the duration, the count (in runWorker) or the caller's signal, and which came first. */
class StopSwitch {
  /** aborts the retries of transfers in flight (the caller's signal only: stop() lets them finish) */
  readonly retryAbort = new AbortController()
  stopIssuing = false
  stoppedBy: WorkloadResult['stoppedBy'] = 'stop'
  private readonly durationTimer?: NodeJS.Timeout
  private readonly onSignal = () => {
    this.stoppedBy = 'signal'
    this.stopIssuing = true
    this.retryAbort.abort()
  }
  private readonly signal?: AbortSignal

  constructor(signal: AbortSignal | undefined, durationMs: number | undefined) {
    this.signal = signal
    if (signal?.aborted) this.onSignal()
    signal?.addEventListener('abort', this.onSignal, {once: true})
    this.durationTimer =
      durationMs === undefined
        ? undefined
        : setTimeout(() => {
            if (!this.stopIssuing) this.stoppedBy = 'duration'
            this.stopIssuing = true
          }, durationMs)
  }

  /** the run is over: no timer or listener is left behind */
  release(): void {
    if (this.durationTimer) clearTimeout(this.durationTimer)
    this.signal?.removeEventListener('abort', this.onSignal)
  }
}

/** One global schedule for --rate: each transfer takes the next free slot. */
function rateSchedule(rate: number | undefined): () => Promise<void> {
  let nextSlot = performance.now()
  return async () => {
    if (!rate) return
    const slot = Math.max(nextSlot, performance.now())
    nextSlot = slot + 1000 / rate
    const delay = slot - performance.now()
    if (delay > 1) await sleep(delay)
  }
}

/** Everything the phases of a running workload share. */
interface WorkloadRun {
  accounts: number
  log: RunLogWriter
  options: WorkloadOptions
  settings: WorkloadSettings
  sql?: LedgerSql
  stop: StopSwitch
  tally: WorkloadTally
  waitForSlot: () => Promise<void>
}

function nextRequest(run: WorkloadRun): TransferRequest {
  const from = randomInt(1, run.accounts + 1)
  let to = randomInt(1, run.accounts)
  if (to >= from) to++
  return {
    id: randomUUID(),
    from,
    to,
    amount: randomInt(1, run.settings.maxAmount + 1),
    originRegion: run.settings.originRegion,
  }
}

/** One worker: issues transfers one after another until the run stops issuing. */
async function runWorker(run: WorkloadRun): Promise<void> {
  const {options, log, tally, stop} = run
  const {counters} = tally
  // A finished transfer's outcome line is written together with the next attempt line
  // (one write(2) instead of two); it is counted and reported only once written.
  let pending:
    | undefined
    | {
        atMs: number
        issuedAt: number
        line: string
        request: TransferRequest
        result: TransferResult
        traceparent?: string
      }
  let pendingSent: undefined | {account: () => void; line: string}
  const flush = (next = '') => {
    const line = pending?.line ?? pendingSent?.line ?? ''
    if (line || next) log.lines(line + next)
    if (pending)
      tally.account(
        pending.request,
        pending.result,
        pending.issuedAt,
        pending.atMs,
        pending.traceparent,
        options.onOutcome,
      )
    pendingSent?.account()
    pending = undefined
    pendingSent = undefined
  }

  try {
    for (;;) {
      if (stop.stopIssuing) return
      if (options.count !== undefined && counters.attempted >= options.count) {
        stop.stoppedBy = 'count'
        return
      }

      if (options.rate) {
        flush()
        await run.waitForSlot()
        if (stop.stopIssuing) return
        if (options.count !== undefined && counters.attempted >= options.count) return
      }

      const request = nextRequest(run)
      const issuedAt = Date.now()
      flush(attemptLine(request, issuedAt))
      counters.attempted++
      counters.inFlight++
      if (run.settings.via === 'queue') {
        pendingSent = await sendOne(run, request, issuedAt)
        continue
      }

      // direct mode: the trace id only travels into the audit record (none is made when there is no audit)
      const traceparent = options.audit ? startTransfer(request.id) : undefined
      let result
      try {
        result = await transfer(run.sql!, request, {retry: options.retry, signal: stop.retryAbort.signal})
      } finally {
        counters.inFlight--
      }

      const atMs = Date.now()
      pending = {
        line: outcomeLine(request.id, result.outcome, result.reason, atMs),
        request,
        result,
        issuedAt,
        atMs,
        traceparent,
      }
      if (traceparent) endTransfer(traceparent, result.outcome, isAcknowledged(result.outcome))
      if (options.audit && isAcknowledged(result.outcome)) {
        flush()
        try {
          await options.audit.record(request, new Date(atMs), traceparent && traceIdOf(traceparent))
        } catch (error) {
          tally.auditFailed(error)
        }
      }
    }
  } finally {
    flush()
  }
}

/** --via queue: sends one request; returns its outcome line and how to count it once that line is written. */
async function sendOne(
  run: WorkloadRun,
  request: TransferRequest,
  issuedAt: number,
): Promise<{account: () => void; line: string}> {
  const {options, tally} = run
  const t0 = performance.now()
  // one trace per transfer: its W3C traceparent rides in the message attributes to the ledger service
  const traceparent = startTransfer(request.id)
  const sent = await options.queue!.send(request, traceparent)
  tally.counters.inFlight--
  endTransfer(traceparent, sent.ok ? 'sent' : 'unsent', sent.ok)
  const latencyMs = performance.now() - t0
  const event = sent.ok ? 'sent' : sent.ambiguous ? 'unknown' : 'failed'
  return {
    line: outcomeLine(request.id, event, sent.ok ? undefined : sent.reason),
    account() {
      tally.histogram.record(latencyMs)
      if (sent.ok) {
        tally.counters.sent++
        tally.acknowledged(Date.now(), issuedAt, true)
      } else {
        tally.counters[event === 'unknown' ? 'unknown' : 'failed']++
        tally.noteError(sent.reason)
      }

      options.onOutcome?.({id: request.id, outcome: event, at: new Date(), latencyMs})
    },
  }
}

/** Settles unknown outcomes with a retry under the same key (idempotent: it cannot apply twice). */
async function resolveUnknowns(run: WorkloadRun): Promise<void> {
  const {options, tally, log} = run
  if (
    run.settings.via !== 'db' ||
    options.resolveUnknown === false ||
    tally.unknownRequests.length === 0 ||
    options.signal?.aborted
  )
    return
  const queue = tally.unknownRequests.splice(0)
  // one budget for all of them: stop() must not hang while the database is still away
  const budget = AbortSignal.any([run.stop.retryAbort.signal, AbortSignal.timeout(RESOLVE_BUDGET_MS)])
  const settle = async () => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      const {request, traceparent} = item
      if (options.signal?.aborted || budget.aborted) return
      const result = await transfer(run.sql!, request, {
        retry: {...options.retry, maxAttempts: 20, deadlineMs: RESOLVE_BUDGET_MS},
        signal: budget,
      })
      log.outcome(
        request.id,
        result.outcome,
        result.reason ? `resolving an unknown outcome: ${result.reason}` : 'resolving an unknown outcome',
      )
      if (!isAcknowledged(result.outcome)) continue
      tally.counters.unknownResolved++
      const at = new Date()
      // not reported through onOutcome: this happens after the run, it says nothing about recovery during it
      if (options.audit) {
        try {
          await options.audit.record(request, at, traceparent && traceIdOf(traceparent))
        } catch (error) {
          tally.auditFailed(error)
        }
      }
    }
  }

  await Promise.all(Array.from({length: Math.min(run.settings.concurrency, 4)}, () => settle()))
}

/** Runs the workers to their end, settles the unknowns, then writes the end line, closes the log and the own pool. */
async function finishRun(
  run: WorkloadRun,
  ledger: OpenLedger,
  startedAt: Date,
  progressTimer: NodeJS.Timeout,
): Promise<WorkloadResult> {
  const {options, tally, log} = run
  try {
    await Promise.all(Array.from({length: run.settings.concurrency}, () => runWorker(run)))
    await resolveUnknowns(run)
  } finally {
    clearInterval(progressTimer)
    run.stop.release()
    tally.measureWindow()
    const stats = tally.snapshot()
    log.comment('end', {endedAt: new Date().toISOString(), stats})
    log.close()
    if (ledger.ownPool) await run.sql!.end({timeout: 2})
  }

  const stats = tally.snapshot()
  return {
    runDir: options.runDir,
    runLog: log.file,
    via: run.settings.via,
    database: run.settings.via === 'db' && options.db ? describeDatabase(options.db) : undefined,
    originRegion: run.settings.originRegion,
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    stoppedBy: run.stop.stoppedBy,
    stats,
  }
}

/** Runs a workload to its end (count, duration or signal). */
export async function runWorkload(options: WorkloadOptions): Promise<WorkloadResult> {
  const handle = await startWorkload(options)
  return handle.done
}

function round(value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
