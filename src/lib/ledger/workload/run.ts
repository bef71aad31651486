import {randomInt, randomUUID} from 'node:crypto'
import {setMaxListeners} from 'node:events'

import type {WorkloadTally} from './tally.js'
import type {WorkloadOptions, WorkloadResult} from './types.js'

import {UsageError} from '../../errors.js'
import {traceIdOf} from '../../model/trace-context.js'
import {sleep} from '../../wait.js'
import {describeDatabase} from '../db.js'
import {RunLogWriter} from '../runlog-writer.js'
import {attemptLine, outcomeLine} from '../runlog.js'
import {registerRunDir} from '../runlogs.js'
import {type MintRecord, requireMint} from '../schema.js'
import {endTransfer, startTransfer} from '../tracing.js'
import {isAcknowledged, transfer, type TransferRequest, type TransferResult, type TransferSql} from '../transfer.js'
import {DEFAULT_PIPELINE} from './defaults.js'

/** how long the settling of unknown outcomes may take in all, after the run */
const RESOLVE_BUDGET_MS = 30_000

/** The options, checked, with their defaults. */
export interface WorkloadSettings {
  concurrency: number
  maxAmount: number
  originRegion: string
  /** transfers in flight per connection (direct mode) */
  pipeline: number
  via: 'db' | 'queue'
}

export function checkOptions(options: WorkloadOptions): WorkloadSettings {
  const via = options.via ?? 'db'
  const concurrency = options.concurrency ?? 8
  const maxAmount = options.maxAmount ?? 100
  const originRegion = options.originRegion ?? 'us'
  const pipeline = options.pipeline ?? (via === 'queue' ? 1 : DEFAULT_PIPELINE)
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError('concurrency must be a positive integer')
  if (options.count !== undefined && (!Number.isInteger(options.count) || options.count < 0))
    throw new UsageError('count must be a non-negative integer')
  if (!Number.isInteger(pipeline) || pipeline < 1) throw new UsageError('pipeline must be a positive integer')
  if (pipeline > 1 && via === 'queue')
    throw new UsageError('--pipeline applies to direct mode only (--via db)', {
      hint: 'drop --pipeline, or add --concurrency for more senders',
    })
  if (options.rate !== undefined && !(options.rate > 0)) throw new UsageError('rate must be positive')
  if (via === 'queue' && !options.queue) throw new UsageError('--via queue needs a queue (a cloud endpoint and region)')
  if (options.durationMs === undefined && options.count === undefined && !options.signal) {
    throw new UsageError('give --duration or --count (or a signal to stop the workload)')
  }

  return {via, concurrency, maxAmount, originRegion, pipeline}
}

export interface OpenLedger {
  accounts: number
  mint?: MintRecord
  /** the workload made the pool, and closes it */
  ownPool: boolean
  /** the pool transfers go through (none in queue mode) */
  sql?: WorkloadSql
}

/** the pool the workers' transfers go through, closed at the end of the run when the workload made it */
export type WorkloadSql = TransferSql & {end(options?: {timeout?: number}): Promise<unknown>}

/**
 * The pool transfers go through (the caller's, or the workload's own TransferPool) and the mint
 * record, which also gives the number of accounts. The mint is read over postgres.js (typed
 * columns); the workload's own pool only runs the transfer statements.
 */
export async function openLedger(options: WorkloadOptions, settings: WorkloadSettings): Promise<OpenLedger> {
  let {accounts} = options
  let mint: MintRecord | undefined
  if (options.sql) {
    mint = await requireMint(options.sql)
    accounts ??= mint.accounts
    if (accounts < 2) throw new UsageError('at least 2 accounts are needed')
    return {sql: options.sql, ownPool: false, accounts, mint}
  }

  if (settings.via === 'queue' && accounts !== undefined) {
    if (accounts < 2) throw new UsageError('at least 2 accounts are needed')
    return {ownPool: false, accounts}
  }

  if (!options.db || (Array.isArray(options.db) && options.db.length === 0))
    throw new UsageError('no database given', {hint: 'pass --db or start a world with `atlas up`'})
  const [{connectLedger}, {connectTransferPool}] = await Promise.all([import('../db.js'), import('../wire/pool.js')])
  const reader = await connectLedger(options.db, {
    max: 1,
    applicationName: 'atlas-workload',
    connectTimeoutSeconds: options.connectTimeoutSeconds,
  })
  try {
    // the mint time names the ledger in the run log (runlogs.ts: which logs belong to which ledger)
    mint = await requireMint(reader)
  } finally {
    await reader.end({timeout: 1})
  }

  accounts ??= mint.accounts
  if (accounts < 2) throw new UsageError('at least 2 accounts are needed')
  if (settings.via === 'queue') return {ownPool: false, accounts, mint}
  const sql = await connectTransferPool(options.db, {
    max: settings.concurrency,
    applicationName: 'atlas-workload',
    connectTimeoutSeconds: options.connectTimeoutSeconds,
  })
  return {sql, ownPool: true, accounts, mint}
}

/** Creates the run log (recorded in the runs index when it lives elsewhere) and writes its start line. */
export async function openRunLog(
  options: WorkloadOptions,
  settings: WorkloadSettings,
  ledger: OpenLedger,
): Promise<{log: RunLogWriter; started: number; startedAt: Date}> {
  const log = new RunLogWriter(options.runDir)
  if (options.runsDir) await registerRunDir(options.runsDir, options.runDir)
  const startedAt = new Date()
  const started = performance.now()
  const {via, originRegion, concurrency, pipeline} = settings
  log.comment('start', {
    startedAt: startedAt.toISOString(),
    ledgerMintedAt: ledger.mint?.mintedAt.toISOString(),
    via,
    originRegion,
    concurrency,
    pipeline,
    accounts: ledger.accounts,
    count: options.count,
    durationMs: options.durationMs,
    rate: options.rate,
  })
  return {log, startedAt, started}
}

/** What ends the issuing of transfers: stop(), the duration, the count (in runWorker) or the caller's signal, and which came first. */
export class StopSwitch {
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

  /** `workers`: each may wait on retryAbort at once (a retry's pause), and Node warns from 11 listeners on */
  constructor(signal: AbortSignal | undefined, durationMs: number | undefined, workers = 1) {
    // the workers, and resolveUnknowns' budget with its four settlers
    setMaxListeners(workers + 8, this.retryAbort.signal)
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
export function rateSchedule(rate: number | undefined): () => Promise<void> {
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
export interface WorkloadRun {
  accounts: number
  log: RunLogWriter
  options: WorkloadOptions
  settings: WorkloadSettings
  sql?: WorkloadSql
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
export async function finishRun(
  run: WorkloadRun,
  ledger: OpenLedger,
  startedAt: Date,
  progressTimer: NodeJS.Timeout,
): Promise<WorkloadResult> {
  const {options, tally, log} = run
  try {
    // one worker per transfer in flight: the pool pipelines the statements of the workers beyond
    // its connections onto busy connections
    const workers = run.settings.concurrency * run.settings.pipeline
    await Promise.all(Array.from({length: workers}, () => runWorker(run)))
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
    pipeline: run.settings.pipeline,
    database: run.settings.via === 'db' && options.db ? describeDatabase(options.db) : undefined,
    originRegion: run.settings.originRegion,
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    stoppedBy: run.stop.stoppedBy,
    stats,
  }
}
