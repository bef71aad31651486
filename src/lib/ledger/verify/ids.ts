/**
 * The run-log ids of one partition in flat typed arrays: an id is its 128 bits as
 * four 32-bit words, kept with its request in one 40-byte record that is its
 * bucket of an open-addressing hash table. No string and no object per id: a
 * million ids are about 65 MB and cost the garbage collector nothing, and a stored transfer is looked up by the words read
 * from its bytes (binary COPY or text) without making a string. Strings are made
 * only for the ids a violation names.
 */
import {combineStatus, IdStatus} from '../runlog.js'

/** the words of the last parseUuid / readUuid (one scratch array: no allocation per id) */
export const parsedId = new Int32Array(4)

/** the request (from, to, amount) flag: the attempt line was read */
export const REQUEST_KNOWN = 1
/** found in the transfers table */
export const STORED = 2

/**
 * The value (0-255) of two hex digits per pair of bytes (the first byte's in the high
 * 8 bits of the index), either case; 256 for every pair that is not two hex digits (the
 * flag parseUuid and digest.ts hashUuidText test). 128 KB, of which they touch a few cache lines.
 */
export const HEX_PAIR = new Uint16Array(1 << 16).fill(256)
{
  const digits: Array<[number, number]> = []
  for (let d = 0; d < 10; d++) digits.push([0x30 + d, d])
  for (let d = 0; d < 6; d++) digits.push([0x61 + d, 10 + d], [0x41 + d, 10 + d])
  for (const [hiByte, hi] of digits)
    for (const [loByte, lo] of digits) HEX_PAIR[(hiByte << 8) | loByte] = (hi << 4) | lo
}

/** HEX_PAIR of the two bytes at chunk[i] */
function pair(chunk: Uint8Array, i: number): number {
  return HEX_PAIR[(chunk[i] << 8) | chunk[i + 1]]
}

/**
 * Parses the 36-character UUID text at chunk[at] ("8-4-4-4-12" hex digits, either
 * case) into parsedId. False when it is not one. (Two digits per table lookup: it runs
 * for every run-log line.)
 */
export function parseUuid(chunk: Uint8Array, at: number): boolean {
  if (chunk[at + 8] !== 0x2d || chunk[at + 13] !== 0x2d || chunk[at + 18] !== 0x2d || chunk[at + 23] !== 0x2d)
    return false
  const p0 = pair(chunk, at)
  const p1 = pair(chunk, at + 2)
  const p2 = pair(chunk, at + 4)
  const p3 = pair(chunk, at + 6)
  const p4 = pair(chunk, at + 9)
  const p5 = pair(chunk, at + 11)
  const p6 = pair(chunk, at + 14)
  const p7 = pair(chunk, at + 16)
  const p8 = pair(chunk, at + 19)
  const p9 = pair(chunk, at + 21)
  const p10 = pair(chunk, at + 24)
  const p11 = pair(chunk, at + 26)
  const p12 = pair(chunk, at + 28)
  const p13 = pair(chunk, at + 30)
  const p14 = pair(chunk, at + 32)
  const p15 = pair(chunk, at + 34)
  // a pair that is not two hex digits is 256
  if ((p0 | p1 | p2 | p3 | p4 | p5 | p6 | p7 | p8 | p9 | p10 | p11 | p12 | p13 | p14 | p15) & 256) return false
  parsedId[0] = (p0 << 24) | (p1 << 16) | (p2 << 8) | p3
  parsedId[1] = (p4 << 24) | (p5 << 16) | (p6 << 8) | p7
  parsedId[2] = (p8 << 24) | (p9 << 16) | (p10 << 8) | p11
  parsedId[3] = (p12 << 24) | (p13 << 16) | (p14 << 8) | p15
  return true
}

/** Reads the 16 bytes of a binary UUID at chunk[at] into parsedId. */
export function readUuid(chunk: Buffer, at: number): void {
  parsedId[0] = chunk.readInt32BE(at)
  parsedId[1] = chunk.readInt32BE(at + 4)
  parsedId[2] = chunk.readInt32BE(at + 8)
  parsedId[3] = chunk.readInt32BE(at + 12)
}

/** the lower-case text of a UUID's words */
export function formatUuid(w0: number, w1: number, w2: number, w3: number): string {
  const hex = (w: number) => (w >>> 0).toString(16).padStart(8, '0')
  const a = hex(w0)
  const b = hex(w1)
  const c = hex(w2)
  return `${a}-${b.slice(0, 4)}-${b.slice(4)}-${c.slice(0, 4)}-${c.slice(4)}${hex(w3)}`
}

function hash(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0 ^ 0x25_45_f4_91, 0x9e_37_79_b1)
  h = Math.imul(h ^ w1 ^ (h >>> 15), 0x85_eb_ca_6b)
  h = Math.imul(h ^ w2 ^ (h >>> 13), 0xc2_b2_ae_35)
  h = Math.imul(h ^ w3 ^ (h >>> 16), 0x27_d4_eb_2f)
  return h ^ (h >>> 15)
}

/** the 32-bit words of a record: the key (4), then from, to, amount as doubles (6) */
const INTS = 10
/** a record of an id that is not a UUID: never found by find() (in `state`, above status and flags) */
const ODD = 1 << 15
/** the most of its buckets the table fills before it doubles */
const LOAD = 0.7

/**
 * Each id's record is its bucket of the open-addressing table (linear probing), so
 * looking an id up touches one record in memory (and its 2-byte state, in an array
 * small enough to stay in the cache). A slot is the bucket; slotAt(i) gives the
 * i-th id added (insertion order, for the reports).
 */
export class LoggedIds {
  /** a second, different request under the same id, as "from 1 to 2 amount 3" (rare: kept as text) */
  conflicting = new Map<number, {id: string; other: string}>()
  /** ids held */
  size = 0
  private buckets: number
  private doubles: Float64Array
  private ints: Int32Array
  /** ids of a run log that are not UUIDs (a damaged line): never stored, kept by their text */
  private odd = new Map<string, number>()
  private oddIds = new Map<number, string>()
  /** the slot of each id, in the order they were added */
  private order: Int32Array
  /** per bucket: status | flags << 8 | ODD; 0 for a free bucket */
  private state: Uint16Array

  /** expected: how many ids to make room for at first (it grows as needed) */
  constructor(expected = 1024) {
    this.buckets = Math.ceil(Math.max(1024, expected) / LOAD)
    this.ints = new Int32Array(INTS * this.buckets)
    this.doubles = new Float64Array(this.ints.buffer)
    this.state = new Uint16Array(this.buckets)
    this.order = new Int32Array(Math.max(1024, Math.ceil(expected)))
  }

  /** buckets: slots are 0 .. capacity - 1, those in use have used(slot) */
  get capacity(): number {
    return this.buckets
  }

  /**
   * Adds one run-log record: the id whose text starts at chunk[idStart] with its
   * status, and the request in `request` (from, to, amount) for an attempt line
   * whose fields were read (undefined otherwise).
   */
  add(status: IdStatus, chunk: Buffer, idStart: number, request: Float64Array | undefined): void {
    let slot: number
    if (parseUuid(chunk, idStart)) {
      slot = this.find()
      if (slot < 0) slot = this.insert(false)
    } else {
      const id = chunk.toString('latin1', idStart, idStart + 36).toLowerCase()
      const known = this.odd.get(id)
      if (known === undefined) {
        // any free bucket: an odd record is never looked up by key
        parsedId.fill(0)
        parsedId[0] = id.length
        for (let i = 0; i < id.length; i++)
          parsedId[1 + (i % 3)] = Math.imul(parsedId[1 + (i % 3)] ^ id.charCodeAt(i), 0x9e_37_79_b1)
        slot = this.insert(true)
        this.odd.set(id, slot)
        this.oddIds.set(slot, id)
      } else slot = known
    }

    const old = this.state[slot] & 0xff
    if (old !== status) this.state[slot] = (this.state[slot] & ~0xff) | combineStatus(old as IdStatus, status)
    if (!request) return
    const at = (INTS / 2) * slot + 2
    const {doubles} = this
    if (!this.has(slot, REQUEST_KNOWN)) {
      this.mark(slot, REQUEST_KNOWN)
      doubles[at] = request[0]
      doubles[at + 1] = request[1]
      doubles[at + 2] = request[2]
    } else if (
      (request[0] !== doubles[at] || request[1] !== doubles[at + 1] || request[2] !== doubles[at + 2]) &&
      !this.conflicting.has(slot)
    )
      this.conflicting.set(slot, {id: this.idOf(slot), other: describeRequest(request[0], request[1], request[2])})
  }

  /** "from 1 to 2 amount 3" as the client sent it */
  describe(slot: number): string {
    return describeRequest(this.request(slot, 0), this.request(slot, 1), this.request(slot, 2))
  }

  /** the slot of the id in parsedId, or -1 */
  find(): number {
    const w0 = parsedId[0]
    const w1 = parsedId[1]
    const w2 = parsedId[2]
    const w3 = parsedId[3]
    const {ints} = this
    const {buckets} = this
    for (let b = bucketOf(hash(w0, w1, w2, w3), buckets); ; b = b + 1 === buckets ? 0 : b + 1) {
      const state = this.state[b]
      if (state === 0) return -1
      const k = INTS * b
      if (ints[k] === w0 && ints[k + 1] === w1 && ints[k + 2] === w2 && ints[k + 3] === w3 && (state & ODD) === 0)
        return b
    }
  }

  /** whether a flag (REQUEST_KNOWN, STORED) is set */
  has(slot: number, flag: number): boolean {
    return ((this.state[slot] >> 8) & flag) !== 0
  }

  /** the text of the id in a slot */
  idOf(slot: number): string {
    const odd = this.oddIds.get(slot)
    if (odd !== undefined) return odd
    const k = INTS * slot
    return formatUuid(this.ints[k], this.ints[k + 1], this.ints[k + 2], this.ints[k + 3])
  }

  mark(slot: number, flag: number): void {
    this.state[slot] |= flag << 8
  }

  /** the request's from (0), to (1) or amount (2) as the client sent it */
  request(slot: number, field: 0 | 1 | 2): number {
    return this.doubles[(INTS / 2) * slot + 2 + field]
  }

  /** the slot of the i-th id added */
  slotAt(i: number): number {
    return this.order[i]
  }

  status(slot: number): IdStatus {
    return (this.state[slot] & 0xff) as IdStatus
  }

  used(slot: number): boolean {
    return this.state[slot] !== 0
  }

  /** a record for the id in parsedId (not present), with status Attempted until add() sets it */
  private insert(odd: boolean): number {
    if (this.size + 1 > LOAD * this.buckets) {
      // rehash() moves the records through parsedId: the id to insert is kept aside
      const id = Int32Array.from(parsedId)
      this.rehash()
      parsedId.set(id)
    }

    const {ints} = this
    const {buckets} = this
    let b = bucketOf(hash(parsedId[0], parsedId[1], parsedId[2], parsedId[3]), buckets)
    while (this.state[b] !== 0) b = b + 1 === buckets ? 0 : b + 1
    const k = INTS * b
    ints[k] = parsedId[0]
    ints[k + 1] = parsedId[1]
    ints[k + 2] = parsedId[2]
    ints[k + 3] = parsedId[3]
    // a used record is never 0 (the free mark): the status is at least Attempted from here on
    this.state[b] = IdStatus.Attempted | (odd ? ODD : 0)
    if (this.size === this.order.length) {
      const order = new Int32Array(2 * this.order.length)
      order.set(this.order)
      this.order = order
    }

    this.order[this.size++] = b
    return b
  }

  /** twice the buckets: every record moves, in the order added; the maps keyed by slot follow */
  private rehash(): void {
    const old = {
      ints: this.ints,
      state: this.state,
      order: this.order,
      size: this.size,
      conflicting: this.conflicting,
      oddIds: this.oddIds,
    }
    this.buckets *= 2
    this.ints = new Int32Array(INTS * this.buckets)
    this.doubles = new Float64Array(this.ints.buffer)
    this.state = new Uint16Array(this.buckets)
    this.size = 0
    this.conflicting = new Map()
    this.odd = new Map()
    this.oddIds = new Map()
    for (let i = 0; i < old.size; i++) {
      // order[i] is rewritten by insert() below (same array): read it first
      const oldSlot = old.order[i]
      const from = INTS * oldSlot
      for (let w = 0; w < 4; w++) parsedId[w] = old.ints[from + w]
      const slot = this.insert((old.state[oldSlot] & ODD) !== 0)
      this.state[slot] = old.state[oldSlot]
      this.ints.set(old.ints.subarray(from + 4, from + INTS), INTS * slot + 4)
      const conflict = old.conflicting.get(oldSlot)
      if (conflict) this.conflicting.set(slot, conflict)
      const oddId = old.oddIds.get(oldSlot)
      if (oddId !== undefined) {
        this.odd.set(oddId, slot)
        this.oddIds.set(slot, oddId)
      }
    }
  }
}

function bucketOf(h: number, buckets: number): number {
  // the high bits of the hash, scaled to [0, buckets): exact (below 2^53)
  return Math.floor(((h >>> 0) * buckets) / 4_294_967_296)
}

export function describeRequest(from: number, to: number, amount: number): string {
  return `from ${from} to ${to} amount ${amount}`
}
