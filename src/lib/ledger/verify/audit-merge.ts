import type {AuditOptions, AuditSummary, StoredTransfer, TransferField, Violation} from './model.js'

import {type AuditRecord, listAuditIds, readAuditRecord} from '../../cloud/audit.js'
import {poll} from '../../wait.js'

/** The audit check: the stored transfers merge-joined with each audit bucket's listing, each record compared. */

/** A sorted listing with a one-element lookahead. */
export class Cursor {
  private head: string | undefined
  private readonly iterator: AsyncGenerator<string>
  private started = false

  constructor(iterator: AsyncGenerator<string>) {
    this.iterator = iterator
  }

  async next(): Promise<void> {
    const result = await this.iterator.next()
    this.head = result.done ? undefined : result.value
  }

  async peek(): Promise<string | undefined> {
    if (!this.started) {
      this.started = true
      await this.next()
    }

    return this.head
  }
}

export const MAX_PENDING = 10_000
/** audit records read (GET) at once for the content comparison */
export const AUDIT_READS_IN_FLIGHT = 16

/**
 * Merge-joins stored transfers (in key order) with each audit bucket's listing (in
 * the same order), and compares each record found with the stored transfer. Missing
 * records are polled until the timeout: audit writes and replication are asynchronous.
 */
export class AuditMerge {
  /** records whose content was compared with the stored transfer */
  compared = 0
  readonly summary: AuditSummary = {checked: 0, missing: 0, replicaMissing: 0, withoutTransfer: 0}
  private readonly cursors = new Map<string, Cursor>()
  private readonly pending: Array<{region: string; replica: boolean; stored: StoredTransfer}> = []
  private readonly reads = new Set<Promise<void>>()

  constructor(
    private readonly options: AuditOptions,
    private readonly report: (v: Violation) => void,
  ) {
    for (const [region, target] of Object.entries(options.buckets))
      this.cursors.set(region, new Cursor(listAuditIds(target)))
  }

  async finish(signal?: AbortSignal): Promise<void> {
    for (const [region, cursor] of this.cursors) {
      for (let head = await cursor.peek(); head !== undefined; await cursor.next(), head = await cursor.peek())
        this.withoutTransfer(head, region)
    }

    await Promise.all(this.reads)
    let waiting = this.pending
    const allRead = async () => {
      const still: typeof waiting = []
      for (const item of waiting) {
        const target = this.options.buckets[item.region]
        const record = target ? await readAuditRecord(target, item.stored.id) : undefined
        if (record) this.compare(item.stored, item.region, record)
        else still.push(item)
      }

      waiting = still
      return waiting.length === 0
    }

    await poll(allRead, {
      timeoutMs: this.options.timeoutMs ?? 10_000,
      intervalMs: this.options.pollIntervalMs ?? 500,
      signal,
    })
    for (const item of waiting) {
      const {id} = item.stored
      if (item.replica) {
        this.summary.replicaMissing++
        this.report({
          kind: 'audit_replica_missing',
          message: `transfer ${id} has no replicated audit record in region ${item.region}'s bucket`,
          ids: [id],
        })
      } else {
        this.summary.missing++
        this.report({
          kind: 'audit_missing',
          message: `transfer ${id} is committed but has no audit record in region ${item.region}'s bucket`,
          ids: [id],
        })
      }
    }
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

  private compare(stored: StoredTransfer, region: string, record: AuditRecord): void {
    this.compared++
    const recorded = {
      from: String(record.from),
      to: String(record.to),
      amount: String(record.amount),
      originRegion: String(record.originRegion),
    }
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

  private missing(stored: StoredTransfer, region: string, replica: boolean): void {
    if (this.pending.length < MAX_PENDING) {
      this.pending.push({stored, region, replica})
      return
    }

    // too many to poll: report at once
    if (replica) this.summary.replicaMissing++
    else this.summary.missing++
    this.report({
      kind: replica ? 'audit_replica_missing' : 'audit_missing',
      message: `transfer ${stored.id} has no audit record in region ${region}'s bucket`,
      ids: [stored.id],
    })
  }

  private withoutTransfer(id: string, region: string): void {
    this.summary.withoutTransfer++
    this.report({
      kind: 'audit_without_transfer',
      message: `region ${region}'s bucket has an audit record for transfer ${id}, which is not stored in the ledger`,
      ids: [id],
    })
  }
}
