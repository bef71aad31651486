import {UsageError} from '../../errors.js'
import {combineDatabaseUrls, connectLedger, type LedgerSql} from '../db.js'
import {selectRunLogs} from '../runlogs.js'
import {type MintRecord, requireMint} from '../schema.js'
import * as q from '../sql.js'
import {AuditMerge} from './audit-merge.js'
import {StatementBound} from './bound.js'
import {digestRunLogs} from './digest.js'
import {LoggedIds, parseUuid} from './ids.js'
import {
  ACCOUNT_CHUNK,
  type AuditSummary,
  type CheckResult,
  HIGHEST_UUID,
  type IntegritySummary,
  LOWEST_UUID,
  type RunLogSummary,
  type ScanState,
  type VerifyOptions,
  type VerifyResult,
  type VerifySummary,
  type Violation,
  type ViolationKind,
} from './model.js'
import {RunLogJoin} from './run-log-join.js'
import {partitionRunLogs} from './runlog-scan.js'
import {scanStoredPartition, spillStoredTransfers, streamStoredTransfers, transferRows} from './stored.js'

export type {AuditOptions, VerifyOptions, VerifyResult} from './model.js'
export {formatVerifyReport} from './report.js'

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
  if (!options.sql && !options.db)
    throw new UsageError('no database given', {hint: 'pass --db or start a world with `atlas up`'})
  const sql = options.sql ?? (await connectLedger(options.db!, {max: 4, applicationName: 'atlas-verify'}))
  const bound = new StatementBound(options.timeoutMs ?? 60_000, options.db ? combineDatabaseUrls(options.db).hosts : [])
  // a long verify says where it is, every few seconds (stderr): the phase and the rows read so far
  const state: ScanState = {phase: 'reading the mint record', accountsReplayed: 0, transferRowsRead: 0}
  const ticker = setInterval(() => {
    const seconds = ((performance.now() - started) / 1000).toFixed(0)
    progress(
      `${seconds} s: ${state.phase}; ${state.accountsReplayed} accounts replayed, ${state.transferRowsRead} transfer rows read`,
    )
  }, options.progressIntervalMs ?? 5000)
  ticker.unref()

  const violations: Violation[] = []
  const counts: Partial<Record<ViolationKind, number>> = {}
  const report = (violation: Violation) => {
    counts[violation.kind] = (counts[violation.kind] ?? 0) + 1
    if (counts[violation.kind]! <= maxListed) violations.push(violation)
  }

  try {
    const mint = await bound.answer('reading the mint record', requireMint(sql))
    await bound.identifyServer(sql)
    const selection = await selectRunLogs({
      runsDir: options.runsDir,
      given: options.runLogs,
      onlyGiven: options.onlyGivenRunLogs,
      ledgerMintedAt: mint.mintedAt,
    })
    const runLogFiles = selection.files

    // server-side aggregates run concurrently with the client-side id stream
    progress('conservation, replay and balances (server-side aggregates)')
    state.phase =
      runLogFiles.length > 0 || options.audit ? 'replaying balances and reading transfers' : 'replaying balances'
    // the digest comparison (compareDigests) decides the run-log check where it can: the server sums the hashes then
    const digestFirst = runLogFiles.length > 0 && !options.audit && !options.perRowJoin
    // the digest starts once the replay is issued: read before, its chunks delayed each round trip of the
    // statements and connections the replay waits for (the replay began ~30 ms later with a 1M-line log)
    let replayIssued = () => {}
    const replayUnderWay = new Promise<void>((resolve) => {
      replayIssued = resolve
    })
    const aggregates = aggregateOnServer(sql, bound, state, mint, maxListed, digestFirst, replayIssued)
    aggregates.then(replayIssued, replayIssued)

    const needIdStream = runLogFiles.length > 0 || options.audit !== undefined
    const idScan = needIdStream
      ? checkRunLogs(
          sql,
          runLogFiles,
          options,
          report,
          progress,
          bound,
          state,
          digestFirst ? {aggregates, replayUnderWay} : undefined,
        )
      : Promise.resolve({transfers: 0, runLog: undefined, audit: undefined, integrity: undefined, streamDuplicates: 0})
    const [agg, scan] = await Promise.all([aggregates, idScan])

    const checks = judge(agg, scan, mint, counts, report)

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
    // Terminate is sent on every connection; with timeout 0 nothing waits for the server to close them (10-30 ms
    // of backend exit on a busy machine; libpq's PQfinish does not wait either). Every statement of a verify that
    // returns has been answered; after a failure, one stuck on a frozen server is abandoned at once.
    if (ownPool) await sql.end({timeout: 0})
  }
}

type ServerAggregates = Awaited<ReturnType<typeof aggregateOnServer>>
type IdScan = Awaited<ReturnType<typeof scanIds>>

/**
 * The count and hash sum of the stored transfers (sql.ts STORED_TRANSFERS_DIGEST), or why the server refused them;
 * undefined when not asked for, or when the replay found no account to carry them.
 */
type StoredDigest = undefined | {digest: string; n: number} | {refusal: string}

/**
 * Conservation, replay and negative balances, from aggregates the server computes
 * per chunk of accounts (nothing per transfer crosses the wire), and the duplicate
 * check where the primary key no longer guarantees uniqueness. With `digest`, also
 * the stored transfers' hash sum for compareDigests: from the replay's own scan when
 * the accounts fit one chunk, else from a statement of its own on another connection.
 */
async function aggregateOnServer(
  sql: LedgerSql,
  bound: StatementBound,
  state: ScanState,
  mint: MintRecord,
  maxListed: number,
  digest: boolean,
  onReplayIssued: () => void,
) {
  // a server without these hash functions or without the right to call them (CockroachDB has no uuid_hash_extended)
  // gives no digest: the per-row join decides then
  const refused = (error: unknown): StoredDigest => {
    if ((error as Error)?.name !== 'PostgresError') throw error
    return {refusal: (error as Error).message}
  }

  // beside the replay, on another connection of the pool
  const primaryKey = bound.answer('looking up the primary key', sql.unsafe(q.TRANSFERS_PRIMARY_KEY))
  primaryKey.catch(() => {})
  const [range] = await bound.answer('reading the account range', sql.unsafe(q.ACCOUNT_ID_RANGE))
  const single = range.lo !== null && Number(range.hi) - Number(range.lo) < ACCOUNT_CHUNK
  let storedDigest: Promise<StoredDigest> = Promise.resolve(undefined)
  if (digest && !single) {
    // the replay takes several statements: the digest has one of its own (a third scan), beside them
    storedDigest = bound
      .answer('summing the stored transfers', sql.unsafe(q.STORED_TRANSFERS_DIGEST))
      .then(([row]) => ({n: Number(row.n), digest: String(row.digest)}), refused)
    storedDigest.catch(() => {})
  }

  // the first replay statement is issued below, before anything else is awaited
  onReplayIssued()
  let balanceTotal = 0n
  let openingTotal = 0n
  let accountCount = 0
  let transfers = 0
  let volume = 0n
  let replayMismatches = 0
  const replayViolations: Violation[] = []
  let negativeCount = 0
  const negativeRows: Array<{balance: string; id: number}> = []
  if (range.lo !== null) {
    for (let lo = Number(range.lo); lo <= Number(range.hi); lo += ACCOUNT_CHUNK) {
      const hi = Math.min(Number(range.hi), lo + ACCOUNT_CHUNK - 1)
      const what = `replaying accounts ${lo}..${hi}`
      type Row = [string, string, string, string, string, string, string?, string?]
      let rows: Row[]
      if (single && digest) {
        try {
          rows = (await bound.answer(what, sql.unsafe(q.REPLAY_ALL_WITH_DIGEST).values())) as unknown as Row[]
          // every row carries the totals
          const [first] = rows
          storedDigest = Promise.resolve(first ? {n: Number(first[6]), digest: String(first[7])} : undefined)
        } catch (error) {
          storedDigest = Promise.resolve(refused(error))
          rows = (await bound.answer(what, sql.unsafe(q.REPLAY_ALL).values())) as unknown as Row[]
        }
      } else {
        const query = single ? sql.unsafe(q.REPLAY_ALL) : sql.unsafe(q.REPLAY_CHUNK, [lo, hi])
        rows = (await bound.answer(what, query.values())) as unknown as Row[]
      }

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

  const [pk] = await primaryKey
  const hasPrimaryKey = Number(pk.n) > 0
  // without the primary key, uniqueness is not enforced any more: look for stored duplicates
  const duplicates = hasPrimaryKey
    ? []
    : await bound.answer('looking for duplicate ids', sql.unsafe(q.DUPLICATE_TRANSFER_IDS, [maxListed]))
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
    storedDigest: await storedDigest,
  }
}

/** The verdict of each check, from the aggregates and the id scan; violations found by the aggregates are reported here. */
function judge(
  agg: ServerAggregates,
  scan: IdScan,
  mint: MintRecord,
  counts: Partial<Record<ViolationKind, number>>,
  report: (v: Violation) => void,
): CheckResult[] {
  const checks: CheckResult[] = []
  for (const v of agg.conservationViolations) report(v)
  checks.push({
    name: 'conservation',
    ok: agg.conservationViolations.length === 0,
    checked: agg.accountCount,
    violations: agg.conservationViolations.length,
  })
  for (const v of agg.replayViolations) report(v)
  counts.replay = agg.replayMismatches > 0 ? Math.max(counts.replay ?? 0, agg.replayMismatches) : counts.replay
  checks.push({
    name: 'replay',
    ok: agg.replayMismatches === 0,
    checked: agg.accountCount,
    violations: agg.replayMismatches,
  })
  if (mint.allowNegativeBalances) {
    checks.push({
      name: 'negative_balances',
      ok: true,
      violations: 0,
      skipped: 'negative balances are allowed by this ledger',
    })
  } else {
    for (const row of agg.negatives.rows)
      report({
        kind: 'negative_balance',
        message: `account ${row.id} has balance ${row.balance} < 0`,
        accounts: [row.id],
      })
    counts.negative_balance = agg.negatives.count || counts.negative_balance
    checks.push({
      name: 'negative_balances',
      ok: agg.negatives.count === 0,
      checked: agg.accountCount,
      violations: agg.negatives.count,
    })
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
    checks.push(
      {
        name: 'durability',
        ok: lost === 0 && failedButCommitted === 0,
        checked: scan.runLog.acknowledged,
        violations: lost + failedButCommitted,
      },
      {name: 'phantoms', ok: (counts.phantom ?? 0) === 0, checked: scan.transfers, violations: counts.phantom ?? 0},
    )
  } else {
    checks.push(
      {name: 'durability', ok: true, violations: 0, skipped: 'no run log found or given (--run-dir)'},
      {name: 'phantoms', ok: true, violations: 0, skipped: 'no run log found or given (--run-dir)'},
    )
  }

  if (scan.integrity) {
    const n = (counts.altered ?? 0) + (counts.id_reused ?? 0) + (counts.audit_mismatch ?? 0)
    checks.push({name: 'integrity', ok: n === 0, checked: scan.transfers, violations: n})
  } else {
    checks.push({
      name: 'integrity',
      ok: true,
      violations: 0,
      skipped: 'needs a run log (--run-dir) or the audit records (--audit)',
    })
  }

  if (scan.audit) {
    const n = scan.audit.missing + scan.audit.replicaMissing + scan.audit.withoutTransfer
    checks.push({name: 'audit', ok: n === 0, checked: scan.audit.checked, violations: n})
  } else {
    checks.push({name: 'audit', ok: true, violations: 0, skipped: 'not requested (--audit)'})
  }

  return checks
}

/**
 * The run-log checks (and the audit merge): the digest comparison first where it
 * can decide (run logs, no audit, PostgreSQL), the per-row join otherwise or when
 * the digests say something differs: only the join names the ids.
 */
async function checkRunLogs(
  sql: LedgerSql,
  runLogFiles: string[],
  options: VerifyOptions,
  report: (v: Violation) => void,
  progress: (message: string) => void,
  bound: StatementBound,
  state: ScanState,
  server: undefined | {aggregates: Promise<ServerAggregates>; replayUnderWay: Promise<void>},
): Promise<IdScan> {
  if (server) {
    await server.replayUnderWay
    const plain = await compareDigests(server.aggregates, runLogFiles, options, progress, state)
    if (plain) return plain
  }

  return scanIds(sql, runLogFiles, options, report, progress, bound, state)
}

/**
 * The fast path of the run-log check (digest.ts): the server sums a hash of every
 * stored transfer (aggregateOnServer) while the client streams the run logs. When the
 * run logs are plain (every attempt acknowledged once, nothing else) and the count
 * and the sum agree, the stored transfers are exactly the acknowledged requests: the
 * join would report nothing, and its counters follow. Undefined when that is not
 * shown (the join decides then), also on a server without these hash functions.
 */
async function compareDigests(
  aggregates: Promise<ServerAggregates>,
  runLogFiles: string[],
  options: VerifyOptions,
  progress: (message: string) => void,
  state: ScanState,
): Promise<IdScan | undefined> {
  // a run log that ends with its writer's trailer is not read: the trailer holds its tally (digest.ts)
  const logs = await digestRunLogs(runLogFiles, options.signal)
  progress(
    `run logs: ${logs.bytesFromTrailers} bytes summed up by their writers' trailers, ${logs.bytesRead} bytes read`,
  )
  if (!logs.plain) {
    progress(`run logs: ${logs.reason}: joining every stored transfer with them`)
    return undefined
  }

  const {storedDigest: stored, hasPrimaryKey} = await aggregates
  if (!stored) return undefined
  if ('refusal' in stored) {
    progress(`run logs: the server refused the hash sum (${stored.refusal}): joining every stored transfer with them`)
    return undefined
  }

  // without the primary key an id may be stored twice: only the join counts those
  if (!hasPrimaryKey) return undefined
  const transfers = stored.n
  if (transfers !== logs.attempted || BigInt.asUintN(64, BigInt(stored.digest)) !== logs.requests.value()) {
    progress('run logs: the stored transfers differ from the acknowledged requests: joining them row by row')
    return undefined
  }

  state.transferRowsRead = transfers
  progress(`run logs: ${transfers} acknowledged requests, exactly the stored transfers (count and hash sum agree)`)
  return {
    transfers,
    runLog: {
      attempted: transfers,
      acknowledged: transfers,
      unknown: 0,
      unknownCommitted: 0,
      unknownNotCommitted: 0,
      notCommitted: 0,
      sentToQueue: 0,
      sentNotApplied: 0,
    },
    audit: undefined,
    integrity: {comparedWithRequest: transfers, comparedWithAudit: 0},
    streamDuplicates: 0,
  }
}

/**
 * One pass over the stored transfers, partition by partition, joined with the run
 * logs (hash lookups by the id's 128 bits, RunLogJoin) and merge-joined with the audit listings.
 */
async function scanIds(
  sql: LedgerSql,
  runLogFiles: string[],
  options: VerifyOptions,
  report: (v: Violation) => void,
  progress: (message: string) => void,
  bound: StatementBound,
  state: ScanState,
): Promise<{
  audit?: AuditSummary
  integrity?: IntegritySummary
  runLog?: RunLogSummary
  streamDuplicates: number
  transfers: number
}> {
  const partitions =
    runLogFiles.length > 0 ? await partitionRunLogs(runLogFiles, options.tmpDir, options.partitionIds) : undefined
  const join = new RunLogJoin(report, partitions ? runLogFiles.length : undefined)
  const audit = options.audit ? new AuditMerge(options.audit, report) : undefined
  const ranges = partitions?.ranges ?? [{lo: LOWEST_UUID, hi: HIGHEST_UUID, load: async () => new LoggedIds()}]
  try {
    // several partitions and no audit merge: one pass over the table spills the stored transfers into
    // partition files like the run log's, instead of one range scan per partition over the whole heap
    const spilled =
      partitions && ranges.length > 1 && !audit ? await spillStoredTransfers(sql, partitions, bound, state) : undefined
    let done = 0
    for (const range of ranges) {
      options.signal?.throwIfAborted()
      join.begin(await range.load())
      if (spilled) {
        await scanStoredPartition(spilled.file(range), join.check)
      } else if (audit) {
        // the audit merge needs key order
        const idBytes = Buffer.alloc(36)
        for await (const page of transferRows(sql, range, bound, state)) {
          for (const row of page) {
            idBytes.write(row[0], 'latin1')
            if (!parseUuid(idBytes, 0)) throw new Error(`transfer id ${row[0]} read back is not a UUID`)
            if (join.check(Number(row[1]), Number(row[2]), Number(row[3]))) {
              await audit.transfer({id: row[0], from: row[1], to: row[2], amount: row[3], originRegion: row[4]})
            }
          }
        }
      } else {
        // the run-log join alone: the whole table in its physical order, one COPY
        await streamStoredTransfers(sql, bound, state, join.check)
      }

      join.end()
      done++
      if (ranges.length > 1)
        progress(`transfer ids: partition ${done}/${ranges.length} (${join.transfers} transfers so far)`)
    }

    if (audit) {
      state.phase = 'reading the remaining audit records'
      await audit.finish(options.signal)
    }
  } finally {
    await partitions?.cleanup()
  }

  const {runLog, transfers, streamDuplicates, comparedWithRequest} = join
  const integrity = runLog || audit ? {comparedWithRequest, comparedWithAudit: audit?.compared ?? 0} : undefined
  return {transfers, runLog, audit: audit?.summary, integrity, streamDuplicates}
}

function abs(value: bigint): bigint {
  return value < 0n ? -value : value
}
