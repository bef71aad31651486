import type {AuditTarget} from '../../cloud/audit.js'
import type {LedgerSql} from '../db.js'
import type {RunLogSelection} from '../runlogs.js'

/** What verify is asked, what it reports, and the sizes it works in. */
export type ViolationKind =
  | 'conservation'
  | 'replay'
  | 'negative_balance'
  | 'duplicate'
  | 'lost'
  | 'phantom'
  | 'committed_despite_failure'
  | 'audit_missing'
  | 'audit_replica_missing'
  | 'audit_without_transfer'
  /** a stored transfer differs from what the client sent (its attempt line in the run log) */
  | 'altered'
  /** one id was attempted with different contents: one request was acknowledged but not applied as sent */
  | 'id_reused'
  /** a stored transfer differs from its audit record */
  | 'audit_mismatch'

/** the fields of a transfer the integrity check compares */
export type TransferField = 'from' | 'to' | 'amount' | 'originRegion'

export interface Violation {
  kind: ViolationKind
  message: string
  /** transfer ids involved */
  ids?: string[]
  /** account ids involved */
  accounts?: number[]
  /** integrity: the fields that differ */
  fields?: TransferField[]
}

export interface CheckResult {
  name: 'conservation' | 'replay' | 'negative_balances' | 'duplicates' | 'durability' | 'phantoms' | 'integrity' | 'audit'
  ok: boolean
  /** how many items the check looked at */
  checked?: number
  violations: number
  skipped?: string
}

export interface AuditOptions {
  /** audit bucket per data region */
  buckets: Record<string, AuditTarget>
  /** replication rules: a transfer of origin `from` must also be in `to`'s bucket */
  replication: Array<{from: string; to: string}>
  /** how long to keep polling for records that are missing at first (async writes, async replication) */
  timeoutMs?: number
  pollIntervalMs?: number
}

export interface VerifyOptions {
  db?: string | string[]
  sql?: LedgerSql
  /** run directories (or run log files) of workloads, always read: durability, phantom and integrity checks */
  runLogs?: string[]
  /** the world's runs directory: every run log of this ledger found there is read too (see runlogs.ts) */
  runsDir?: string
  /** read only the runLogs given, not the world's */
  onlyGivenRunLogs?: boolean
  audit?: AuditOptions
  /** at most this many violations are listed per kind (all are counted) */
  maxListed?: number
  signal?: AbortSignal
  onProgress?: (message: string) => void
  /** for the external partitioning of big run logs; default os.tmpdir() */
  tmpDir?: string
  /** run-log ids held in memory at once (one partition); default 1,500,000 */
  partitionIds?: number
  /** a statement (or connection) that does not answer within this ends verify with exit 3; default 60 s */
  timeoutMs?: number
  /** how often a long verify reports its phase and the rows read so far; default 5 s */
  progressIntervalMs?: number
}

export interface VerifySummary {
  accounts: number
  transfers: number
  /** total amount moved, minor units */
  volume: string
  mintedTotal: string
  balanceTotal: string
  allowNegativeBalances: boolean
  runLogIds?: {
    attempted: number
    acknowledged: number
    unknown: number
    /** unknown outcomes that turned out committed / not committed */
    unknownCommitted: number
    unknownNotCommitted: number
    notCommitted: number
    sentToQueue: number
    /** --via queue requests the service has not applied (yet, or ever: see the DLQ) */
    sentNotApplied: number
  }
  /** the run logs read, and those found in the world's runs directory but left out (another ledger's) */
  runLogs?: RunLogSelection
  audit?: {checked: number; missing: number; replicaMissing: number; withoutTransfer: number}
  /** stored transfers compared field by field with the client's request (run log) and with their audit records */
  integrity?: {comparedWithRequest: number; comparedWithAudit: number}
}

export interface VerifyResult {
  ok: boolean
  checks: CheckResult[]
  summary: VerifySummary
  violations: Violation[]
  /** violations per kind, including those not listed */
  violationCounts: Partial<Record<ViolationKind, number>>
  durationSeconds: number
}

export const ID_PAGE = 5_000
export const ACCOUNT_CHUNK = 100_000
/** ids of the run log held in memory at once (one partition): about 50 MB per million (see LoggedIds) */
export const PARTITION_TARGET = 1_500_000
export const LOWEST_UUID = '00000000-0000-0000-0000-000000000000'
export const HIGHEST_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff'

export interface ScanState {
  phase: string
  accountsReplayed: number
  transferRowsRead: number
}

export type RunLogSummary = NonNullable<VerifySummary['runLogIds']>
export type AuditSummary = NonNullable<VerifySummary['audit']>
export type IntegritySummary = NonNullable<VerifySummary['integrity']>

/** A stored transfer as the integrity check compares it; numbers as the database's decimal text. */
export interface StoredTransfer {
  id: string
  from: string
  to: string
  amount: string
  originRegion: string
}
