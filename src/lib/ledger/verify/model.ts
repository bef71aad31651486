import type {AuditTarget} from '../../cloud/audit.js'
import type {LedgerSql} from '../db.js'
import type {RunLogSelection} from '../runlogs.js'

/** What verify is asked, what it reports, and the sizes it works in. */
export type ViolationKind =
  | 'altered'
  | 'audit_mismatch'
  | 'audit_missing'
  | 'audit_replica_missing'
  | 'audit_without_transfer'
  | 'committed_despite_failure'
  | 'conservation'
  | 'duplicate'
  | 'id_reused'
  | 'lost'
  /** a stored transfer differs from what the client sent (its attempt line in the run log) */
  | 'negative_balance'
  /** one id was attempted with different contents: one request was acknowledged but not applied as sent */
  | 'phantom'
  /** a stored transfer differs from its audit record */
  | 'replay'

/** the fields of a transfer the integrity check compares */
export type TransferField = 'amount' | 'from' | 'originRegion' | 'to'

export interface Violation {
  /** account ids involved */
  accounts?: number[]
  /** integrity: the fields that differ */
  fields?: TransferField[]
  /** transfer ids involved */
  ids?: string[]
  kind: ViolationKind
  message: string
}

export interface CheckResult {
  /** how many items the check looked at */
  checked?: number
  name:
    'audit' | 'conservation' | 'duplicates' | 'durability' | 'integrity' | 'negative_balances' | 'phantoms' | 'replay'
  ok: boolean
  skipped?: string
  violations: number
}

export interface AuditOptions {
  /** audit bucket per data region */
  buckets: Record<string, AuditTarget>
  pollIntervalMs?: number
  /** replication rules: a transfer of origin `from` must also be in `to`'s bucket */
  replication: Array<{from: string; to: string}>
  /** how long to keep polling for records that are missing at first (async writes, async replication) */
  timeoutMs?: number
}

export interface VerifyOptions {
  audit?: AuditOptions
  db?: string | string[]
  /** at most this many violations are listed per kind (all are counted) */
  maxListed?: number
  /** read only the runLogs given, not the world's */
  onlyGivenRunLogs?: boolean
  onProgress?: (message: string) => void
  /** run-log ids held in memory at once (one partition); default 1,500,000 */
  partitionIds?: number
  /** always join the stored transfers with the run logs row by row, never decide from the digests (tests compare both) */
  perRowJoin?: boolean
  /** how often a long verify reports its phase and the rows read so far; default 5 s */
  progressIntervalMs?: number
  /** run directories (or run log files) of workloads, always read: durability, phantom and integrity checks */
  runLogs?: string[]
  /** the world's runs directory: every run log of this ledger found there is read too (see runlogs.ts) */
  runsDir?: string
  signal?: AbortSignal
  sql?: LedgerSql
  /** a statement (or connection) that does not answer within this ends verify with exit 3; default 60 s */
  timeoutMs?: number
  /** for the external partitioning of big run logs; default os.tmpdir() */
  tmpDir?: string
}

export interface VerifySummary {
  accounts: number
  allowNegativeBalances: boolean
  audit?: {checked: number; missing: number; replicaMissing: number; withoutTransfer: number}
  balanceTotal: string
  /** stored transfers compared field by field with the client's request (run log) and with their audit records */
  integrity?: {comparedWithAudit: number; comparedWithRequest: number}
  mintedTotal: string
  runLogIds?: {
    acknowledged: number
    attempted: number
    notCommitted: number
    /** --via queue requests the service has not applied (yet, or ever: see the DLQ) */
    sentNotApplied: number
    sentToQueue: number
    unknown: number
    /** unknown outcomes that turned out committed / not committed */
    unknownCommitted: number
    unknownNotCommitted: number
  }
  /** the run logs read, and those found in the world's runs directory but left out (another ledger's) */
  runLogs?: RunLogSelection
  transfers: number
  /** total amount moved, minor units */
  volume: string
}

export interface VerifyResult {
  checks: CheckResult[]
  durationSeconds: number
  ok: boolean
  summary: VerifySummary
  /** violations per kind, including those not listed */
  violationCounts: Partial<Record<ViolationKind, number>>
  violations: Violation[]
}

export const ID_PAGE = 5000
export const ACCOUNT_CHUNK = 100_000
/** ids of the run log held in memory at once (one partition): about 50 MB per million (see LoggedIds) */
export const PARTITION_TARGET = 1_500_000
export const LOWEST_UUID = '00000000-0000-0000-0000-000000000000'
export const HIGHEST_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff'

export interface ScanState {
  accountsReplayed: number
  phase: string
  transferRowsRead: number
}

export type RunLogSummary = NonNullable<VerifySummary['runLogIds']>
export type AuditSummary = NonNullable<VerifySummary['audit']>
export type IntegritySummary = NonNullable<VerifySummary['integrity']>

/** A stored transfer as the integrity check compares it; numbers as the database's decimal text. */
export interface StoredTransfer {
  amount: string
  from: string
  id: string
  originRegion: string
  to: string
}
