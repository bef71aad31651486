import type {RunLogSummary, Violation} from './model.js'

import {IdStatus} from '../runlog.js'
import {describeRequest, formatUuid, type LoggedIds, parsedId, REQUEST_KNOWN, STORED} from './ids.js'

/**
 * The join of the stored transfers with the run logs, one partition of ids at a time:
 * begin() counts a partition's logged ids by status, check() takes each stored transfer
 * of the partition (its id already parsed into parsedId), end() reports what the run log
 * has and the database does not. Without run logs only the duplicate check runs.
 */
export class RunLogJoin {
  /** The checks of one stored transfer (its id in parsedId) against the run log; false for a repeated id. */
  readonly check = (from: number, to: number, amount: number): boolean => {
    this.transfers++
    const {ids, runLog, previous} = this
    const slot = runLog && ids ? ids.find() : -1
    const repeated =
      this.hasPrevious &&
      parsedId[0] === previous[0] &&
      parsedId[1] === previous[1] &&
      parsedId[2] === previous[2] &&
      parsedId[3] === previous[3]
    if (repeated || (slot >= 0 && ids!.has(slot, STORED))) {
      this.streamDuplicates++
      const id = formatUuid(parsedId[0], parsedId[1], parsedId[2], parsedId[3])
      this.report({kind: 'duplicate', message: `transfer ${id} is stored more than once`, ids: [id]})
      return false
    }

    previous[0] = parsedId[0]
    previous[1] = parsedId[1]
    previous[2] = parsedId[2]
    previous[3] = parsedId[3]
    this.hasPrevious = true
    if (!runLog || !ids) return true
    if (slot < 0) {
      const id = formatUuid(parsedId[0], parsedId[1], parsedId[2], parsedId[3])
      this.report({
        kind: 'phantom',
        message: `transfer ${id} is stored but no client attempted it (it is in none of the ${this.runLogCount} run log(s) read)`,
        ids: [id],
      })
      return true
    }

    ids.mark(slot, STORED)
    const status = ids.status(slot)
    if (status === IdStatus.NotCommitted) {
      const id = ids.idOf(slot)
      this.report({
        kind: 'committed_despite_failure',
        message: `transfer ${id} was reported rejected/failed to the client but is committed`,
        ids: [id],
      })
    } else if (status === IdStatus.Unknown) runLog.unknownCommitted++
    if (!ids.has(slot, REQUEST_KNOWN)) return true
    this.comparedWithRequest++
    // a reused id was reported in begin(); its stored transfer must still be one of the requests
    if (
      (from !== ids.request(slot, 0) || to !== ids.request(slot, 1) || amount !== ids.request(slot, 2)) &&
      describeRequest(from, to, amount) !== ids.conflicting.get(slot)?.other
    ) {
      const id = ids.idOf(slot)
      const sent = {from: ids.request(slot, 0), to: ids.request(slot, 1), amount: ids.request(slot, 2)}
      const fields = (['from', 'to', 'amount'] as const).filter((f) => ({from, to, amount})[f] !== sent[f])
      this.report({
        kind: 'altered',
        message: `transfer ${id} is stored as ${describeRequest(from, to, amount)}, but the client sent ${ids.describe(slot)} (${fields.join(', ')} differ${fields.length === 1 ? 's' : ''})`,
        ids: [id],
        fields,
      })
    }

    return true
  }
  comparedWithRequest = 0
  readonly runLog: RunLogSummary | undefined
  streamDuplicates = 0
  transfers = 0
  private hasPrevious = false
  private ids: LoggedIds | undefined
  /** the id of the previous stored row (a repeated id that is in no run log is still a duplicate) */
  private readonly previous = new Int32Array(4)

  constructor(
    private readonly report: (v: Violation) => void,
    /** how many run logs were read (undefined: none, no join) */
    private readonly runLogCount: number | undefined,
  ) {
    this.runLog =
      runLogCount === undefined
        ? undefined
        : {
            attempted: 0,
            acknowledged: 0,
            unknown: 0,
            unknownCommitted: 0,
            unknownNotCommitted: 0,
            notCommitted: 0,
            sentToQueue: 0,
            sentNotApplied: 0,
          }
  }

  /** A partition's logged ids: counted by status (in memory order); ids sent with different contents reported. */
  begin(ids: LoggedIds): void {
    this.ids = ids
    const {runLog} = this
    if (!runLog) return
    for (let slot = 0; slot < ids.capacity; slot++) {
      if (!ids.used(slot)) continue
      runLog.attempted++
      switch (ids.status(slot)) {
        case IdStatus.Acknowledged: {
          runLog.acknowledged++
          break
        }

        case IdStatus.NotCommitted: {
          runLog.notCommitted++
          break
        }

        case IdStatus.Sent: {
          runLog.sentToQueue++
          break
        }

        case IdStatus.Unknown: {
          runLog.unknown++
          break
        }
      }
    }

    for (const [slot, {id, other}] of ids.conflicting) {
      this.report({
        kind: 'id_reused',
        message: `transfer id ${id} was sent with different contents: ${ids.describe(slot)} and ${other} (only one can be stored; the other was answered as if applied)`,
        ids: [id],
      })
    }
  }

  /** What the partition's run log has and the database does not: the lost ones reported in run-log order. */
  end(): void {
    const {ids, runLog} = this
    if (!runLog || !ids) return
    let lost = 0
    for (let slot = 0; slot < ids.capacity; slot++) {
      if (!ids.used(slot) || ids.has(slot, STORED)) continue
      switch (ids.status(slot)) {
        case IdStatus.Acknowledged: {
          lost++
          break
        }

        case IdStatus.Sent: {
          runLog.sentNotApplied++
          break
        }

        case IdStatus.Unknown: {
          runLog.unknownNotCommitted++
          break
        }
      }
    }

    for (let i = 0; lost > 0 && i < ids.size; i++) {
      const slot = ids.slotAt(i)
      if (ids.has(slot, STORED) || ids.status(slot) !== IdStatus.Acknowledged) continue
      lost--
      const id = ids.idOf(slot)
      this.report({kind: 'lost', message: `transfer ${id} was acknowledged to the client but is not stored`, ids: [id]})
    }
  }
}
