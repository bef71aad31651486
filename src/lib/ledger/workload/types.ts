import type {AuditLog} from '../../cloud/audit.js'
import type {TransferQueue} from '../../cloud/queue.js'

import {type LedgerSql} from '../db.js'
import {type RetryPolicy, type TransferOutcome} from '../transfer.js'

export interface WorkloadOptions {
  /** accounts 1..N to move money between; default: all minted accounts */
  accounts?: number
  /** direct mode: write one audit record per acknowledged transfer */
  audit?: AuditLog
  /** connections to the database (queue mode: workers sending requests) */
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
  /**
   * direct mode: transfers in flight on each connection (default DEFAULT_PIPELINE, 4). Above 1 they are pipelined:
   * written without waiting for the answer to the one before (in batches: wire/connection.ts), each its own
   * implicit transaction
   */
  pipeline?: number
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
  /** transfers in flight on each connection (1 in queue mode) */
  pipeline: number
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
  /** transfers in flight on each connection, as settled from the options */
  readonly pipeline: number
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
