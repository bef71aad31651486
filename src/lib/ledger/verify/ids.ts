/**
 * The run-log ids of one partition in flat typed arrays: an id is its 128 bits as
 * four 32-bit words, kept with its status and request in one 48-byte record, and
 * found through an open-addressing hash table of slot numbers. No string and no
 * object per id: a million ids are about 65 MB and cost the garbage collector nothing, and a stored transfer is looked up by the words read
 * from its bytes (binary COPY or text) without making a string. Strings are made
 * only for the ids a violation names.
 */
import {combineStatus, type IdStatus} from '../runlog.js'

/** the words of the last parseUuid / readUuid (one scratch array: no allocation per id) */
export const parsedId = new Int32Array(4)

/** the request (from, to, amount) flag: the attempt line was read */
export const REQUEST_KNOWN = 1
/** found in the transfers table */
export const STORED = 2

/** hex digit value per byte; 16 for every other byte (the flag parseUuid tests) */
const HEX = new Uint8Array(256).fill(16)
for (let d = 0; d < 10; d++) HEX[0x30 + d] = d
for (let d = 0; d < 6; d++) {
  HEX[0x61 + d] = 10 + d
  HEX[0x41 + d] = 10 + d
}

/** bits of the hex digits at chunk[at..at+n), OR-ing every digit's value into `seen` (16 flags a non-digit) */
let seen = 0
function hexDigits(chunk: Uint8Array, at: number, n: number, value: number): number {
  for (let i = 0; i < n; i++) {
    const v = HEX[chunk[at + i]]
    seen |= v
    value = (value << 4) | (v & 15)
  }
  return value
}

/**
 * Parses the 36-character UUID text at chunk[at] ("8-4-4-4-12" hex digits, either
 * case) into parsedId. False when it is not one.
 */
export function parseUuid(chunk: Uint8Array, at: number): boolean {
  if (chunk[at + 8] !== 0x2d || chunk[at + 13] !== 0x2d || chunk[at + 18] !== 0x2d || chunk[at + 23] !== 0x2d) return false
  seen = 0
  parsedId[0] = hexDigits(chunk, at, 8, 0)
  parsedId[1] = hexDigits(chunk, at + 14, 4, hexDigits(chunk, at + 9, 4, 0))
  parsedId[2] = hexDigits(chunk, at + 24, 4, hexDigits(chunk, at + 19, 4, 0))
  parsedId[3] = hexDigits(chunk, at + 28, 8, 0)
  return (seen & 16) === 0
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
  let h = Math.imul(w0 ^ 0x2545f491, 0x9e3779b1)
  h = Math.imul(h ^ w1 ^ (h >>> 15), 0x85ebca6b)
  h = Math.imul(h ^ w2 ^ (h >>> 13), 0xc2b2ae35)
  h = Math.imul(h ^ w3 ^ (h >>> 16), 0x27d4eb2f)
  return h ^ (h >>> 15)
}

/** the words of a slot's record: key (4), status and flags (1), unused (1), then from, to, amount as doubles */
const INTS = 12
const STATUS = 4

export class LoggedIds {
  /** ids held */
  size = 0
  /** a second, different request under the same id, as "from 1 to 2 amount 3" (rare: kept as text) */
  readonly conflicting = new Map<number, {id: string; other: string}>()
  /** one 48-byte record per slot (INTS words): an id's key, status, flags and request share a cache line or two */
  private ints: Int32Array
  private doubles: Float64Array
  /** two words per bucket: a fingerprint of the key (its last word) and slot + 1, 0 for an empty bucket (linear probing) */
  private table: Int32Array
  /** ids of a run log that are not UUIDs (a damaged line): never stored, kept by their text */
  private readonly odd = new Map<string, number>()
  private readonly oddIds = new Map<number, string>()

  /** expected: how many ids to make room for at first (it grows as needed) */
  constructor(expected = 1024) {
    const slots = Math.max(1024, Math.ceil(expected))
    this.ints = new Int32Array(INTS * slots)
    this.doubles = new Float64Array(this.ints.buffer)
    let buckets = 2048
    while (0.7 * buckets < slots) buckets *= 2
    this.table = new Int32Array(2 * buckets)
  }

  /** the slot of the id in parsedId, or -1 */
  find(): number {
    const w0 = parsedId[0]
    const w1 = parsedId[1]
    const w2 = parsedId[2]
    const w3 = parsedId[3]
    const table = this.table
    const mask = (table.length >> 1) - 1
    const ints = this.ints
    for (let b = hash(w0, w1, w2, w3) & mask; ; b = (b + 1) & mask) {
      const entry = table[2 * b + 1]
      if (entry === 0) return -1
      if (table[2 * b] !== w3) continue
      const k = INTS * (entry - 1)
      if (ints[k] === w0 && ints[k + 1] === w1 && ints[k + 2] === w2 && ints[k + 3] === w3) return entry - 1
    }
  }

  status(slot: number): IdStatus {
    return (this.ints[INTS * slot + STATUS] & 0xff) as IdStatus
  }

  /** whether a flag (REQUEST_KNOWN, STORED) is set */
  has(slot: number, flag: number): boolean {
    return ((this.ints[INTS * slot + STATUS] >> 8) & flag) !== 0
  }

  mark(slot: number, flag: number): void {
    this.ints[INTS * slot + STATUS] |= flag << 8
  }

  /** the request's from (0), to (1) or amount (2) as the client sent it */
  request(slot: number, field: 0 | 1 | 2): number {
    return this.doubles[(INTS / 2) * slot + 3 + field]
  }

  /** the text of the id in a slot */
  idOf(slot: number): string {
    const odd = this.oddIds.get(slot)
    if (odd !== undefined) return odd
    const k = INTS * slot
    return formatUuid(this.ints[k], this.ints[k + 1], this.ints[k + 2], this.ints[k + 3])
  }

  /** "from 1 to 2 amount 3" as the client sent it */
  describe(slot: number): string {
    return describeRequest(this.request(slot, 0), this.request(slot, 1), this.request(slot, 2))
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
      if (slot < 0) slot = this.insert()
    } else {
      const id = chunk.toString('latin1', idStart, idStart + 36).toLowerCase()
      const known = this.odd.get(id)
      if (known === undefined) {
        slot = this.newSlot()
        this.odd.set(id, slot)
        this.oddIds.set(slot, id)
      } else slot = known
    }
    const s = INTS * slot + STATUS
    const old = this.ints[s] & 0xff
    if (old !== status) this.ints[s] = (this.ints[s] & ~0xff) | (old === 0 ? status : combineStatus(old as IdStatus, status))
    if (!request) return
    const at = (INTS / 2) * slot + 3
    const doubles = this.doubles
    if (!this.has(slot, REQUEST_KNOWN)) {
      this.mark(slot, REQUEST_KNOWN)
      doubles[at] = request[0]
      doubles[at + 1] = request[1]
      doubles[at + 2] = request[2]
    } else if (request[0] !== doubles[at] || request[1] !== doubles[at + 1] || request[2] !== doubles[at + 2]) {
      if (!this.conflicting.has(slot)) this.conflicting.set(slot, {id: this.idOf(slot), other: describeRequest(request[0], request[1], request[2])})
    }
  }

  /** a new slot for the id in parsedId (not present) */
  private insert(): number {
    const slot = this.newSlot()
    const k = INTS * slot
    this.ints[k] = parsedId[0]
    this.ints[k + 1] = parsedId[1]
    this.ints[k + 2] = parsedId[2]
    this.ints[k + 3] = parsedId[3]
    if (this.size > 0.7 * (this.table.length >> 1)) this.rehash()
    else this.place(slot)
    return slot
  }

  private place(slot: number): void {
    const k = INTS * slot
    const ints = this.ints
    const mask = (this.table.length >> 1) - 1
    let b = hash(ints[k], ints[k + 1], ints[k + 2], ints[k + 3]) & mask
    while (this.table[2 * b + 1] !== 0) b = (b + 1) & mask
    this.table[2 * b] = ints[k + 3]
    this.table[2 * b + 1] = slot + 1
  }

  private rehash(): void {
    this.table = new Int32Array(2 * this.table.length)
    for (let slot = 0; slot < this.size; slot++) if (!this.oddIds.has(slot)) this.place(slot)
  }

  private newSlot(): number {
    const slot = this.size++
    if (INTS * this.size > this.ints.length) {
      const ints = new Int32Array(2 * this.ints.length)
      ints.set(this.ints)
      this.ints = ints
      this.doubles = new Float64Array(ints.buffer)
    }
    // a slot is used once: its record is still zero
    return slot
  }
}

export function describeRequest(from: number, to: number, amount: number): string {
  return `from ${from} to ${to} amount ${amount}`
}
