import {closeSync, openSync, writeSync} from 'node:fs'
import {mkdtemp, open, rm, stat} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {PreconditionError, UsageError} from '../errors.js'
import {sleep} from '../proc/ports.js'
import {listAuditIds, readAuditRecord, type AuditRecord, type AuditTarget} from '../cloud/audit.js'
import {combineDatabaseUrls, connectLedger, type LedgerSql} from './db.js'
import {IdStatus, statusOfLine} from './runlog.js'
import {selectRunLogs, type RunLogSelection} from './runlogs.js'
import {requireMint} from './schema.js'
import * as q from './sql.js'
import {describeRequest, formatUuid, LoggedIds, parsedId, parseUuid, readUuid, REQUEST_KNOWN, STORED} from './verify/ids.js'

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

const ID_PAGE = 5_000
const ACCOUNT_CHUNK = 100_000
/** ids of the run log held in memory at once (one partition): about 50 MB per million (see LoggedIds) */
const PARTITION_TARGET = 1_500_000
const LOWEST_UUID = '00000000-0000-0000-0000-000000000000'
const HIGHEST_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff'

/**
 * The Jepsen-bank-style checker. Every check streams: balances and replay sums
 * are aggregated on the server (keyset chunks of accounts); the stored transfers
 * are joined with the run logs partition by partition (split by id prefix, so at
 * most about PARTITION_TARGET ids are in memory), and with --audit read in key
 * order and merge-joined with the buckets' listings (which come back in that order).
 */
export async function verifyLedger(options: VerifyOptions): Promise<VerifyResult> {
  const started = performance.now()
  const maxListed = options.maxListed ?? 100
  const progress = options.onProgress ?? (() => {})
  const ownPool = !options.sql
  if (!options.sql && !options.db) throw new UsageError('no database given', {hint: 'pass --db or start a world with `atlas up`'})
  const sql = options.sql ?? (await connectLedger(options.db!, {max: 4, applicationName: 'atlas-verify'}))
  const bound = new StatementBound(options.timeoutMs ?? 60_000, options.db ? combineDatabaseUrls(options.db).hosts : [])
  // a long verify says where it is, every few seconds (stderr): the phase and the rows read so far
  const state: ScanState = {phase: 'reading the mint record', accountsReplayed: 0, transferRowsRead: 0}
  const ticker = setInterval(() => {
    const seconds = ((performance.now() - started) / 1000).toFixed(0)
    progress(`${seconds} s: ${state.phase}; ${state.accountsReplayed} accounts replayed, ${state.transferRowsRead} transfer rows read`)
  }, options.progressIntervalMs ?? 5000)
  ticker.unref()

  const violations: Violation[] = []
  const counts: Partial<Record<ViolationKind, number>> = {}
  const report = (violation: Violation) => {
    counts[violation.kind] = (counts[violation.kind] ?? 0) + 1
    if (counts[violation.kind]! <= maxListed) violations.push(violation)
  }
  const checks: CheckResult[] = []
  try {
    const mint = await bound.answer('reading the mint record', requireMint(sql))
    await bound.identifyServer(sql)
    const selection = await selectRunLogs({runsDir: options.runsDir, given: options.runLogs, onlyGiven: options.onlyGivenRunLogs, ledgerMintedAt: mint.mintedAt})
    const runLogFiles = selection.files

    // server-side aggregates run concurrently with the client-side id stream
    progress('conservation, replay and balances (server-side aggregates)')
    state.phase = runLogFiles.length > 0 || options.audit ? 'replaying balances and reading transfers' : 'replaying balances'
    const aggregates = (async () => {
      const [range] = await bound.answer('reading the account range', sql.unsafe(q.ACCOUNT_ID_RANGE))
      let balanceTotal = 0n
      let openingTotal = 0n
      let accountCount = 0
      let transfers = 0
      let volume = 0n
      let replayMismatches = 0
      const replayViolations: Violation[] = []
      let negativeCount = 0
      const negativeRows: Array<{id: number; balance: string}> = []
      if (range.lo !== null) {
        const single = Number(range.hi) - Number(range.lo) < ACCOUNT_CHUNK
        for (let lo = Number(range.lo); lo <= Number(range.hi); lo += ACCOUNT_CHUNK) {
          const hi = Math.min(Number(range.hi), lo + ACCOUNT_CHUNK - 1)
          const query = single ? sql.unsafe(q.REPLAY_ALL) : sql.unsafe(q.REPLAY_CHUNK, [lo, hi])
          const rows = (await bound.answer(`replaying accounts ${lo}..${hi}`, query.values())) as unknown as Array<[string, string, string, string, string, string]>
          state.accountsReplayed += rows.length
          for (const [id, balanceText, openingText, incomingText, countText, outgoingText] of rows) {
            const balance = BigInt(balanceText)
            const opening = BigInt(openingText)
            const incoming = BigInt(incomingText)
            const outgoing = BigInt(outgoingText)
            accountCount++
            balanceTotal += balance
            openingTotal += opening
            transfers += Number(countText)
            volume += incoming
            const expected = opening + incoming - outgoing
            if (balance !== expected) {
              replayMismatches++
              if (replayViolations.length < maxListed) {
                replayViolations.push({
                  kind: 'replay',
                  message: `account ${id}: balance ${balance}, but opening ${opening} + incoming ${incoming} - outgoing ${outgoing} = ${expected} (off by ${balance - expected})`,
                  accounts: [Number(id)],
                })
              }
            }
            if (balance < 0n && !mint.allowNegativeBalances) {
              negativeCount++
              if (negativeRows.length < maxListed) negativeRows.push({id: Number(id), balance: balanceText})
            }
          }
        }
      }
      const conservationViolations: Violation[] = []
      if (balanceTotal !== mint.total) {
        conservationViolations.push({
          kind: 'conservation',
          message: `the balances sum to ${balanceTotal}, the recorded mint is ${mint.total} (${balanceTotal > mint.total ? 'created' : 'lost'} ${abs(balanceTotal - mint.total)})`,
        })
      }
      if (openingTotal !== mint.total || accountCount !== mint.accounts) {
        conservationViolations.push({
          kind: 'conservation',
          message: `accounts were added, removed or re-opened after the mint: ${accountCount} accounts with opening balances summing to ${openingTotal}; minted ${mint.accounts} accounts, ${mint.total} in total`,
        })
      }
      const [pk] = await bound.answer('looking up the primary key', sql.unsafe(q.TRANSFERS_PRIMARY_KEY))
      const hasPrimaryKey = Number(pk.n) > 0
      // without the primary key, uniqueness is not enforced any more: look for stored duplicates
      const duplicates = hasPrimaryKey ? [] : await bound.answer('looking for duplicate ids', sql.unsafe(q.DUPLICATE_TRANSFER_IDS, [maxListed]))
      return {
        balanceTotal,
        accountCount,
        transfers,
        volume,
        conservationViolations,
        replayMismatches,
        replayViolations,
        negatives: {count: negativeCount, rows: negativeRows},
        hasPrimaryKey,
        duplicates,
      }
    })()
    aggregates.catch(() => {})

    const needIdStream = runLogFiles.length > 0 || options.audit !== undefined
    const idScan = needIdStream ? scanIds(sql, runLogFiles, options, report, progress, bound, state) : Promise.resolve({transfers: 0, runLog: undefined, audit: undefined, integrity: undefined, streamDuplicates: 0})
    const [agg, scan] = await Promise.all([aggregates, idScan])

    for (const v of agg.conservationViolations) report(v)
    checks.push({name: 'conservation', ok: agg.conservationViolations.length === 0, checked: agg.accountCount, violations: agg.conservationViolations.length})
    for (const v of agg.replayViolations) report(v)
    counts.replay = agg.replayMismatches > 0 ? Math.max(counts.replay ?? 0, agg.replayMismatches) : counts.replay
    checks.push({name: 'replay', ok: agg.replayMismatches === 0, checked: agg.accountCount, violations: agg.replayMismatches})
    if (mint.allowNegativeBalances) {
      checks.push({name: 'negative_balances', ok: true, violations: 0, skipped: 'negative balances are allowed by this ledger'})
    } else {
      for (const row of agg.negatives.rows) report({kind: 'negative_balance', message: `account ${row.id} has balance ${row.balance} < 0`, accounts: [row.id]})
      counts.negative_balance = agg.negatives.count || counts.negative_balance
      checks.push({name: 'negative_balances', ok: agg.negatives.count === 0, checked: agg.accountCount, violations: agg.negatives.count})
    }
    for (const row of agg.duplicates) {
      report({kind: 'duplicate', message: `transfer ${row.id} is stored ${row.copies} times`, ids: [String(row.id)]})
    }
    const duplicateCount = Math.max(agg.duplicates.length, scan.streamDuplicates)
    // with the primary key in place and no id stream, uniqueness is the database's guarantee; without it, DUPLICATE_TRANSFER_IDS looked
    checks.push({name: 'duplicates', ok: duplicateCount === 0, checked: agg.transfers, violations: duplicateCount})
    if (scan.runLog) {
      const lost = counts.lost ?? 0
      const failedButCommitted = counts.committed_despite_failure ?? 0
      checks.push({name: 'durability', ok: lost === 0 && failedButCommitted === 0, checked: scan.runLog.acknowledged, violations: lost + failedButCommitted})
      checks.push({name: 'phantoms', ok: (counts.phantom ?? 0) === 0, checked: scan.transfers, violations: counts.phantom ?? 0})
    } else {
      checks.push({name: 'durability', ok: true, violations: 0, skipped: 'no run log found or given (--run-dir)'})
      checks.push({name: 'phantoms', ok: true, violations: 0, skipped: 'no run log found or given (--run-dir)'})
    }
    if (scan.integrity) {
      const n = (counts.altered ?? 0) + (counts.id_reused ?? 0) + (counts.audit_mismatch ?? 0)
      checks.push({name: 'integrity', ok: n === 0, checked: scan.transfers, violations: n})
    } else {
      checks.push({name: 'integrity', ok: true, violations: 0, skipped: 'needs a run log (--run-dir) or the audit records (--audit)'})
    }
    if (scan.audit) {
      const n = scan.audit.missing + scan.audit.replicaMissing + scan.audit.withoutTransfer
      checks.push({name: 'audit', ok: n === 0, checked: scan.audit.checked, violations: n})
    } else {
      checks.push({name: 'audit', ok: true, violations: 0, skipped: 'not requested (--audit)'})
    }

    const summary: VerifySummary = {
      accounts: agg.accountCount,
      transfers: agg.transfers,
      volume: agg.volume.toString(),
      mintedTotal: mint.total.toString(),
      balanceTotal: agg.balanceTotal.toString(),
      allowNegativeBalances: mint.allowNegativeBalances,
      ...(scan.runLog ? {runLogIds: scan.runLog} : {}),
      ...(selection.files.length > 0 || selection.skipped.length > 0 ? {runLogs: selection} : {}),
      ...(scan.audit ? {audit: scan.audit} : {}),
      ...(scan.integrity ? {integrity: scan.integrity} : {}),
    }
    return {
      ok: checks.every((c) => c.ok),
      checks,
      summary,
      violations,
      violationCounts: counts,
      durationSeconds: Math.round((performance.now() - started) / 10) / 100,
    }
  } finally {
    clearInterval(ticker)
    // statements stuck on a frozen server are abandoned after this grace period
    if (ownPool) await sql.end({timeout: 2})
  }
}

interface ScanState {
  phase: string
  accountsReplayed: number
  transferRowsRead: number
}

/**
 * Bounds every statement of a verify. A server that stops answering (a frozen
 * primary: SIGSTOP, a hung disk) would otherwise keep verify waiting forever with
 * no output; past the bound it ends with exit 3, naming the host.
 */
class StatementBound {
  /** host:port of the server the pool talks to, once known */
  private server: string | undefined

  constructor(
    readonly timeoutMs: number,
    private readonly hosts: string[],
  ) {
    if (hosts.length === 1) this.server = hosts[0]
  }

  /** with several hosts, which one is the primary we talk to (best effort: the message names all hosts otherwise) */
  async identifyServer(sql: LedgerSql): Promise<void> {
    if (this.server) return
    try {
      const [row] = await this.answer('identifying the server', sql.unsafe(q.SERVER_ADDRESS))
      const host = String(row.host ?? '').replace(/\/\d+$/, '')
      if (host && row.port) this.server = `${host}:${row.port}`
    } catch (error) {
      if (error instanceof PreconditionError) throw error
    }
  }

  answer<T>(what: string, pending: PromiseLike<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.notAnswering(what, `within ${formatSeconds(this.timeoutMs)}`)), this.timeoutMs)
    })
    const answered = Promise.resolve(pending).catch((error: unknown) => {
      // the connect timeout of the pool (connectLedger): the same failure, seen while connecting
      const e = error as {code?: string; address?: string; port?: number}
      if (e?.code === 'CONNECT_TIMEOUT') throw this.notAnswering(`${what}: connecting`, 'to a connection attempt', e.address && e.port ? `${e.address}:${e.port}` : undefined)
      throw error
    })
    return Promise.race([answered, timeout]).finally(() => clearTimeout(timer))
  }

  /** the error of a statement that did not answer (or stopped sending) within the bound */
  notAnsweringError(what: string): PreconditionError {
    return this.notAnswering(what, `within ${formatSeconds(this.timeoutMs)}`)
  }

  private notAnswering(what: string, bound: string, server = this.server): PreconditionError {
    const who = server ? `the database server ${server}` : this.hosts.length > 0 ? `the database (hosts ${this.hosts.join(', ')})` : 'the database'
    return new PreconditionError(`${who} did not answer ${bound} (${what})`, {
      code: 'DATABASE_NOT_ANSWERING',
      hint: 'is it frozen or overloaded? `atlas status` shows the members; --timeout sets how long verify waits for one statement',
      details: {server: server ?? null, hosts: this.hosts, timeoutMs: this.timeoutMs},
    })
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`
}

type RunLogSummary = NonNullable<VerifySummary['runLogIds']>
type AuditSummary = NonNullable<VerifySummary['audit']>
type IntegritySummary = NonNullable<VerifySummary['integrity']>

/** A stored transfer as the integrity check compares it; numbers as the database's decimal text. */
export interface StoredTransfer {
  id: string
  from: string
  to: string
  amount: string
  originRegion: string
}

/**
 * One pass over the stored transfers, partition by partition, joined with the run
 * logs (hash lookups by the id's 128 bits) and merge-joined with the audit listings.
 */
async function scanIds(
  sql: LedgerSql,
  runLogFiles: string[],
  options: VerifyOptions,
  report: (v: Violation) => void,
  progress: (message: string) => void,
  bound: StatementBound,
  state: ScanState,
): Promise<{transfers: number; runLog?: RunLogSummary; audit?: AuditSummary; integrity?: IntegritySummary; streamDuplicates: number}> {
  const partitions = runLogFiles.length > 0 ? await partitionRunLogs(runLogFiles, options.tmpDir, options.partitionIds) : undefined
  const runLog: RunLogSummary | undefined = partitions
    ? {attempted: 0, acknowledged: 0, unknown: 0, unknownCommitted: 0, unknownNotCommitted: 0, notCommitted: 0, sentToQueue: 0, sentNotApplied: 0}
    : undefined
  const audit = options.audit ? new AuditMerge(options.audit, report) : undefined
  let transfers = 0
  let comparedWithRequest = 0
  let streamDuplicates = 0
  /** the id of the previous stored row (a repeated id that is in no run log is still a duplicate) */
  const previous = new Int32Array(4)
  let hasPrevious = false
  const ranges = partitions?.ranges ?? [{lo: LOWEST_UUID, hi: HIGHEST_UUID, load: async () => new LoggedIds()}]
  try {
    // several partitions and no audit merge: one pass over the table spills the stored transfers into
    // partition files like the run log's, instead of one range scan per partition over the whole heap
    const spilled = partitions && ranges.length > 1 && !audit ? await spillStoredTransfers(sql, partitions, bound, state) : undefined
    let done = 0
    for (const range of ranges) {
      options.signal?.throwIfAborted()
      const ids = await range.load()
      if (runLog) {
        // bucket order: the records in memory order
        for (let slot = 0; slot < ids.capacity; slot++) {
          if (!ids.used(slot)) continue
          runLog.attempted++
          const status = ids.status(slot)
          if (status === IdStatus.Acknowledged) runLog.acknowledged++
          else if (status === IdStatus.Unknown) runLog.unknown++
          else if (status === IdStatus.NotCommitted) runLog.notCommitted++
          else if (status === IdStatus.Sent) runLog.sentToQueue++
        }
        for (const [slot, {id, other}] of ids.conflicting) {
          report({
            kind: 'id_reused',
            message: `transfer id ${id} was sent with different contents: ${ids.describe(slot)} and ${other} (only one can be stored; the other was answered as if applied)`,
            ids: [id],
          })
        }
      }
      /** the checks of one stored transfer (its id in parsedId) against the run log; false for a repeated id */
      const check = (from: number, to: number, amount: number): boolean => {
        transfers++
        const slot = runLog ? ids.find() : -1
        const repeated = hasPrevious && parsedId[0] === previous[0] && parsedId[1] === previous[1] && parsedId[2] === previous[2] && parsedId[3] === previous[3]
        if (repeated || (slot >= 0 && ids.has(slot, STORED))) {
          streamDuplicates++
          const id = formatUuid(parsedId[0], parsedId[1], parsedId[2], parsedId[3])
          report({kind: 'duplicate', message: `transfer ${id} is stored more than once`, ids: [id]})
          return false
        }
        previous[0] = parsedId[0]
        previous[1] = parsedId[1]
        previous[2] = parsedId[2]
        previous[3] = parsedId[3]
        hasPrevious = true
        if (!runLog) return true
        if (slot < 0) {
          const id = formatUuid(parsedId[0], parsedId[1], parsedId[2], parsedId[3])
          report({kind: 'phantom', message: `transfer ${id} is stored but no client attempted it (it is in none of the ${runLogFiles.length} run log(s) read)`, ids: [id]})
          return true
        }
        ids.mark(slot, STORED)
        const status = ids.status(slot)
        if (status === IdStatus.NotCommitted) {
          const id = ids.idOf(slot)
          report({kind: 'committed_despite_failure', message: `transfer ${id} was reported rejected/failed to the client but is committed`, ids: [id]})
        } else if (status === IdStatus.Unknown) runLog.unknownCommitted++
        if (!ids.has(slot, REQUEST_KNOWN)) return true
        comparedWithRequest++
        // a reused id was reported above; its stored transfer must still be one of the requests
        if ((from !== ids.request(slot, 0) || to !== ids.request(slot, 1) || amount !== ids.request(slot, 2)) && describeRequest(from, to, amount) !== ids.conflicting.get(slot)?.other) {
          const id = ids.idOf(slot)
          const sent = {from: ids.request(slot, 0), to: ids.request(slot, 1), amount: ids.request(slot, 2)}
          const fields = (['from', 'to', 'amount'] as const).filter((f) => ({from, to, amount})[f] !== sent[f])
          report({
            kind: 'altered',
            message: `transfer ${id} is stored as ${describeRequest(from, to, amount)}, but the client sent ${ids.describe(slot)} (${fields.join(', ')} differ${fields.length === 1 ? 's' : ''})`,
            ids: [id],
            fields,
          })
        }
        return true
      }
      if (spilled) {
        await scanStoredPartition(spilled.file(range), check)
      } else if (!audit) {
        // the run-log join alone: the whole table in its physical order, one COPY
        await streamStoredTransfers(sql, bound, state, check)
      } else {
        // the audit merge needs key order
        const idBytes = Buffer.alloc(36)
        for await (const page of transferRows(sql, range, bound, state)) {
          for (const row of page) {
            idBytes.write(row[0], 'latin1')
            if (!parseUuid(idBytes, 0)) throw new Error(`transfer id ${row[0]} read back is not a UUID`)
            if (check(Number(row[1]), Number(row[2]), Number(row[3]))) {
              await audit.transfer({id: row[0], from: row[1], to: row[2], amount: row[3], originRegion: row[4]})
            }
          }
        }
      }
      // what the run log has and the database does not
      if (runLog) {
        let lost = 0
        for (let slot = 0; slot < ids.capacity; slot++) {
          if (!ids.used(slot) || ids.has(slot, STORED)) continue
          const status = ids.status(slot)
          if (status === IdStatus.Acknowledged) lost++
          else if (status === IdStatus.Unknown) runLog.unknownNotCommitted++
          else if (status === IdStatus.Sent) runLog.sentNotApplied++
        }
        // the lost ones in run-log order
        for (let i = 0; lost > 0 && i < ids.size; i++) {
          const slot = ids.slotAt(i)
          if (ids.has(slot, STORED) || ids.status(slot) !== IdStatus.Acknowledged) continue
          lost--
          const id = ids.idOf(slot)
          report({kind: 'lost', message: `transfer ${id} was acknowledged to the client but is not stored`, ids: [id]})
        }
      }
      done++
      if (ranges.length > 1) progress(`transfer ids: partition ${done}/${ranges.length} (${transfers} transfers so far)`)
    }
    if (audit) {
      state.phase = 'reading the remaining audit records'
      await audit.finish(options.signal)
    }
  } finally {
    await partitions?.cleanup()
  }
  const integrity = runLog || audit ? {comparedWithRequest, comparedWithAudit: audit?.compared ?? 0} : undefined
  return {transfers, runLog, audit: audit?.summary, integrity, streamDuplicates}
}

/** binary COPY: the signature that starts the stream, and the row layout of COPY_TRANSFER_ROWS_BINARY */
const PGCOPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')
/** 2-byte field count, then per field a 4-byte length and the value: a 16-byte UUID and three 8-byte integers */
const BINARY_ROW = 2 + 4 + 16 + 3 * (4 + 8)

/** a signed 8-byte big-endian integer as a number (exact below 2^53, as the run log's requests are read) */
function readInt8(chunk: Buffer, at: number): number {
  return chunk.readInt32BE(at) * 4294967296 + chunk.readUInt32BE(at + 4)
}

/**
 * Every stored transfer, in the table's physical order, through one COPY: calls
 * onRow(from, to, amount) with the id in parsedId; no string or object per row.
 * Binary COPY where the server has it (PostgreSQL: no text to format on the server,
 * fixed-size rows here), otherwise the text form ("<id>\t<from>\t<to>\t<amount>"
 * lines; CockroachDB's COPY TO has no binary format).
 */
async function streamStoredTransfers(sql: LedgerSql, bound: StatementBound, state: ScanState, onRow: (from: number, to: number, amount: number) => unknown): Promise<void> {
  const what = () => `copying transfer rows (${state.transferRowsRead} read so far)`
  let rows = 0
  const read = async (statement: string, consume: (chunk: Buffer) => Buffer, finish: (rest: Buffer) => void) => {
    const stream = await bound.answer(what(), sql.unsafe(statement).readable())
    // postgres.js pauses the socket when the stream's buffer is full and resumes it from the stream's _read(). If the
    // COPY ends while it is paused (its last rows arrived before they were read), _read() is never called again and
    // the connection stays deaf to the next statement (verify would wait out --timeout): one call at the end resumes it.
    const resume = () => (stream as unknown as {_read(size: number): void})._read(0)
    await new Promise<void>((resolve, reject) => {
      // the incomplete last row of a chunk, completed by the next one
      let rest: Buffer = EMPTY
      let timer: NodeJS.Timeout | undefined
      const fail = (error: unknown) => {
        clearTimeout(timer)
        stream.destroy()
        reject(error)
      }
      // the statement bound applies to each chunk: a server that stops sending ends verify
      const arm = () => {
        clearTimeout(timer)
        timer = setTimeout(() => fail(bound.notAnsweringError(what())), bound.timeoutMs)
      }
      // each CopyData message (one row) is a chunk of its own: read() takes all that arrived at once, in one buffer
      stream.on('readable', () => {
        try {
          for (let chunk: Buffer | null = stream.read(); chunk !== null; chunk = stream.read()) {
            rest = consume(rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk)
          }
          arm()
        } catch (error) {
          fail(error)
        }
      })
      stream.on('end', () => {
        clearTimeout(timer)
        try {
          finish(rest)
          resolve()
        } catch (error) {
          reject(error)
        }
      })
      stream.on('error', (error) => fail(error))
      arm()
    }).finally(resume)
  }
  let headerRead = false
  const binaryRows = (chunk: Buffer): Buffer => {
    let at = 0
    if (!headerRead) {
      if (chunk.length < 19) return chunk
      if (!chunk.subarray(0, 11).equals(PGCOPY_SIGNATURE)) throw new Error('binary COPY: not a PGCOPY stream')
      at = 19 + chunk.readUInt32BE(15)
      headerRead = true
    }
    while (at + 2 <= chunk.length) {
      const fields = chunk.readInt16BE(at)
      if (fields === -1) return EMPTY
      if (at + BINARY_ROW > chunk.length) break
      if (fields !== 4 || chunk.readInt32BE(at + 2) !== 16 || chunk.readInt32BE(at + 22) !== 8 || chunk.readInt32BE(at + 34) !== 8 || chunk.readInt32BE(at + 46) !== 8) {
        throw new Error('binary COPY: unexpected row layout')
      }
      readUuid(chunk, at + 6)
      rows++
      onRow(readInt8(chunk, at + 26), readInt8(chunk, at + 38), readInt8(chunk, at + 50))
      at += BINARY_ROW
    }
    state.transferRowsRead = rows
    return at === chunk.length ? EMPTY : chunk.subarray(at)
  }
  const textLine = (chunk: Buffer, start: number, end: number) => {
    if (end - start < 36) return
    if (!parseUuid(chunk, start)) throw new Error(`transfer id ${chunk.toString('latin1', start, start + 36)} read back is not a UUID`)
    // always checked, even if unparsable (NaN fields then show as altered): a stored row must never be skipped
    if (parseRequest(chunk, start, end) < 0) parsedRequest.fill(Number.NaN)
    rows++
    onRow(parsedRequest[0], parsedRequest[1], parsedRequest[2])
  }
  const textLines = (chunk: Buffer): Buffer => {
    let start = 0
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      textLine(chunk, start, nl)
      start = nl + 1
    }
    state.transferRowsRead = rows
    return start === chunk.length ? EMPTY : chunk.subarray(start)
  }
  try {
    await read(q.COPY_TRANSFER_ROWS_BINARY, binaryRows, (rest) => {
      if (rest.length > 0) throw new Error('binary COPY: the stream ended inside a row')
    })
  } catch (error) {
    // a server without binary COPY refuses it before the first row; anything later is a real failure
    if (rows > 0 || error instanceof PreconditionError) throw error
    await read(q.COPY_TRANSFER_ROWS, textLines, (rest) => rest.length > 0 && textLine(rest, 0, rest.length))
  }
}

/** one stored transfer in a partition file: the id's 16 bytes, then from, to and amount as doubles */
const STORED_RECORD = 16 + 3 * 8

/**
 * Copies every stored transfer into per-partition files of fixed-size records
 * (STORED_RECORD), reading the table once in its physical order (streamStoredTransfers).
 */
async function spillStoredTransfers(sql: LedgerSql, partitions: Partitions, bound: StatementBound, state: ScanState): Promise<{file: (range: IdRange) => string}> {
  state.phase = 'copying the stored transfers into partitions'
  const writer = new PartitionWriter(partitions.dir, partitions.prefixes, '.stored')
  try {
    await streamStoredTransfers(sql, bound, state, (from, to, amount) => {
      const index = partitions.indexOfWord(parsedId[0])
      const [buffer, at] = writer.reserve(index)
      buffer.writeInt32BE(parsedId[0], at)
      buffer.writeInt32BE(parsedId[1], at + 4)
      buffer.writeInt32BE(parsedId[2], at + 8)
      buffer.writeInt32BE(parsedId[3], at + 12)
      buffer.writeDoubleLE(from, at + 16)
      buffer.writeDoubleLE(to, at + 24)
      buffer.writeDoubleLE(amount, at + 32)
      writer.commit(index, at + STORED_RECORD)
    })
  } finally {
    writer.close()
  }
  state.phase = 'checking the partitions'
  return {file: (range) => path.join(partitions.dir, `${partitions.prefixes[partitions.indexOf(Buffer.from(range.lo, 'latin1'), 0)]}.stored`)}
}

/** Calls check(from, to, amount) with the id in parsedId for each record of a spilled partition file. */
async function scanStoredPartition(file: string, check: (from: number, to: number, amount: number) => unknown): Promise<void> {
  const buffer = Buffer.allocUnsafe(STORED_RECORD * 8192)
  const handle = await open(file, 'r')
  try {
    let filled = 0
    for (;;) {
      const {bytesRead} = await handle.read(buffer, filled, buffer.length - filled, null)
      filled += bytesRead
      let at = 0
      for (; at + STORED_RECORD <= filled; at += STORED_RECORD) {
        readUuid(buffer, at)
        check(buffer.readDoubleLE(at + 16), buffer.readDoubleLE(at + 24), buffer.readDoubleLE(at + 32))
      }
      if (bytesRead === 0) break
      buffer.copyWithin(0, at, filled)
      filled -= at
    }
  } finally {
    await handle.close()
  }
}

/** id, from_account, to_account, amount as text, and origin_region (for the audit merge) */
type TransferRow = [string, string, string, string, string]

/**
 * The stored transfers of one id range in key order, a page at a time (keyset
 * pages, the next one requested while this one is merged with the audit listings).
 */
async function* transferRows(sql: LedgerSql, range: IdRange, bound: StatementBound, state: ScanState): AsyncGenerator<TransferRow[]> {
  const what = () => `reading transfer rows (${state.transferRowsRead} read so far)`
  const fetchPage = (after: string, first: boolean) => {
    const pending = sql.unsafe(first ? q.TRANSFER_ROWS_FIRST_PAGE : q.TRANSFER_ROWS_PAGE, [after, range.hi, ID_PAGE], {prepare: true}).values() as unknown as Promise<TransferRow[]>
    pending.catch(() => {})
    return pending
  }
  let next: Promise<TransferRow[]> | undefined = fetchPage(range.lo, true)
  while (next) {
    const page: TransferRow[] = await bound.answer(what(), next)
    state.transferRowsRead += page.length
    next = page.length === ID_PAGE ? fetchPage(page[page.length - 1][0], false) : undefined
    yield page
  }
}


interface IdRange {
  lo: string
  hi: string
  load(): Promise<LoggedIds>
}

/**
 * Calls onRecord(status, idStart) for each "<event>\t<id>..." line of a run log,
 * reading raw bytes in big chunks: no string per line, no promise per record
 * (millions of lines). The id is the 36 bytes at idStart of the chunk passed along;
 * the line ends at lineEnd (exclusive).
 */
async function scanRecords(file: string, onRecord: (status: IdStatus, chunk: Buffer, idStart: number, lineEnd: number) => void): Promise<void> {
  await forEachLine(file, (chunk, start, end) => {
    const status = statusOfLine(chunk, start)
    if (status === undefined) return
    const tab = chunk.indexOf(9, start)
    if (tab >= 0 && tab + 37 <= end) onRecord(status, chunk, tab + 1, end)
  })
}

/** Calls onLine(chunk, start, end) for each line of a file, read in big chunks into one reusable buffer. */
async function forEachLine(file: string, onLine: (chunk: Buffer, start: number, end: number) => void): Promise<void> {
  // one reusable buffer: memory stays flat however big the file is
  const buffer = Buffer.allocUnsafe(READ_BUFFER)
  const handle = await open(file, 'r')
  try {
    let filled = 0
    for (;;) {
      const {bytesRead} = await handle.read(buffer, filled, buffer.length - filled, null)
      filled += bytesRead
      const final = bytesRead === 0
      let start = 0
      for (;;) {
        let nl = buffer.indexOf(10, start)
        if (nl < 0 || nl >= filled) {
          if (!final || start >= filled) break
          nl = filled
        }
        onLine(buffer, start, nl)
        start = nl + 1
      }
      if (final) break
      // keep the incomplete last line at the front for the next read
      buffer.copyWithin(0, start, filled)
      filled -= start
      if (filled === buffer.length) throw new UsageError(`${file}: a line longer than ${READ_BUFFER} bytes: not a run log`)
    }
  } finally {
    await handle.close()
  }
}

const READ_BUFFER = 1 << 20
const EMPTY = Buffer.alloc(0)


/** from, to, amount of the last parseRequest (one scratch array: no allocation per line) */
const parsedRequest = new Float64Array(3)

/**
 * Parses the request of an attempt line, "<from>\t<to>\t<amount>" after the id (a
 * run log's line goes on with the time, a partition record ends there), into
 * parsedRequest. Returns the end of the amount field, or -1 when the fields are
 * not there.
 */
function parseRequest(chunk: Buffer, idStart: number, lineEnd: number): number {
  let at = idStart + 37
  for (let field = 0; field < 3; field++) {
    let value = 0
    const negative = chunk[at] === 0x2d
    if (negative) at++
    const start = at
    while (at < lineEnd && chunk[at] >= 0x30 && chunk[at] <= 0x39) value = value * 10 + (chunk[at++] - 0x30)
    if (at === start || (at < lineEnd && chunk[at] !== 9) || (field < 2 && at >= lineEnd)) return -1
    parsedRequest[field] = negative ? -value : value
    if (field < 2) at++
  }
  return at
}

/** lower-case hex digit value of the byte, or -1 */
function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37
  return -1
}

/** the longest partition record: "<digit>\t<36-char id>\t<from>\t<to>\t<amount>\n", three numbers of at most 20 digits */
const PARTITION_RECORD_MAX = 2 + 36 + 3 * 21 + 1
const PARTITION_BUFFER = 4096 * 64

/** Run-log ids split by the first hex digits of the id (see partitionRunLogs). */
interface Partitions {
  ranges: IdRange[]
  /** where the partition files are; empty for a single partition read straight from the logs */
  dir: string
  /** one per partition, in key order */
  prefixes: string[]
  /** the partition of the id whose text starts at `at`, or -1 */
  indexOf(chunk: Buffer, at: number): number
  /** the partition of the id whose first 32 bits are `word` */
  indexOfWord(word: number): number
  cleanup(): Promise<void>
}

/** Buffered appends to one file per partition (records of at most PARTITION_RECORD_MAX bytes). */
class PartitionWriter {
  private readonly fds: number[]
  private readonly buffers: Buffer[]
  private readonly used: number[]

  constructor(dir: string, prefixes: string[], suffix = '') {
    this.fds = prefixes.map((p) => openSync(path.join(dir, `${p}${suffix}`), 'w'))
    this.buffers = prefixes.map(() => Buffer.allocUnsafe(PARTITION_BUFFER))
    this.used = prefixes.map(() => 0)
  }

  /** the buffer and offset to write the next record of partition `index` at */
  reserve(index: number): [Buffer, number] {
    if (this.used[index] + PARTITION_RECORD_MAX > PARTITION_BUFFER) this.flush(index)
    return [this.buffers[index], this.used[index]]
  }

  /** the record written after reserve() ends at `end` */
  commit(index: number, end: number): void {
    this.used[index] = end
  }

  close(): void {
    for (let i = 0; i < this.fds.length; i++) this.flush(i)
    for (const fd of this.fds) closeSync(fd)
  }

  private flush(index: number): void {
    if (this.used[index] > 0) writeSync(this.fds[index], this.buffers[index], 0, this.used[index])
    this.used[index] = 0
  }
}

/**
 * Splits the run logs by the first hex digits of the id, so each partition fits in
 * memory and matches one contiguous key range of the transfers table. Small logs
 * are one partition read straight from the logs. Records are copied as bytes into
 * partition files ("<status digit>\t<id>[\t<from>\t<to>\t<amount>]" lines; no
 * strings are made in this pass).
 */
async function partitionRunLogs(files: string[], tmpDir = os.tmpdir(), target = PARTITION_TARGET): Promise<Partitions> {
  let bytes = 0
  for (const file of files) bytes += (await stat(file)).size
  // ~110 bytes of log per id (attempt + outcome line)
  const estimatedIds = bytes / 110
  const digits = estimatedIds <= target ? 0 : estimatedIds <= target * 16 ? 1 : 2
  const count = 16 ** digits
  const load = (sources: string[]) => async (): Promise<LoggedIds> => {
    // room for the estimate (and a margin) at once: growing copies every array
    const ids = new LoggedIds((1.2 * estimatedIds) / count)
    for (const file of sources) {
      await scanRecords(file, (status, chunk, idStart, lineEnd) => {
        const request = status === IdStatus.Attempted && parseRequest(chunk, idStart, lineEnd) >= 0 ? parsedRequest : undefined
        ids.add(status, chunk, idStart, request)
      })
    }
    return ids
  }
  const indexOf = (chunk: Buffer, at: number): number => {
    if (digits === 0) return 0
    const first = hexValue(chunk[at])
    const index = digits === 1 ? first : first * 16 + hexValue(chunk[at + 1])
    return first < 0 || index < 0 || index >= count ? -1 : index
  }
  const indexOfWord = (word: number): number => (digits === 0 ? 0 : word >>> (32 - 4 * digits))
  if (digits === 0) return {ranges: [{lo: LOWEST_UUID, hi: HIGHEST_UUID, load: load(files)}], dir: '', prefixes: [''], indexOf, indexOfWord, cleanup: async () => {}}

  const dir = await mkdtemp(path.join(tmpDir, 'atlas-verify-'))
  const prefixes = Array.from({length: count}, (_, i) => i.toString(16).padStart(digits, '0'))
  const writer = new PartitionWriter(dir, prefixes)
  try {
    for (const file of files) {
      await scanRecords(file, (status, chunk, idStart, lineEnd) => {
        // an id that is not hex (a damaged line) is no stored transfer's: partition 0 keeps it, to be reported like the rest
        const index = Math.max(0, indexOf(chunk, idStart))
        const [buffer, start] = writer.reserve(index)
        buffer[start] = 0x30 + status
        buffer[start + 1] = 9
        chunk.copy(buffer, start + 2, idStart, idStart + 36)
        let at = start + 38
        if (status === IdStatus.Attempted) {
          // the request (from, to, amount) as bytes, for the integrity check
          const end = parseRequest(chunk, idStart, lineEnd)
          if (end >= 0 && end - (idStart + 36) <= PARTITION_RECORD_MAX - 39) at += chunk.copy(buffer, at, idStart + 36, end)
        }
        buffer[at] = 10
        writer.commit(index, at + 1)
      })
    }
  } finally {
    writer.close()
  }
  // each partition is read back with the same record parser (statusOfLine knows the digit records)
  const ranges: IdRange[] = prefixes.map((prefix) => ({lo: uuidBound(prefix, '0'), hi: uuidBound(prefix, 'f'), load: load([path.join(dir, prefix)])}))
  return {ranges, dir, prefixes, indexOf, indexOfWord, cleanup: () => rm(dir, {recursive: true, force: true})}
}

/** the smallest/largest UUID starting with the hex prefix */
function uuidBound(prefix: string, fill: '0' | 'f'): string {
  const hex = prefix.padEnd(32, fill)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** A sorted listing with a one-element lookahead. */
class Cursor {
  private head: string | undefined
  private started = false
  private readonly iterator: AsyncGenerator<string>

  constructor(iterator: AsyncGenerator<string>) {
    this.iterator = iterator
  }

  async peek(): Promise<string | undefined> {
    if (!this.started) {
      this.started = true
      await this.next()
    }
    return this.head
  }

  async next(): Promise<void> {
    const result = await this.iterator.next()
    this.head = result.done ? undefined : result.value
  }
}

const MAX_PENDING = 10_000
/** audit records read (GET) at once for the content comparison */
const AUDIT_READS_IN_FLIGHT = 16

/**
 * Merge-joins stored transfers (in key order) with each audit bucket's listing (in
 * the same order), and compares each record found with the stored transfer. Missing
 * records are polled until the timeout: audit writes and replication are asynchronous.
 */
class AuditMerge {
  readonly summary: AuditSummary = {checked: 0, missing: 0, replicaMissing: 0, withoutTransfer: 0}
  /** records whose content was compared with the stored transfer */
  compared = 0
  private readonly cursors = new Map<string, Cursor>()
  private readonly pending: Array<{stored: StoredTransfer; region: string; replica: boolean}> = []
  private readonly reads = new Set<Promise<void>>()

  constructor(
    private readonly options: AuditOptions,
    private readonly report: (v: Violation) => void,
  ) {
    for (const [region, target] of Object.entries(options.buckets)) this.cursors.set(region, new Cursor(listAuditIds(target)))
  }

  async transfer(stored: StoredTransfer): Promise<void> {
    const {id} = stored
    this.summary.checked++
    const required = new Map<string, boolean>([[stored.originRegion, false]])
    for (const rule of this.options.replication) if (rule.from === stored.originRegion) required.set(rule.to, true)
    for (const [region, cursor] of this.cursors) {
      // records before this id have no transfer
      let head = await cursor.peek()
      while (head !== undefined && head < id) {
        this.withoutTransfer(head, region)
        await cursor.next()
        head = await cursor.peek()
      }
      const present = head === id
      if (present) {
        await cursor.next()
        await this.compareLater(stored, region)
      }
      if (!present && required.has(region)) this.missing(stored, region, required.get(region)!)
    }
    for (const region of required.keys()) {
      if (!this.cursors.has(region)) this.missing(stored, region, required.get(region)!)
    }
  }

  async finish(signal?: AbortSignal): Promise<void> {
    for (const [region, cursor] of this.cursors) {
      for (let head = await cursor.peek(); head !== undefined; await cursor.next(), head = await cursor.peek()) this.withoutTransfer(head, region)
    }
    await Promise.all(this.reads)
    const deadline = Date.now() + (this.options.timeoutMs ?? 10_000)
    let waiting = this.pending
    while (waiting.length > 0) {
      const still: typeof waiting = []
      for (const item of waiting) {
        const target = this.options.buckets[item.region]
        const record = target ? await readAuditRecord(target, item.stored.id) : undefined
        if (record) this.compare(item.stored, item.region, record)
        else still.push(item)
      }
      waiting = still
      if (waiting.length === 0 || Date.now() >= deadline) break
      await sleep(this.options.pollIntervalMs ?? 500, signal)
    }
    for (const item of waiting) {
      const id = item.stored.id
      if (item.replica) {
        this.summary.replicaMissing++
        this.report({kind: 'audit_replica_missing', message: `transfer ${id} has no replicated audit record in region ${item.region}'s bucket`, ids: [id]})
      } else {
        this.summary.missing++
        this.report({kind: 'audit_missing', message: `transfer ${id} is committed but has no audit record in region ${item.region}'s bucket`, ids: [id]})
      }
    }
  }

  /** reads the record in the background, at most AUDIT_READS_IN_FLIGHT at once (memory stays bounded) */
  private async compareLater(stored: StoredTransfer, region: string): Promise<void> {
    while (this.reads.size >= AUDIT_READS_IN_FLIGHT) await Promise.race(this.reads)
    const read = (async () => {
      const record = await readAuditRecord(this.options.buckets[region], stored.id)
      // listed a moment ago: a record gone since then is checked like a missing one
      if (record) this.compare(stored, region, record)
      else this.missing(stored, region, region !== stored.originRegion)
    })()
    const tracked = read.finally(() => this.reads.delete(tracked))
    this.reads.add(tracked)
    // a failed read fails the verify (in finish), not the process
    tracked.catch(() => {})
  }

  private compare(stored: StoredTransfer, region: string, record: AuditRecord): void {
    this.compared++
    const recorded = {from: String(record.from), to: String(record.to), amount: String(record.amount), originRegion: String(record.originRegion)}
    const fields = (['from', 'to', 'amount', 'originRegion'] as const).filter((f) => recorded[f] !== stored[f])
    if (fields.length === 0) return
    const show = (t: Record<TransferField, string>) => fields.map((f) => `${f} ${t[f]}`).join(', ')
    this.report({
      kind: 'audit_mismatch',
      message: `transfer ${stored.id} is stored with ${show(stored)}, but its audit record in region ${region}'s bucket says ${show(recorded)}`,
      ids: [stored.id],
      fields,
    })
  }

  private missing(stored: StoredTransfer, region: string, replica: boolean): void {
    if (this.pending.length < MAX_PENDING) {
      this.pending.push({stored, region, replica})
      return
    }
    // too many to poll: report at once
    if (replica) this.summary.replicaMissing++
    else this.summary.missing++
    this.report({kind: replica ? 'audit_replica_missing' : 'audit_missing', message: `transfer ${stored.id} has no audit record in region ${region}'s bucket`, ids: [stored.id]})
  }

  private withoutTransfer(id: string, region: string): void {
    this.summary.withoutTransfer++
    this.report({kind: 'audit_without_transfer', message: `region ${region}'s bucket has an audit record for transfer ${id}, which is not stored in the ledger`, ids: [id]})
  }
}

function abs(value: bigint): bigint {
  return value < 0n ? -value : value
}

/** Human-readable report: a summary, one line per check, then each violation. */
export function formatVerifyReport(result: VerifyResult): string {
  const s = result.summary
  const out: string[] = []
  out.push(`${result.ok ? 'OK' : 'VIOLATED'}: ${s.transfers} transfers between ${s.accounts} accounts, volume ${s.volume}; balances sum to ${s.balanceTotal} (minted ${s.mintedTotal}) [${result.durationSeconds}s]`)
  if (s.runLogIds) {
    const r = s.runLogIds
    out.push(
      `run log: ${r.attempted} attempted, ${r.acknowledged} acknowledged, ${r.unknown} unknown (${r.unknownCommitted} committed, ${r.unknownNotCommitted} not), ${r.notCommitted} rejected/failed${r.sentToQueue ? `, ${r.sentToQueue} sent to the queue (${r.sentNotApplied} not applied)` : ''}`,
    )
  }
  if (s.runLogs) {
    const read = s.runLogs.files
    out.push(`run logs read (${read.length}): ${read.slice(0, 5).join(', ')}${read.length > 5 ? `, … ${read.length - 5} more (--json lists them)` : ''}`)
    if (s.runLogs.skipped.length > 0) out.push(`run logs left out (${s.runLogs.skipped.length}, another ledger's): ${s.runLogs.skipped.slice(0, 3).map((x) => `${x.file}: ${x.reason}`).join('; ')}`)
  }
  for (const check of result.checks) {
    const mark = check.skipped ? '-' : check.ok ? '✓' : '✗'
    out.push(`  ${mark} ${check.name.padEnd(18)} ${check.skipped ? `skipped: ${check.skipped}` : `${check.violations} violation(s)${check.checked === undefined ? '' : ` in ${check.checked} checked`}`}`)
  }
  if (result.violations.length > 0) {
    out.push('violations:')
    for (const v of result.violations) out.push(`  [${v.kind}] ${v.message}`)
    const listed = result.violations.length
    const total = Object.values(result.violationCounts).reduce((a, b) => a + (b ?? 0), 0)
    if (total > listed) out.push(`  … ${total - listed} more not listed (use --json or --max-listed)`)
    if (result.violationCounts.phantom) {
      out.push(`hint: a phantom is in none of the run logs read (listed above); if a workload wrote its log elsewhere, pass its --run-dir as well`)
    }
  }
  return out.join('\n')
}
