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
import {closeSync, fstatSync, openSync, readSync} from 'node:fs'

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

  /** the sum of one value (an unsigned 64-bit BigInt) */
  static of(value: bigint): Sum64 {
    const sum = new Sum64()
    sum.halves[0] = Number(value >> 32n)
    sum.halves[1] = Number(value & 0xff_ff_ff_ffn)
    return sum
  }

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

  /** adds another sum */
  addSum(other: Sum64): void {
    const low = this.halves[1] + other.halves[1]
    this.halves[1] = low
    this.halves[0] = this.halves[0] + other.halves[0] + (low >= TWO_32 ? 1 : 0)
  }

  equals(other: Sum64): boolean {
    return this.halves[0] === other.halves[0] && this.halves[1] === other.halves[1]
  }

  /** the sum as an unsigned 64-bit BigInt */
  value(): bigint {
    return (BigInt(this.halves[0]) << 32n) | BigInt(this.halves[1])
  }
}

/**
 * What the run logs say in the plain case, or why the plain case does not apply; and how
 * many of their bytes were read, and how many were taken from their writers' trailers.
 */
export type RunLogDigest = ({attempted: number; plain: true; requests: Sum64} | {plain: false; reason: string}) & {
  bytesFromTrailers: number
  bytesRead: number
}

/**
 * The counts and hash sums of run-log lines: digestRunLogs keeps one while it reads the
 * logs, RunLogWriter one of the lines it writes (its trailer). Both tally with addLines,
 * the same code over the same bytes.
 */
export class LogTally {
  acknowledged = 0
  readonly acknowledgedIds = new Sum64()
  attempted = 0
  readonly attemptedIds = new Sum64()
  /** why the plain case does not apply: the first line that showed it (nothing after it is tallied) */
  notPlain: string | undefined = undefined
  readonly requests = new Sum64()

  /** adds the counts and sums of another tally (of the lines after these) */
  add(other: LogTally): void {
    this.attempted += other.attempted
    this.attemptedIds.addSum(other.attemptedIds)
    this.requests.addSum(other.requests)
    this.acknowledged += other.acknowledged
    this.acknowledgedIds.addSum(other.acknowledgedIds)
    this.notPlain ??= other.notPlain
  }

  /** tallies the whole lines in chunk[0, end) (ending with a newline); false once a line is not plain */
  addLines(chunk: Buffer, end: number): boolean {
    if (this.notPlain !== undefined) return false
    this.notPlain = digestChunk(chunk, end, this)
    return this.notPlain === undefined
  }
}

/**
 * The trailer a RunLogWriter writes as its last line when it closes (runlog-writer.ts):
 * `# digest {json}`, a comment like `# start` and `# end`, which every reader of run
 * logs skips. It says that the bytes [from, to) of the file, the trailer line starting at
 * `to`, are the lines its writer wrote, and what digestRunLogs reading them would tally.
 */
export const TRAILER_KIND = 'digest'
const TRAILER_PREFIX = `# ${TRAILER_KIND} `
/** no trailer line is longer (five 20-digit numbers and a reason): a longer last line is not one */
const TRAILER_MAX = 1024

export interface Trailer {
  acknowledged: number
  acknowledgedIds: string
  attempted: number
  attemptedIds: string
  /** trailerCheck of the other fields: a trailer damaged in any of them is not taken */
  check: string
  /** the first byte of the writer's lines: the file's size when it was opened (a run log may be appended to) */
  from: number
  /** why the plain case does not apply to its lines, or null */
  notPlain: null | string
  requests: string
  /** the end of its lines, where the trailer line starts */
  to: number
}

/**
 * A 64-bit hash (hex) of a trailer's fields: the same hashint8extended chain over
 * from, to, the counts, the sums' 32-bit halves and the reason's length (0 for none).
 */
export function trailerCheck(trailer: Omit<Trailer, 'check'>): string {
  const halves = (sum: string) => {
    const value = BigInt(sum)
    return [Number(value >> 32n), Number(value & 0xff_ff_ff_ffn)]
  }

  hashed.fill(0)
  for (const value of [
    trailer.from,
    trailer.to,
    trailer.attempted,
    ...halves(trailer.attemptedIds),
    ...halves(trailer.requests),
    trailer.acknowledged,
    ...halves(trailer.acknowledgedIds),
    trailer.notPlain === null ? 0 : trailer.notPlain.length + 1,
  ])
    hashInt8Extended(value)
  return ((BigInt(hashed[0]) << 32n) | BigInt(hashed[1])).toString(16)
}

export function trailerOf(tally: LogTally, from: number, to: number): Trailer {
  const fields = {
    from,
    to,
    attempted: tally.attempted,
    attemptedIds: tally.attemptedIds.value().toString(),
    requests: tally.requests.value().toString(),
    acknowledged: tally.acknowledged,
    acknowledgedIds: tally.acknowledgedIds.value().toString(),
    notPlain: tally.notPlain ?? null,
  }
  return {...fields, check: trailerCheck(fields)}
}

/** the trailer's tally, or undefined when a field is missing or not of its kind */
function tallyOf(trailer: Trailer): LogTally | undefined {
  const count = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0
  const sum = (text: unknown) => typeof text === 'string' && /^\d{1,20}$/.test(text) && BigInt(text) < 1n << 64n
  const {acknowledged, acknowledgedIds, attempted, attemptedIds, notPlain, requests} = trailer
  if (!count(acknowledged) || !count(attempted) || !sum(acknowledgedIds) || !sum(attemptedIds) || !sum(requests))
    return undefined
  if (notPlain !== null && typeof notPlain !== 'string') return undefined
  if (trailer.check !== trailerCheck(trailer)) return undefined
  const tally = new LogTally()
  tally.attempted = attempted
  tally.attemptedIds.addSum(Sum64.of(BigInt(attemptedIds)))
  tally.requests.addSum(Sum64.of(BigInt(requests)))
  tally.acknowledged = acknowledged
  tally.acknowledgedIds.addSum(Sum64.of(BigInt(acknowledgedIds)))
  tally.notPlain = notPlain ?? undefined
  return tally
}

/** bytes [from, end) of a run log that a trailer vouches for (end: after the trailer line) */
interface Covered {
  end: number
  from: number
  tally: LogTally
}

/**
 * The trailer whose line ends the file's first `end` bytes, when it holds: its line is
 * whole, it parses, the lines it covers end exactly where it starts (`to`: nothing was
 * cut from them or added between them and it) and begin at the start of a line (`from`
 * is 0 or follows a newline, so reading the file whole splits its lines the same way).
 * Undefined otherwise: those bytes are read.
 */
function trailerEnding(fd: number, end: number, buffer: Buffer): Covered | undefined {
  const start = Math.max(0, end - TRAILER_MAX)
  const n = end - start
  if (n < TRAILER_PREFIX.length + 3 || readSync(fd, buffer, 0, n, start) !== n || buffer[n - 1] !== 10) return
  const newline = buffer.lastIndexOf(10, n - 2)
  if (newline === -1 && start > 0) return
  const lineStart = start + newline + 1
  if (buffer.toString('latin1', newline + 1, newline + 1 + TRAILER_PREFIX.length) !== TRAILER_PREFIX) return
  let trailer: Trailer
  try {
    trailer = JSON.parse(buffer.toString('utf8', newline + 1 + TRAILER_PREFIX.length, n - 1)) as Trailer
  } catch {
    return
  }

  if (typeof trailer !== 'object' || trailer === null) return
  const {from, to} = trailer
  if (!Number.isSafeInteger(from) || from < 0 || from > to || to !== lineStart) return
  if (from > 0 && (readSync(fd, buffer, 0, 1, from - 1) !== 1 || buffer[0] !== 10)) return
  const tally = tallyOf(trailer)
  return tally && {from, end, tally}
}

/**
 * Counts and hash sums of the attempt and acknowledgement lines of the run logs, with
 * no table of ids. Stops at the first line the plain case does not allow (an outcome
 * other than an acknowledgement, a damaged id or request). Lines are read as
 * scanRecords reads them (the same status words, the id after the first tab, the same
 * request parser), in one loop over each chunk.
 *
 * With `trailers` (the default), a file that ends with its writer's trailer is not read:
 * its tally is taken, and so for a trailer right before the lines that trailer covers
 * (a log appended to by several runs); only the bytes no trailer covers are read. The
 * result is the same as reading every line (tested on random logs): the trailer is the
 * tally of exactly the bytes its writer wrote, made by the same LogTally.addLines over
 * the same bytes as they went to write(2), and it is used only where those bytes are
 * still exactly where it says (see trailerEnding). A writer that did not close (a crash,
 * SIGKILL) wrote no trailer: its lines are read. What a trailer does not vouch for is
 * bytes changed in place afterwards with the file's length kept.
 */
export async function digestRunLogs(
  files: string[],
  signal?: AbortSignal,
  options: {trailers?: boolean} = {},
): Promise<RunLogDigest> {
  const tally = new LogTally()
  const bytes = {read: 0, fromTrailers: 0}
  // one reusable buffer (and a byte for the newline a last line may lack)
  const buffer = Buffer.allocUnsafe(READ_BUFFER + 1)
  for (const file of files) {
    signal?.throwIfAborted()
    const reason = await digestFile(file, buffer, tally, options.trailers !== false, bytes)
    if (reason) return {plain: false, reason, bytesRead: bytes.read, bytesFromTrailers: bytes.fromTrailers}
  }

  const counted = {bytesRead: bytes.read, bytesFromTrailers: bytes.fromTrailers}
  if (tally.attempted !== tally.acknowledged || !tally.attemptedIds.equals(tally.acknowledgedIds))
    return {plain: false, reason: 'the attempted ids are not exactly the acknowledged ones', ...counted}
  return {plain: true, attempted: tally.attempted, requests: tally.requests, ...counted}
}

const NOT_PLAIN_OUTCOME = 'outcomes other than acknowledgements (failed, rejected, unknown or queued)'

/**
 * One run log into the tally: the trailers at its end (last first) and the bytes before
 * them, which are read; then the tallies in file order, so the first line that is not
 * plain gives the same reason as reading.
 */
async function digestFile(
  file: string,
  buffer: Buffer,
  tally: LogTally,
  trailers: boolean,
  bytes: {fromTrailers: number; read: number},
): Promise<string | undefined> {
  const fd = openSync(file, 'r')
  try {
    const covered: Covered[] = []
    if (trailers) {
      let end = fstatSync(fd).size
      for (let c = trailerEnding(fd, end, buffer); c; c = trailerEnding(fd, end, buffer)) {
        covered.push(c)
        end = c.from
      }
    }

    // without a trailer at its end, the file is read to its end as it is then (a workload may still be writing it)
    const readEnd = covered.length > 0 ? covered.at(-1)!.from : Number.POSITIVE_INFINITY
    const reason = await digestRange(fd, file, readEnd, buffer, tally, bytes)
    if (reason !== undefined) return reason
    for (const c of covered.reverse()) {
      bytes.fromTrailers += c.end - c.from
      if (c.tally.notPlain !== undefined) return c.tally.notPlain
      tally.add(c.tally)
    }

    return undefined
  } finally {
    closeSync(fd)
  }
}

/**
 * Reads the file's bytes [0, end) into the tally, with readSync and a turn of the event
 * loop after each chunk: the async read's round trip through the thread pool left the
 * loop idle between chunks (7-14 ms of each 20 in the bench's profile, the cores busy
 * with the server's replay), and a turn per chunk still lets the replay be sent and
 * answered while the logs stream.
 */
async function digestRange(
  fd: number,
  file: string,
  end: number,
  buffer: Buffer,
  tally: LogTally,
  bytes: {read: number},
): Promise<string | undefined> {
  let position = 0
  let filled = 0
  for (;;) {
    const want = Math.min(READ_BUFFER - filled, end - position)
    const bytesRead = want > 0 ? readSync(fd, buffer, filled, want, position) : 0
    position += bytesRead
    bytes.read += bytesRead
    filled += bytesRead
    const final = bytesRead === 0
    if (final && filled > 0 && buffer[filled - 1] !== 10) buffer[filled++] = 10
    // [0, lines) holds whole lines: no scan below runs past a newline at lines - 1
    const lines = filled === 0 ? 0 : buffer.lastIndexOf(10, filled - 1) + 1
    if (!tally.addLines(buffer, lines)) return tally.notPlain
    if (final) return undefined
    buffer.copyWithin(0, lines, filled)
    filled -= lines
    if (filled === READ_BUFFER) throw new UsageError(`${file}: a line longer than ${READ_BUFFER} bytes: not a run log`)
    await new Promise<void>((resolve) => {
      setImmediate(resolve)
    })
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
