import {closeSync, openSync, writeSync} from 'node:fs'
import {mkdtemp, open, rm, stat} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {UsageError} from '../../errors.js'
import {IdStatus, statusOfLine} from '../runlog.js'
import {LoggedIds} from './ids.js'
import {HIGHEST_UUID, LOWEST_UUID, PARTITION_TARGET} from './model.js'

/** Reading run logs at byte level, and splitting them by id prefix so that one partition of ids fits in memory. */

export interface IdRange {
  hi: string
  lo: string
  load(): Promise<LoggedIds>
}

/**
 * Calls onRecord(status, idStart) for each "<event>\t<id>..." line of a run log,
 * reading raw bytes in big chunks: no string per line, no promise per record
 * (millions of lines). The id is the 36 bytes at idStart of the chunk passed along;
 * the line ends at lineEnd (exclusive).
 */
export async function scanRecords(
  file: string,
  onRecord: (status: IdStatus, chunk: Buffer, idStart: number, lineEnd: number) => void,
): Promise<void> {
  await forEachLine(file, (chunk, start, end) => {
    const status = statusOfLine(chunk, start)
    if (status === undefined) return
    const tab = chunk.indexOf(9, start)
    if (tab !== -1 && tab + 37 <= end) onRecord(status, chunk, tab + 1, end)
  })
}

/** Calls onLine(chunk, start, end) for each line of a file, read in big chunks into one reusable buffer. */
export async function forEachLine(
  file: string,
  onLine: (chunk: Buffer, start: number, end: number) => void,
): Promise<void> {
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
      if (filled === buffer.length)
        throw new UsageError(`${file}: a line longer than ${READ_BUFFER} bytes: not a run log`)
    }
  } finally {
    await handle.close()
  }
}

export const READ_BUFFER = 1 << 20
export const EMPTY = Buffer.alloc(0)

/** from, to, amount of the last parseRequest (one scratch array: no allocation per line) */
export const parsedRequest = new Float64Array(3)

/**
 * Parses the request of an attempt line, "<from>\t<to>\t<amount>" after the id (a
 * run log's line goes on with the time, a partition record ends there), into
 * parsedRequest. Returns the end of the amount field, or -1 when the fields are
 * not there.
 */
export function parseRequest(chunk: Buffer, idStart: number, lineEnd: number): number {
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
export function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37
  return -1
}

/** the longest partition record: "<digit>\t<36-char id>\t<from>\t<to>\t<amount>\n", three numbers of at most 20 digits */
export const PARTITION_RECORD_MAX = 2 + 36 + 3 * 21 + 1
export const PARTITION_BUFFER = 4096 * 64

/** Run-log ids split by the first hex digits of the id (see partitionRunLogs). */
export interface Partitions {
  cleanup(): Promise<void>
  /** where the partition files are; empty for a single partition read straight from the logs */
  dir: string
  /** the partition of the id whose text starts at `at`, or -1 */
  indexOf(chunk: Buffer, at: number): number
  /** the partition of the id whose first 32 bits are `word` */
  indexOfWord(word: number): number
  /** one per partition, in key order */
  prefixes: string[]
  ranges: IdRange[]
}

/** Buffered appends to one file per partition (records of at most PARTITION_RECORD_MAX bytes). */
export class PartitionWriter {
  private readonly buffers: Buffer[]
  private readonly fds: number[]
  private readonly used: number[]

  constructor(dir: string, prefixes: string[], suffix = '') {
    this.fds = prefixes.map((p) => openSync(path.join(dir, `${p}${suffix}`), 'w'))
    this.buffers = prefixes.map(() => Buffer.allocUnsafe(PARTITION_BUFFER))
    this.used = prefixes.map(() => 0)
  }

  close(): void {
    for (let i = 0; i < this.fds.length; i++) this.flush(i)
    for (const fd of this.fds) closeSync(fd)
  }

  /** the record written after reserve() ends at `end` */
  commit(index: number, end: number): void {
    this.used[index] = end
  }

  /** the buffer and offset to write the next record of partition `index` at */
  reserve(index: number): [Buffer, number] {
    if (this.used[index] + PARTITION_RECORD_MAX > PARTITION_BUFFER) this.flush(index)
    return [this.buffers[index], this.used[index]]
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
export async function partitionRunLogs(
  files: string[],
  tmpDir = os.tmpdir(),
  target = PARTITION_TARGET,
): Promise<Partitions> {
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
        const request =
          status === IdStatus.Attempted && parseRequest(chunk, idStart, lineEnd) >= 0 ? parsedRequest : undefined
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
  if (digits === 0)
    return {
      ranges: [{lo: LOWEST_UUID, hi: HIGHEST_UUID, load: load(files)}],
      dir: '',
      prefixes: [''],
      indexOf,
      indexOfWord,
      async cleanup() {},
    }

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
          if (end >= 0 && end - (idStart + 36) <= PARTITION_RECORD_MAX - 39)
            at += chunk.copy(buffer, at, idStart + 36, end)
        }

        buffer[at] = 10
        writer.commit(index, at + 1)
      })
    }
  } finally {
    writer.close()
  }

  // each partition is read back with the same record parser (statusOfLine knows the digit records)
  const ranges: IdRange[] = prefixes.map((prefix) => ({
    lo: uuidBound(prefix, '0'),
    hi: uuidBound(prefix, 'f'),
    load: load([path.join(dir, prefix)]),
  }))
  return {ranges, dir, prefixes, indexOf, indexOfWord, cleanup: () => rm(dir, {recursive: true, force: true})}
}

/** the smallest/largest UUID starting with the hex prefix */
export function uuidBound(prefix: string, fill: '0' | 'f'): string {
  const hex = prefix.padEnd(32, fill)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
