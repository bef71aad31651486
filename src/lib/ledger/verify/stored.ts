import {open} from 'node:fs/promises'
import path from 'node:path'

import type {LedgerSql} from '../db.js'
import type {StatementBound} from './bound.js'

import {PreconditionError} from '../../errors.js'
import * as q from '../sql.js'
import {parsedId, parseUuid, readUuid} from './ids.js'
import {ID_PAGE, type ScanState} from './model.js'
import {EMPTY, type IdRange, parsedRequest, parseRequest, type Partitions, PartitionWriter} from './runlog-scan.js'

/** Reading the stored transfers: one COPY for the run-log join (spilled per partition), keyset pages for the audit merge. */

/** binary COPY: the signature that starts the stream, and the row layout of COPY_TRANSFER_ROWS_BINARY */
export const PGCOPY_SIGNATURE = Buffer.from('PGCOPY\n\u00FF\r\n\0', 'latin1')
/** 2-byte field count, then per field a 4-byte length and the value: a 16-byte UUID and three 8-byte integers */
export const BINARY_ROW = 2 + 4 + 16 + 3 * (4 + 8)

/** a signed 8-byte big-endian integer as a number (exact below 2^53, as the run log's requests are read) */
export function readInt8(chunk: Buffer, at: number): number {
  return chunk.readInt32BE(at) * 4_294_967_296 + chunk.readUInt32BE(at + 4)
}

/**
 * Every stored transfer, in the table's physical order, through one COPY: calls
 * onRow(from, to, amount) with the id in parsedId; no string or object per row.
 * Binary COPY where the server has it (PostgreSQL: no text to format on the server,
 * fixed-size rows here), otherwise the text form ("<id>\t<from>\t<to>\t<amount>"
 * lines; CockroachDB's COPY TO has no binary format).
 */
export async function streamStoredTransfers(
  sql: LedgerSql,
  bound: StatementBound,
  state: ScanState,
  onRow: (from: number, to: number, amount: number) => unknown,
): Promise<void> {
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
      if (
        fields !== 4 ||
        chunk.readInt32BE(at + 2) !== 16 ||
        chunk.readInt32BE(at + 22) !== 8 ||
        chunk.readInt32BE(at + 34) !== 8 ||
        chunk.readInt32BE(at + 46) !== 8
      ) {
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
    if (!parseUuid(chunk, start))
      throw new Error(`transfer id ${chunk.toString('latin1', start, start + 36)} read back is not a UUID`)
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
export const STORED_RECORD = 16 + 3 * 8

/**
 * Copies every stored transfer into per-partition files of fixed-size records
 * (STORED_RECORD), reading the table once in its physical order (streamStoredTransfers).
 */
export async function spillStoredTransfers(
  sql: LedgerSql,
  partitions: Partitions,
  bound: StatementBound,
  state: ScanState,
): Promise<{file: (range: IdRange) => string}> {
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
  return {
    file: (range) =>
      path.join(
        partitions.dir,
        `${partitions.prefixes[partitions.indexOf(Buffer.from(range.lo, 'latin1'), 0)]}.stored`,
      ),
  }
}

/** Calls check(from, to, amount) with the id in parsedId for each record of a spilled partition file. */
export async function scanStoredPartition(
  file: string,
  check: (from: number, to: number, amount: number) => unknown,
): Promise<void> {
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
export type TransferRow = [string, string, string, string, string]

/**
 * The stored transfers of one id range in key order, a page at a time (keyset
 * pages, the next one requested while this one is merged with the audit listings).
 */
export async function* transferRows(
  sql: LedgerSql,
  range: IdRange,
  bound: StatementBound,
  state: ScanState,
): AsyncGenerator<TransferRow[]> {
  const what = () => `reading transfer rows (${state.transferRowsRead} read so far)`
  const fetchPage = (after: string, first: boolean) => {
    const pending = sql
      .unsafe(first ? q.TRANSFER_ROWS_FIRST_PAGE : q.TRANSFER_ROWS_PAGE, [after, range.hi, ID_PAGE], {prepare: true})
      .values() as unknown as Promise<TransferRow[]>
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
