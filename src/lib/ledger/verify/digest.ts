/* eslint-disable unicorn/prefer-math-trunc -- lookup3 is 32-bit arithmetic that wraps: `| 0` wraps, Math.trunc does not */
/**
 * The fast path of the run-log check: instead of joining every stored transfer with
 * the run logs row by row, the server sums a 64-bit hash of each stored transfer
 * (id, sender, recipient, amount) in one aggregate, the client sums the same hash
 * over the attempt lines while it streams the logs (no table of ids), and the two
 * are compared with the counts. It holds only for the plain case: every line is an
 * attempt or an acknowledgement, every attempted id is acknowledged once (equal
 * counts and equal hash sums of the attempted and the acknowledged ids), and the
 * stored transfers are exactly the attempted requests (equal count and hash sum).
 * Then the per-row join would find nothing, and its counters are known. Anything
 * else (a failed, rejected, unknown or queued outcome, a damaged line, a sum that
 * differs) leaves it to the per-row join, which names the ids.
 *
 * The hash is PostgreSQL's own (uuid_hash_extended, hashint8extended: Jenkins'
 * lookup3 as src/common/hashfn.c has it, stable since hash partitioning depends on
 * it), ported below, so the server computes it without a function of ours.
 * Sums are modulo 2^64: a changed, missing or extra transfer goes unnoticed only if
 * the sums collide (about 2^-64).
 */
import {closeSync, openSync, readSync} from 'node:fs'

import {UsageError} from '../../errors.js'
import {IdStatus, statusOfLine} from '../runlog.js'
import {HEX_PAIR, parsedId} from './ids.js'
import {parsedRequest, parseRequest, READ_BUFFER} from './runlog-scan.js'

/** the high and low 32 bits (unsigned) of the last hash */
export const hashed = new Uint32Array(2)

/** lookup3's state (a, b, c): 32-bit words that wrap */
const state = new Int32Array(3)

/** lookup3's mix() of `state` */
function mix(): void {
  let a = state[0]
  let b = state[1]
  let c = state[2]
  a = (a - c) | 0
  a ^= (c << 4) | (c >>> 28)
  c = (c + b) | 0
  b = (b - a) | 0
  b ^= (a << 6) | (a >>> 26)
  a = (a + c) | 0
  c = (c - b) | 0
  c ^= (b << 8) | (b >>> 24)
  b = (b + a) | 0
  a = (a - c) | 0
  a ^= (c << 16) | (c >>> 16)
  c = (c + b) | 0
  b = (b - a) | 0
  b ^= (a << 19) | (a >>> 13)
  a = (a + c) | 0
  c = (c - b) | 0
  c ^= (b << 4) | (b >>> 28)
  b = (b + a) | 0
  state[0] = a
  state[1] = b
  state[2] = c
}

/** lookup3's final() of `state`; the 64-bit result (b, c) into `hashed` */
function final(): void {
  let a = state[0]
  let b = state[1]
  let c = state[2]
  c ^= b
  c = (c - ((b << 14) | (b >>> 18))) | 0
  a ^= c
  a = (a - ((c << 11) | (c >>> 21))) | 0
  b ^= a
  b = (b - ((a << 25) | (a >>> 7))) | 0
  c ^= b
  c = (c - ((b << 16) | (b >>> 16))) | 0
  a ^= c
  a = (a - ((c << 4) | (c >>> 28))) | 0
  b ^= a
  b = (b - ((a << 14) | (a >>> 18))) | 0
  c ^= b
  c = (c - ((b << 24) | (b >>> 8))) | 0
  hashed[0] = b
  hashed[1] = c
}

/** init = 0x9e3779b9 + length + 3923095 */
const INIT_16 = (0x9e_37_79_b9 + 16 + 3_923_095) | 0
const INIT_4 = (0x9e_37_79_b9 + 4 + 3_923_095) | 0

/** the 32-bit word of 4 bytes read little-endian (as lookup3 reads them on the usual servers) from a big-endian word */
function swap(w: number): number {
  return ((w & 0xff) << 24) | ((w & 0xff_00) << 8) | ((w >>> 8) & 0xff_00) | (w >>> 24)
}

/** uuid_hash_extended(id, 0) of the UUID whose big-endian words are w0..w3, into `hashed` */
export function uuidHashExtended(w0: number, w1: number, w2: number, w3: number): void {
  // seed 0: nothing mixed in before the key
  state[0] = INIT_16 + swap(w0)
  state[1] = INIT_16 + swap(w1)
  state[2] = INIT_16 + swap(w2)
  mix()
  state[0] += swap(w3)
  final()
}

/** uuidHashExtended of the id in parsedId (read there, not passed: see Sum64 on heap numbers) */
function hashParsedId(): void {
  state[0] = INIT_16 + swap(parsedId[0])
  state[1] = INIT_16 + swap(parsedId[1])
  state[2] = INIT_16 + swap(parsedId[2])
  mix()
  state[0] += swap(parsedId[3])
  final()
}

const TWO_32 = 4_294_967_296

/** hashint8extended(value, seed) for an integer value (exact below 2^53), the seed in `hashed`; the result into `hashed` */
export function hashInt8Extended(value: number): void {
  const hi = Math.floor(value / TWO_32)
  const lo = value - hi * TWO_32
  // lohalf ^= (val >= 0) ? hihalf : ~hihalf
  const k = (lo ^ (value >= 0 ? hi : ~hi)) | 0
  const seedHi = hashed[0] | 0
  const seedLo = hashed[1] | 0
  state[0] = INIT_4
  state[1] = INIT_4
  state[2] = INIT_4
  if (seedHi !== 0 || seedLo !== 0) {
    state[0] += seedHi
    state[1] += seedLo
    mix()
  }

  state[0] += k
  final()
}

/** the id's hash (uuid_hash_extended(id, 0)) of the last hashUuidText, high and low 32 bits (the seed of hashRequest) */
export const idHashed = new Uint32Array(2)

/**
 * Parses the 36-character UUID text at chunk[at] as parseUuid does (either case; false
 * for anything else) and puts uuid_hash_extended(id, 0) into idHashed. lookup3 reads
 * the id's bytes as little-endian words: they are put together from the digit pairs in
 * that order (no big-endian words, no byte swap, no parsedId between parsing and
 * hashing), and mix() and final() are written out over locals.
 */
export function hashUuidText(chunk: Uint8Array, at: number): boolean {
  if (chunk[at + 8] !== 0x2d || chunk[at + 13] !== 0x2d || chunk[at + 18] !== 0x2d || chunk[at + 23] !== 0x2d)
    return false
  const p0 = HEX_PAIR[(chunk[at] << 8) | chunk[at + 1]]
  const p1 = HEX_PAIR[(chunk[at + 2] << 8) | chunk[at + 3]]
  const p2 = HEX_PAIR[(chunk[at + 4] << 8) | chunk[at + 5]]
  const p3 = HEX_PAIR[(chunk[at + 6] << 8) | chunk[at + 7]]
  const p4 = HEX_PAIR[(chunk[at + 9] << 8) | chunk[at + 10]]
  const p5 = HEX_PAIR[(chunk[at + 11] << 8) | chunk[at + 12]]
  const p6 = HEX_PAIR[(chunk[at + 14] << 8) | chunk[at + 15]]
  const p7 = HEX_PAIR[(chunk[at + 16] << 8) | chunk[at + 17]]
  const p8 = HEX_PAIR[(chunk[at + 19] << 8) | chunk[at + 20]]
  const p9 = HEX_PAIR[(chunk[at + 21] << 8) | chunk[at + 22]]
  const p10 = HEX_PAIR[(chunk[at + 24] << 8) | chunk[at + 25]]
  const p11 = HEX_PAIR[(chunk[at + 26] << 8) | chunk[at + 27]]
  const p12 = HEX_PAIR[(chunk[at + 28] << 8) | chunk[at + 29]]
  const p13 = HEX_PAIR[(chunk[at + 30] << 8) | chunk[at + 31]]
  const p14 = HEX_PAIR[(chunk[at + 32] << 8) | chunk[at + 33]]
  const p15 = HEX_PAIR[(chunk[at + 34] << 8) | chunk[at + 35]]
  // a pair that is not two hex digits is 256
  if ((p0 | p1 | p2 | p3 | p4 | p5 | p6 | p7 | p8 | p9 | p10 | p11 | p12 | p13 | p14 | p15) & 256) return false
  // seed 0: nothing mixed in before the key
  let a = (INIT_16 + ((p3 << 24) | (p2 << 16) | (p1 << 8) | p0)) | 0
  let b = (INIT_16 + ((p7 << 24) | (p6 << 16) | (p5 << 8) | p4)) | 0
  let c = (INIT_16 + ((p11 << 24) | (p10 << 16) | (p9 << 8) | p8)) | 0
  // mix(a, b, c)
  a = (a - c) | 0
  a ^= (c << 4) | (c >>> 28)
  c = (c + b) | 0
  b = (b - a) | 0
  b ^= (a << 6) | (a >>> 26)
  a = (a + c) | 0
  c = (c - b) | 0
  c ^= (b << 8) | (b >>> 24)
  b = (b + a) | 0
  a = (a - c) | 0
  a ^= (c << 16) | (c >>> 16)
  c = (c + b) | 0
  b = (b - a) | 0
  b ^= (a << 19) | (a >>> 13)
  a = (a + c) | 0
  c = (c - b) | 0
  c ^= (b << 4) | (b >>> 28)
  b = (b + a) | 0
  a = (a + ((p15 << 24) | (p14 << 16) | (p13 << 8) | p12)) | 0
  // final(a, b, c)
  c ^= b
  c = (c - ((b << 14) | (b >>> 18))) | 0
  a ^= c
  a = (a - ((c << 11) | (c >>> 21))) | 0
  b ^= a
  b = (b - ((a << 25) | (a >>> 7))) | 0
  c ^= b
  c = (c - ((b << 16) | (b >>> 16))) | 0
  a ^= c
  a = (a - ((c << 4) | (c >>> 28))) | 0
  b ^= a
  b = (b - ((a << 14) | (a >>> 18))) | 0
  c ^= b
  c = (c - ((b << 24) | (b >>> 8))) | 0
  idHashed[0] = b
  idHashed[1] = c
  return true
}

/**
 * The hash of one transfer as sql.ts TRANSFER_HASH computes it, after hashUuidText() of
 * its id and parseRequest() of its request: hashint8extended(amount,
 * hashint8extended(to, hashint8extended(from, <idHashed>))) into `hashed`. The three
 * hashint8extended run in one loop over locals (the seed of each is the (b, c) the one
 * before left): the same values as hashInt8Extended three times, without a call, the
 * state array and `hashed` between them. The request is read from parsedRequest, not
 * passed (no double tagged per argument). Values exact below 2^53.
 */
export function hashRequest(): void {
  let b = idHashed[0] | 0
  let c = idHashed[1] | 0
  for (let i = 0; i < 3; i++) {
    const value = parsedRequest[i]
    const hi = Math.floor(value / TWO_32)
    // lohalf ^= (val >= 0) ? hihalf : ~hihalf
    const k = ((value - hi * TWO_32) ^ (value >= 0 ? hi : ~hi)) | 0
    let a = INIT_4
    if (b === 0 && c === 0) {
      // seed 0: nothing mixed in before the key
      b = INIT_4
      c = INIT_4
    } else {
      a = (a + b) | 0
      b = (INIT_4 + c) | 0
      c = INIT_4
      // mix(a, b, c)
      a = (a - c) | 0
      a ^= (c << 4) | (c >>> 28)
      c = (c + b) | 0
      b = (b - a) | 0
      b ^= (a << 6) | (a >>> 26)
      a = (a + c) | 0
      c = (c - b) | 0
      c ^= (b << 8) | (b >>> 24)
      b = (b + a) | 0
      a = (a - c) | 0
      a ^= (c << 16) | (c >>> 16)
      c = (c + b) | 0
      b = (b - a) | 0
      b ^= (a << 19) | (a >>> 13)
      a = (a + c) | 0
      c = (c - b) | 0
      c ^= (b << 4) | (b >>> 28)
      b = (b + a) | 0
    }

    a = (a + k) | 0
    // final(a, b, c)
    c ^= b
    c = (c - ((b << 14) | (b >>> 18))) | 0
    a ^= c
    a = (a - ((c << 11) | (c >>> 21))) | 0
    b ^= a
    b = (b - ((a << 25) | (a >>> 7))) | 0
    c ^= b
    c = (c - ((b << 16) | (b >>> 16))) | 0
    a ^= c
    a = (a - ((c << 4) | (c >>> 28))) | 0
    b ^= a
    b = (b - ((a << 14) | (a >>> 18))) | 0
    c ^= b
    c = (c - ((b << 24) | (b >>> 8))) | 0
  }

  hashed[0] = b
  hashed[1] = c
}

/**
 * The same hash the long way (hashParsedId, then hashInt8Extended three times, each
 * seeded by `hashed`), into `hashed`: the reference hashUuidText + hashRequest are tested against.
 */
export function transferHash(from: number, to: number, amount: number): void {
  hashParsedId()
  hashInt8Extended(from)
  hashInt8Extended(to)
  hashInt8Extended(amount)
}

/**
 * A sum modulo 2^64 of 64-bit values, in two 32-bit halves (no BigInt per value). The
 * halves live in a Uint32Array, which wraps them on store, and addHashed() reads the
 * last hash from `hashed` itself: a 32-bit value above 2^30 passed as an argument to a
 * call that is not inlined, or kept in a number field, is a heap number, one
 * allocation per line for the garbage collector.
 */
export class Sum64 {
  /** [high half, low half] */
  private readonly halves = new Uint32Array(2)

  add(hi: number, lo: number): void {
    const low = this.halves[1] + (lo >>> 0)
    this.halves[1] = low
    this.halves[0] = this.halves[0] + hi + (low >= TWO_32 ? 1 : 0)
  }

  /** add(hashed[0], hashed[1]) */
  addHashed(): void {
    const low = this.halves[1] + hashed[1]
    this.halves[1] = low
    this.halves[0] = this.halves[0] + hashed[0] + (low >= TWO_32 ? 1 : 0)
  }

  /** add(idHashed[0], idHashed[1]) */
  addIdHashed(): void {
    const low = this.halves[1] + idHashed[1]
    this.halves[1] = low
    this.halves[0] = this.halves[0] + idHashed[0] + (low >= TWO_32 ? 1 : 0)
  }

  equals(other: Sum64): boolean {
    return this.halves[0] === other.halves[0] && this.halves[1] === other.halves[1]
  }

  /** the sum as an unsigned 64-bit BigInt */
  value(): bigint {
    return (BigInt(this.halves[0]) << 32n) | BigInt(this.halves[1])
  }
}

/** What the run logs say in the plain case, or why the plain case does not apply. */
export type RunLogDigest = {attempted: number; plain: true; requests: Sum64} | {plain: false; reason: string}

/** the running counts and sums of digestRunLogs */
class LogTally {
  acknowledged = 0
  readonly acknowledgedIds = new Sum64()
  attempted = 0
  readonly attemptedIds = new Sum64()
  readonly requests = new Sum64()
}

/**
 * Streams the run logs once, without a table of ids: counts and hash sums of the
 * attempt and acknowledgement lines. Stops at the first line the plain case does
 * not allow (an outcome other than an acknowledgement, a damaged id or request).
 * Lines are read as scanRecords reads them (the same status words, the id after
 * the first tab, the same request parser), in one loop over each chunk.
 */
export async function digestRunLogs(files: string[], signal?: AbortSignal): Promise<RunLogDigest> {
  const tally = new LogTally()
  // one reusable buffer (and a byte for the newline a last line may lack)
  const buffer = Buffer.allocUnsafe(READ_BUFFER + 1)
  for (const file of files) {
    signal?.throwIfAborted()
    const reason = await digestFile(file, buffer, tally)
    if (reason) return {plain: false, reason}
  }

  if (tally.attempted !== tally.acknowledged || !tally.attemptedIds.equals(tally.acknowledgedIds))
    return {plain: false, reason: 'the attempted ids are not exactly the acknowledged ones'}
  return {plain: true, attempted: tally.attempted, requests: tally.requests}
}

const NOT_PLAIN_OUTCOME = 'outcomes other than acknowledgements (failed, rejected, unknown or queued)'

/**
 * Reads with readSync and yields to the event loop after each chunk: the async read's
 * round trip through the thread pool left the loop idle between chunks (7-14 ms of
 * each 20 in the bench's profile, the cores busy with the server's replay), and a
 * turn per chunk still lets the replay be sent and answered while the logs stream.
 */
async function digestFile(file: string, buffer: Buffer, tally: LogTally): Promise<string | undefined> {
  const fd = openSync(file, 'r')
  try {
    let filled = 0
    for (;;) {
      const bytesRead = readSync(fd, buffer, filled, READ_BUFFER - filled, null)
      filled += bytesRead
      const final = bytesRead === 0
      if (final && filled > 0 && buffer[filled - 1] !== 10) buffer[filled++] = 10
      // [0, end) holds whole lines: no scan below runs past a newline at end - 1
      const end = filled === 0 ? 0 : buffer.lastIndexOf(10, filled - 1) + 1
      const reason = digestChunk(buffer, end, tally)
      if (reason !== undefined) return reason
      if (final) return undefined
      buffer.copyWithin(0, end, filled)
      filled -= end
      if (filled === READ_BUFFER)
        throw new UsageError(`${file}: a line longer than ${READ_BUFFER} bytes: not a run log`)
      await new Promise<void>((resolve) => {
        setImmediate(resolve)
      })
    }
  } finally {
    closeSync(fd)
  }
}

/**
 * The whole lines in chunk[0, end), tallied; or why the plain case does not apply. A
 * function of its own, not a loop in the async digestFile: the loop is optimized once
 * (not on-stack-replaced at each read's resumption, with deopts where an await had no
 * type feedback yet).
 */
function digestChunk(chunk: Buffer, end: number, tally: LogTally): string | undefined {
  let at = 0
  while (at < end) {
    const next = digestLine(chunk, at, end, tally)
    if (typeof next === 'string') return next
    at = next
  }

  return undefined
}

/**
 * One line at chunk[at] (whole lines up to `end`): tallied, and the start of the next
 * line returned; or why the plain case does not apply. "attempt\t" and "applied\t"
 * lines with a UUID are read without a search for the line end first.
 */
function digestLine(chunk: Buffer, at: number, end: number, tally: LogTally): number | string {
  let status: IdStatus | undefined
  let idStart = at + 8
  let lineEnd = -1
  if (chunk[at] === 0x61 && chunk[at + 7] === 9 && (chunk[at + 1] === 0x74 || chunk[at + 1] === 0x70)) {
    status = chunk[at + 1] === 0x74 ? IdStatus.Attempted : IdStatus.Acknowledged
  } else {
    lineEnd = chunk.indexOf(10, at)
    status = statusOfLine(chunk, at)
    if (status === undefined) return lineEnd + 1
    const tab = chunk.indexOf(9, at)
    if (tab === -1 || tab + 37 > lineEnd) return lineEnd + 1
    idStart = tab + 1
    if (status !== IdStatus.Attempted && status !== IdStatus.Acknowledged) return NOT_PLAIN_OUTCOME
  }

  // hashUuidText at one call site: inlined once (TurboFan took 11-16 ms to compile digestLine with two, 6 with one)
  if (!hashUuidText(chunk, idStart)) {
    // an "attempt\t" or "applied\t" line too short to hold an id is skipped, as any other
    if (lineEnd < 0) {
      lineEnd = chunk.indexOf(10, at)
      if (idStart + 36 > lineEnd) return lineEnd + 1
    }

    return 'a run-log id is not a UUID'
  }

  // the 36 bytes parsed hold no newline: the line goes on past them
  let scanFrom = idStart + 36
  if (status === IdStatus.Attempted) {
    // bounded by `end`, not the line's end: an amount the newline follows directly is refused (the workload
    // writes the time after it), a request that parses is the same as with the line's end
    const requestEnd = parseRequest(chunk, idStart, lineEnd < 0 ? end : lineEnd)
    if (requestEnd < 0) return 'an attempt line without a readable request'
    hashRequest()
    tally.attempted++
    tally.attemptedIds.addIdHashed()
    tally.requests.addHashed()
    scanFrom = requestEnd
  } else {
    tally.acknowledged++
    tally.acknowledgedIds.addIdHashed()
  }

  if (lineEnd >= 0) return lineEnd + 1
  // the workload ends each line with "\t<13-digit epoch ms>\n": a newline 14 bytes on ends this line (or lines
  // too short to hold an id, which are skipped anyway) without a look at each byte
  if (scanFrom + 14 < end && chunk[scanFrom + 14] === 10) return scanFrom + 15
  while (chunk[scanFrom] !== 10) scanFrom++
  return scanFrom + 1
}
