import {createReadStream, createWriteStream, type WriteStream} from 'node:fs'
import {mkdtemp, readdir, rm, stat} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {UsageError} from '../errors.js'
import {auditRecordExists, listAuditIds, type AuditTarget} from '../cloud/audit.js'
import {connectLedger, type LedgerSql} from './db.js'
import {combineStatus, IdStatus, RUN_LOG_FILE, statusOf} from './runlog.js'
import {requireMint} from './schema.js'
import * as q from './sql.js'

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

export interface Violation {
  kind: ViolationKind
  message: string
  /** transfer ids involved */
  ids?: string[]
  /** account ids involved */
  accounts?: number[]
}

export interface CheckResult {
  name: 'conservation' | 'replay' | 'negative_balances' | 'duplicates' | 'durability' | 'phantoms' | 'audit'
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
  /** run directories (or run log files) of workloads: durability and phantom checks */
  runLogs?: string[]
  audit?: AuditOptions
  /** at most this many violations are listed per kind (all are counted) */
  maxListed?: number
  signal?: AbortSignal
  onProgress?: (message: string) => void
  /** for the external partitioning of big run logs; default os.tmpdir() */
  tmpDir?: string
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
  audit?: {checked: number; missing: number; replicaMissing: number; withoutTransfer: number}
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

const ID_PAGE = 10_000
const ACCOUNT_CHUNK = 100_000
/** ids of the run log held in memory at once (one partition) */
const PARTITION_TARGET = 200_000
const LOWEST_UUID = '00000000-0000-0000-0000-000000000000'
const HIGHEST_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff'

/**
 * The Jepsen-bank-style checker. Every check streams: balances and replay sums
 * are aggregated on the server (keyset chunks of accounts); transfer ids are read
 * in key order page by page and merge-joined with the run logs (partitioned by id
 * prefix, so at most PARTITION_TARGET ids are in memory) and with the audit
 * buckets' listings (which come back in the same key order).
 */
export async function verifyLedger(options: VerifyOptions): Promise<VerifyResult> {
  const started = performance.now()
  const maxListed = options.maxListed ?? 100
  const progress = options.onProgress ?? (() => {})
  const ownPool = !options.sql
  if (!options.sql && !options.db) throw new UsageError('no database given', {hint: 'pass --db or start a world with `atlas up`'})
  const sql = options.sql ?? (await connectLedger(options.db!, {max: 4, applicationName: 'atlas-verify'}))

  const violations: Violation[] = []
  const counts: Partial<Record<ViolationKind, number>> = {}
  const report = (violation: Violation) => {
    counts[violation.kind] = (counts[violation.kind] ?? 0) + 1
    if (counts[violation.kind]! <= maxListed) violations.push(violation)
  }
  const checks: CheckResult[] = []
  try {
    const mint = await requireMint(sql)
    const runLogFiles = options.runLogs ? await resolveRunLogs(options.runLogs) : []

    // server-side aggregates run concurrently with the client-side id stream
    progress('conservation, replay and balances (server-side aggregates)')
    const aggregates = (async () => {
      const [balances] = await sql.unsafe(q.SUM_BALANCES)
      const [range] = await sql.unsafe(q.ACCOUNT_ID_RANGE)
      const balanceTotal = BigInt(balances.total)
      const openingTotal = BigInt(balances.opening_total)
      const accountCount = Number(balances.accounts)
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
      let replayMismatches = 0
      const replayViolations: Violation[] = []
      if (range.lo !== null) {
        for (let lo = Number(range.lo); lo <= Number(range.hi); lo += ACCOUNT_CHUNK) {
          const hi = Math.min(Number(range.hi), lo + ACCOUNT_CHUNK - 1)
          const rows = await sql.unsafe(q.REPLAY_MISMATCHES, [lo, hi, maxListed + 1])
          replayMismatches += rows.length
          for (const row of rows.slice(0, maxListed)) {
            const expected = BigInt(row.opening_balance) + BigInt(row.incoming) - BigInt(row.outgoing)
            replayViolations.push({
              kind: 'replay',
              message: `account ${row.id}: balance ${row.balance}, but opening ${row.opening_balance} + incoming ${row.incoming} - outgoing ${row.outgoing} = ${expected} (off by ${BigInt(row.balance) - expected})`,
              accounts: [Number(row.id)],
            })
          }
        }
      }
      let negatives: {count: number; rows: Array<{id: number; balance: string}>} = {count: 0, rows: []}
      if (!mint.allowNegativeBalances) {
        const [n] = await sql.unsafe(q.COUNT_NEGATIVE_BALANCES)
        const rows = Number(n.n) > 0 ? await sql.unsafe(q.NEGATIVE_BALANCES, [maxListed]) : []
        negatives = {count: Number(n.n), rows: rows.map((r) => ({id: Number(r.id), balance: String(r.balance)}))}
      }
      const [pk] = await sql.unsafe(q.TRANSFERS_PRIMARY_KEY)
      const hasPrimaryKey = Number(pk.n) > 0
      // without the primary key, uniqueness is not enforced any more: look for stored duplicates
      const duplicates = hasPrimaryKey ? [] : await sql.unsafe(q.DUPLICATE_TRANSFER_IDS, [maxListed])
      return {balanceTotal, accountCount, conservationViolations, replayMismatches, replayViolations, negatives, hasPrimaryKey, duplicates}
    })()
    aggregates.catch(() => {})

    const needIdStream = runLogFiles.length > 0 || options.audit !== undefined
    const idScan = needIdStream
      ? scanIds(sql, runLogFiles, options, report, progress)
      : (async () => {
          const [row] = await sql.unsafe(q.COUNT_TRANSFERS)
          return {transfers: Number(row.transfers), volume: BigInt(row.volume), runLog: undefined, audit: undefined, adjacentDuplicates: 0}
        })()
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
    const duplicateCount = Math.max(agg.duplicates.length, scan.adjacentDuplicates)
    checks.push({
      name: 'duplicates',
      ok: duplicateCount === 0,
      checked: scan.transfers,
      violations: duplicateCount,
      ...(agg.hasPrimaryKey && !needIdStream ? {skipped: undefined} : {}),
    })
    if (scan.runLog) {
      const lost = counts.lost ?? 0
      const failedButCommitted = counts.committed_despite_failure ?? 0
      checks.push({name: 'durability', ok: lost === 0 && failedButCommitted === 0, checked: scan.runLog.acknowledged, violations: lost + failedButCommitted})
      checks.push({name: 'phantoms', ok: (counts.phantom ?? 0) === 0, checked: scan.transfers, violations: counts.phantom ?? 0})
    } else {
      checks.push({name: 'durability', ok: true, violations: 0, skipped: 'no run log given (--run-dir)'})
      checks.push({name: 'phantoms', ok: true, violations: 0, skipped: 'no run log given (--run-dir)'})
    }
    if (scan.audit) {
      const n = scan.audit.missing + scan.audit.replicaMissing + scan.audit.withoutTransfer
      checks.push({name: 'audit', ok: n === 0, checked: scan.audit.checked, violations: n})
    } else {
      checks.push({name: 'audit', ok: true, violations: 0, skipped: 'not requested (--audit)'})
    }

    const summary: VerifySummary = {
      accounts: agg.accountCount,
      transfers: scan.transfers,
      volume: scan.volume.toString(),
      mintedTotal: mint.total.toString(),
      balanceTotal: agg.balanceTotal.toString(),
      allowNegativeBalances: mint.allowNegativeBalances,
      ...(scan.runLog ? {runLogIds: scan.runLog} : {}),
      ...(scan.audit ? {audit: scan.audit} : {}),
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
    if (ownPool) await sql.end({timeout: 2})
  }
}

type RunLogSummary = NonNullable<VerifySummary['runLogIds']>
type AuditSummary = NonNullable<VerifySummary['audit']>

/**
 * One pass over the stored transfer ids in key order, partition by partition,
 * merge-joined with the run logs and the audit listings.
 */
async function scanIds(
  sql: LedgerSql,
  runLogFiles: string[],
  options: VerifyOptions,
  report: (v: Violation) => void,
  progress: (message: string) => void,
): Promise<{transfers: number; volume: bigint; runLog?: RunLogSummary; audit?: AuditSummary; adjacentDuplicates: number}> {
  const partitions = runLogFiles.length > 0 ? await partitionRunLogs(runLogFiles, options.tmpDir) : undefined
  const runLog: RunLogSummary | undefined = partitions
    ? {attempted: 0, acknowledged: 0, unknown: 0, unknownCommitted: 0, unknownNotCommitted: 0, notCommitted: 0, sentToQueue: 0, sentNotApplied: 0}
    : undefined
  const audit = options.audit ? new AuditMerge(options.audit, report) : undefined
  let transfers = 0
  let volume = 0n
  let adjacentDuplicates = 0
  let previous: string | undefined
  const ranges = partitions?.ranges ?? [{lo: LOWEST_UUID, hi: HIGHEST_UUID, load: async () => new Map<string, IdStatus>()}]
  try {
    let done = 0
    for (const range of ranges) {
      options.signal?.throwIfAborted()
      const ids = await range.load()
      if (runLog) {
        for (const status of ids.values()) {
          runLog.attempted++
          if (status === IdStatus.Acknowledged) runLog.acknowledged++
          else if (status === IdStatus.Unknown) runLog.unknown++
          else if (status === IdStatus.NotCommitted) runLog.notCommitted++
          else if (status === IdStatus.Sent) runLog.sentToQueue++
        }
      }
      let last = range.lo
      let first = true
      for (;;) {
        const page = await sql.unsafe(first ? q.TRANSFER_IDS_FIRST_PAGE : q.TRANSFER_IDS_PAGE, [last, range.hi, ID_PAGE], {prepare: true}).values()
        first = false
        let pageVolume = 0
        for (const [id, origin, amount] of page as unknown as Array<[string, string, string]>) {
          transfers++
          pageVolume += Number(amount)
          if (id === previous) {
            adjacentDuplicates++
            report({kind: 'duplicate', message: `transfer ${id} is stored more than once`, ids: [id]})
            continue
          }
          previous = id
          if (runLog) {
            const status = ids.get(id)
            if (status === undefined) {
              report({kind: 'phantom', message: `transfer ${id} is stored but no client attempted it`, ids: [id]})
            } else {
              ids.delete(id)
              if (status === IdStatus.NotCommitted) {
                report({kind: 'committed_despite_failure', message: `transfer ${id} was reported rejected/failed to the client but is committed`, ids: [id]})
              } else if (status === IdStatus.Unknown) runLog.unknownCommitted++
            }
          }
          if (audit) await audit.transfer(id, origin)
        }
        volume += BigInt(pageVolume)
        if (page.length < ID_PAGE) break
        last = (page[page.length - 1] as unknown as [string])[0]
      }
      // what the run log has and the database does not
      if (runLog) {
        for (const [id, status] of ids) {
          if (status === IdStatus.Acknowledged) report({kind: 'lost', message: `transfer ${id} was acknowledged to the client but is not stored`, ids: [id]})
          else if (status === IdStatus.Unknown) runLog.unknownNotCommitted++
          else if (status === IdStatus.Sent) runLog.sentNotApplied++
        }
      }
      done++
      if (ranges.length > 1) progress(`transfer ids: partition ${done}/${ranges.length} (${transfers} transfers so far)`)
    }
    if (audit) await audit.finish(options.signal)
  } finally {
    await partitions?.cleanup()
  }
  return {transfers, volume, runLog, audit: audit?.summary, adjacentDuplicates}
}

/** Run directories or files → run log files. */
async function resolveRunLogs(inputs: string[]): Promise<string[]> {
  const files: string[] = []
  for (const input of inputs) {
    const info = await stat(input).catch(() => undefined)
    if (!info) throw new UsageError(`run log ${input} does not exist`, {hint: 'pass the --run-dir the workload wrote to'})
    if (info.isDirectory()) {
      const file = path.join(input, RUN_LOG_FILE)
      if (!(await stat(file).catch(() => undefined))) {
        const entries = await readdir(input)
        throw new UsageError(`${input} has no ${RUN_LOG_FILE}`, {hint: entries.length > 0 ? `it contains: ${entries.slice(0, 5).join(', ')}` : 'it is empty'})
      }
      files.push(file)
    } else files.push(input)
  }
  return files
}

interface IdRange {
  lo: string
  hi: string
  load(): Promise<Map<string, IdStatus>>
}

/** Lines of a file, read in big chunks (faster than readline for millions of lines). */
async function* lines(file: string): AsyncGenerator<string> {
  let rest = ''
  for await (const chunk of createReadStream(file, {encoding: 'utf8', highWaterMark: 1 << 20})) {
    const text = rest + (chunk as string)
    let start = 0
    for (;;) {
      const nl = text.indexOf('\n', start)
      if (nl < 0) break
      yield text.slice(start, nl)
      start = nl + 1
    }
    rest = text.slice(start)
  }
  if (rest) yield rest
}

/** Parses "<event>\t<id>\t..." into [status, id]; comments and unknown lines give undefined. */
function parseLine(line: string): [IdStatus, string] | undefined {
  const tab = line.indexOf('\t')
  if (tab < 0 || line.startsWith('#')) return undefined
  const status = statusOf(line.slice(0, tab))
  if (status === undefined) return undefined
  const id = line.slice(tab + 1, tab + 37).toLowerCase()
  return id.length === 36 ? [status, id] : undefined
}

/**
 * Splits the run logs by the first hex digits of the id, so each partition fits in
 * memory and matches one contiguous key range of the transfers table. Small logs
 * are one partition read straight from the logs.
 */
async function partitionRunLogs(files: string[], tmpDir = os.tmpdir()): Promise<{ranges: IdRange[]; cleanup: () => Promise<void>}> {
  let bytes = 0
  for (const file of files) bytes += (await stat(file)).size
  // ~130 bytes of log per id (attempt + outcome line)
  const estimatedIds = bytes / 130
  const digits = estimatedIds <= PARTITION_TARGET ? 0 : estimatedIds <= PARTITION_TARGET * 16 ? 1 : 2
  const loadFromLogs = async (): Promise<Map<string, IdStatus>> => {
    const map = new Map<string, IdStatus>()
    for (const file of files) {
      for await (const line of lines(file)) {
        const parsed = parseLine(line)
        if (parsed) map.set(parsed[1], combineStatus(map.get(parsed[1]), parsed[0]))
      }
    }
    return map
  }
  if (digits === 0) return {ranges: [{lo: LOWEST_UUID, hi: HIGHEST_UUID, load: loadFromLogs}], cleanup: async () => {}}

  const dir = await mkdtemp(path.join(tmpDir, 'atlas-verify-'))
  const count = 16 ** digits
  const prefixes = Array.from({length: count}, (_, i) => i.toString(16).padStart(digits, '0'))
  const streams = new Map<string, WriteStream>(prefixes.map((p) => [p, createWriteStream(path.join(dir, p))]))
  try {
    const buffers = new Map<string, string[]>(prefixes.map((p) => [p, []]))
    const flush = async (prefix: string) => {
      const buffer = buffers.get(prefix)!
      if (buffer.length === 0) return
      const stream = streams.get(prefix)!
      if (!stream.write(buffer.join(''))) await new Promise<void>((r) => stream.once('drain', () => r()))
      buffer.length = 0
    }
    for (const file of files) {
      for await (const line of lines(file)) {
        const parsed = parseLine(line)
        if (!parsed) continue
        const prefix = parsed[1].slice(0, digits)
        const buffer = buffers.get(prefix)
        if (!buffer) continue
        buffer.push(`${parsed[0]}${parsed[1]}\n`)
        if (buffer.length >= 4096) await flush(prefix)
      }
    }
    for (const prefix of prefixes) await flush(prefix)
  } finally {
    await Promise.all([...streams.values()].map((s) => new Promise<void>((r) => s.end(() => r()))))
  }
  const ranges: IdRange[] = prefixes.map((prefix) => ({
    lo: uuidBound(prefix, '0'),
    hi: uuidBound(prefix, 'f'),
    load: async () => {
      const map = new Map<string, IdStatus>()
      for await (const line of lines(path.join(dir, prefix))) {
        if (line.length < 37) continue
        const id = line.slice(1)
        map.set(id, combineStatus(map.get(id), Number(line[0]) as IdStatus))
      }
      return map
    },
  }))
  return {ranges, cleanup: () => rm(dir, {recursive: true, force: true})}
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

/**
 * Merge-joins transfer ids (in key order) with each audit bucket's listing (in the
 * same order). Missing records are polled (HEAD) until the timeout: audit writes and
 * replication are asynchronous.
 */
class AuditMerge {
  readonly summary: AuditSummary = {checked: 0, missing: 0, replicaMissing: 0, withoutTransfer: 0}
  private readonly cursors = new Map<string, Cursor>()
  private readonly pending: Array<{id: string; region: string; replica: boolean}> = []

  constructor(
    private readonly options: AuditOptions,
    private readonly report: (v: Violation) => void,
  ) {
    for (const [region, target] of Object.entries(options.buckets)) this.cursors.set(region, new Cursor(listAuditIds(target)))
  }

  async transfer(id: string, origin: string): Promise<void> {
    this.summary.checked++
    const required = new Map<string, boolean>([[origin, false]])
    for (const rule of this.options.replication) if (rule.from === origin) required.set(rule.to, true)
    for (const [region, cursor] of this.cursors) {
      // records before this id have no transfer
      let head = await cursor.peek()
      while (head !== undefined && head < id) {
        this.withoutTransfer(head, region)
        await cursor.next()
        head = await cursor.peek()
      }
      const present = head === id
      if (present) await cursor.next()
      if (!present && required.has(region)) this.missing(id, region, required.get(region)!)
    }
    for (const region of required.keys()) {
      if (!this.cursors.has(region)) this.missing(id, region, required.get(region)!)
    }
  }

  async finish(signal?: AbortSignal): Promise<void> {
    for (const [region, cursor] of this.cursors) {
      for (let head = await cursor.peek(); head !== undefined; await cursor.next(), head = await cursor.peek()) this.withoutTransfer(head, region)
    }
    const deadline = Date.now() + (this.options.timeoutMs ?? 10_000)
    let waiting = this.pending
    while (waiting.length > 0) {
      const still: typeof waiting = []
      for (const item of waiting) {
        const target = this.options.buckets[item.region]
        if (!target || !(await auditRecordExists(target, item.id))) still.push(item)
      }
      waiting = still
      if (waiting.length === 0 || Date.now() >= deadline) break
      signal?.throwIfAborted()
      await new Promise((r) => setTimeout(r, this.options.pollIntervalMs ?? 500))
    }
    for (const item of waiting) {
      if (item.replica) {
        this.summary.replicaMissing++
        this.report({kind: 'audit_replica_missing', message: `transfer ${item.id} has no replicated audit record in region ${item.region}'s bucket`, ids: [item.id]})
      } else {
        this.summary.missing++
        this.report({kind: 'audit_missing', message: `transfer ${item.id} is committed but has no audit record in region ${item.region}'s bucket`, ids: [item.id]})
      }
    }
  }

  private missing(id: string, region: string, replica: boolean): void {
    if (this.pending.length < MAX_PENDING) {
      this.pending.push({id, region, replica})
      return
    }
    // too many to poll: report at once
    if (replica) this.summary.replicaMissing++
    else this.summary.missing++
    this.report({kind: replica ? 'audit_replica_missing' : 'audit_missing', message: `transfer ${id} has no audit record in region ${region}'s bucket`, ids: [id]})
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
  }
  return out.join('\n')
}
