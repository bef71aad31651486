import {expect} from 'chai'
import {randomUUID} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {TransferRequest} from '../../../src/lib/ledger/transfer.js'

import {attemptLine, outcomeLine} from '../../../src/lib/ledger/runlog.js'
import {
  digestRunLogs,
  hashed,
  hashInt8Extended,
  hashRequest,
  hashUuidText,
  idHashed,
  Sum64,
  transferHash,
  uuidHashExtended,
} from '../../../src/lib/ledger/verify/digest.js'
import {parsedId, parseUuid} from '../../../src/lib/ledger/verify/ids.js'
import {parsedRequest, READ_BUFFER} from '../../../src/lib/ledger/verify/runlog-scan.js'

/** the last hash as PostgreSQL prints an int8 */
const asInt8 = () => BigInt.asIntN(64, (BigInt(hashed[0]) << 32n) | BigInt(hashed[1])).toString()

function words(id: string): [number, number, number, number] {
  expect(parseUuid(Buffer.from(id), 0), id).to.equal(true)
  return [parsedId[0], parsedId[1], parsedId[2], parsedId[3]]
}

describe('verify digests (unit)', () => {
  let tmp: string

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-digest-test-'))
  })

  after(async () => {
    await rm(tmp, {recursive: true, force: true})
  })

  // the values PostgreSQL 15 returns for the same calls (SELECT uuid_hash_extended(...)::text, ...)
  it('hashes as PostgreSQL does: uuid_hash_extended(id, 0), hashint8extended(v, seed), and the chain of a transfer', () => {
    uuidHashExtended(...words('00000000-0000-0000-0000-000000000000'))
    expect(asInt8()).to.equal('-6859010066814654381')
    // either case: the id's 128 bits are hashed, not its text
    uuidHashExtended(...words('F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6'))
    expect(asInt8()).to.equal('-8121286964791061212')
    hashed.fill(0)
    hashInt8Extended(-1)
    expect(asInt8()).to.equal('-1888257769727981238')
    hashed.fill(0)
    hashInt8Extended(1_099_511_627_779)
    expect(asInt8()).to.equal('3923460070391629704')
    // seed 12345678901234 = 0x00000B3A73CE2FF2
    hashed[0] = 0xb_3a
    hashed[1] = 0x73_ce_2f_f2
    hashInt8Extended(-34_359_738_373)
    expect(asInt8()).to.equal('-5028894509026403651')
    // hashint8extended(5, hashint8extended(7, hashint8extended(3, uuid_hash_extended(id, 0))))
    words('f81d4fae-7dec-11d0-a765-00a0c91e6bf6')
    transferHash(3, 7, 5)
    expect(asInt8()).to.equal('-4151108110294402276')
    // the fused path: the id parsed and hashed in one step, then the three in one loop
    hashed.fill(0)
    expect(hashUuidText(Buffer.from('f81d4fae-7dec-11d0-a765-00a0c91e6bf6'), 0)).to.equal(true)
    expect(BigInt.asIntN(64, (BigInt(idHashed[0]) << 32n) | BigInt(idHashed[1])).toString()).to.equal(
      '-8121286964791061212',
    )
    parsedRequest.set([3, 7, 5])
    hashRequest()
    expect(asInt8()).to.equal('-4151108110294402276')
  })

  /** integers at the edges of the 32-bit halves hashint8extended splits a value into, and of exact doubles */
  const EDGES = [
    0,
    1,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 32 + 1,
    2 ** 53 - 1,
    -1,
    -(2 ** 31),
    -(2 ** 32),
    -(2 ** 32) - 1,
    -(2 ** 53 - 1),
  ]

  it('the fused hash (hashUuidText, hashRequest) equals uuid_hash_extended and three hashint8extended one by one, at the edge values', () => {
    const ids = [
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      randomUUID(),
      randomUUID(),
    ]
    let compared = 0
    for (const id of ids) {
      const w = words(id)
      uuidHashExtended(...w)
      const idHash = [hashed[0], hashed[1]]
      for (const from of EDGES)
        for (const to of EDGES)
          for (const amount of EDGES) {
            words(id)
            transferHash(from, to, amount)
            const unfused = [hashed[0], hashed[1]]
            hashed.fill(0)
            expect(hashUuidText(Buffer.from(id.toUpperCase()), 0), id).to.equal(true)
            expect([idHashed[0], idHashed[1]], id).to.deep.equal(idHash)
            parsedRequest.set([from, to, amount])
            hashRequest()
            expect([hashed[0], hashed[1]], `${id} ${from} ${to} ${amount}`).to.deep.equal(unfused)
            compared++
          }
    }

    expect(compared).to.equal(ids.length * EDGES.length ** 3)
  })

  it('the fused hash takes a zero seed as hashint8extended does (nothing mixed in before the key)', () => {
    for (const [from, to, amount] of [
      [0, 0, 0],
      [1, 2, 3],
      [2 ** 32, 2 ** 31, 2 ** 53 - 1],
    ]) {
      hashed.fill(0)
      hashInt8Extended(from)
      hashInt8Extended(to)
      hashInt8Extended(amount)
      const unfused = [hashed[0], hashed[1]]
      idHashed.fill(0)
      parsedRequest.set([from, to, amount])
      hashRequest()
      expect([hashed[0], hashed[1]], `${from} ${to} ${amount}`).to.deep.equal(unfused)
    }
  })

  it('sums 64-bit values modulo 2^64 in two halves', () => {
    const sum = new Sum64()
    sum.add(0xff_ff_ff_ff, 0xff_ff_ff_ff)
    sum.add(0, 2)
    expect(sum.value()).to.equal(1n)
    const other = new Sum64()
    other.add(0, 1)
    expect(sum.equals(other)).to.equal(true)
  })

  it('adds the last hash (addHashed) as add() does, the carry of the low half included', () => {
    const byArguments = new Sum64()
    const fromHashed = new Sum64()
    for (const [hi, lo] of [
      [0xff_ff_ff_ff, 0xff_ff_ff_ff],
      [0x80_00_00_00, 0x80_00_00_01],
      [0x7f_ff_ff_ff, 0x7f_ff_ff_ff],
      [1, 0],
    ]) {
      byArguments.add(hi, lo)
      hashed[0] = hi
      hashed[1] = lo
      fromHashed.addHashed()
    }

    // 0x80000000 + 0x7fffffff + 0xffffffff + 1 + carries 2, 0xffffffff + 0x80000001 + 0x7fffffff
    expect(fromHashed.value()).to.equal(byArguments.value())
    expect(fromHashed.value()).to.equal(
      BigInt.asUintN(
        64,
        0xff_ff_ff_ff_ff_ff_ff_ffn + 0x80_00_00_00_80_00_00_01n + 0x7f_ff_ff_ff_7f_ff_ff_ffn + 0x1_00_00_00_00n,
      ),
    )
  })

  it('parses a UUID from its text in either case (two digits per lookup), and refuses any other byte at any digit or dash (parseUuid, and hashUuidText as it)', () => {
    for (let i = 0; i < 50; i++) {
      const id = randomUUID()
      expect(words(id)).to.deep.equal(words(id.toUpperCase()))
      uuidHashExtended(...words(id))
      for (const text of [id, id.toUpperCase()]) {
        expect(hashUuidText(Buffer.from(text), 0), text).to.equal(true)
        expect([idHashed[0], idHashed[1]], text).to.deep.equal([hashed[0], hashed[1]])
      }

      const hex = id.replaceAll('-', '')
      expect(
        words(id)
          .map((w) => (w >>> 0).toString(16).padStart(8, '0'))
          .join(''),
      ).to.equal(hex)
    }

    const id = 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6'
    for (let at = 0; at < 36; at++) {
      // bytes next to the ranges of the digits ('/', ':', '@', 'G', '`', 'g'), a space, a newline and a dash or digit swapped
      const others = [0x2f, 0x3a, 0x40, 0x47, 0x60, 0x67, 0x20, 0x0a, id[at] === '-' ? 0x30 : 0x2d]
      for (const byte of others) {
        const text = Buffer.from(id)
        text[at] = byte
        expect(parseUuid(text, 0), `${byte} at ${at}`).to.equal(false)
        expect(hashUuidText(text, 0), `${byte} at ${at}`).to.equal(false)
      }
    }

    // the id at an offset, the buffer ending with it
    for (const parse of [parseUuid, hashUuidText]) {
      expect(parse(Buffer.from(`attempt\t${id}`), 8), parse.name).to.equal(true)
      expect(parse(Buffer.from(`attempt\t${id.slice(0, 35)}`), 8), parse.name).to.equal(false)
      expect(parse(Buffer.from(`attempt\t${id.slice(0, 34)}`), 8), parse.name).to.equal(false)
    }
  })

  /** a run log of n requests, each attempted and applied */
  function plainLog(n: number): {lines: string[]; requests: TransferRequest[]} {
    const requests = Array.from({length: n}, (_, i) => ({
      id: randomUUID(),
      from: 1 + (i % 7),
      to: 8 + (i % 5),
      amount: 1 + i * 13,
      originRegion: 'us',
    }))
    const lines = requests.flatMap((r) => [attemptLine(r), outcomeLine(r.id, 'applied')])
    return {lines, requests}
  }

  async function digestOf(name: string, text: string) {
    const file = path.join(tmp, name)
    await writeFile(file, text)
    return digestRunLogs([file])
  }

  it('a plain run log: the count and the hash sum of its requests, across read buffers and without a last newline', async () => {
    // ~115 bytes per request: more than two read buffers
    const n = Math.ceil((2.5 * READ_BUFFER) / 115)
    const {lines, requests} = plainLog(n)
    const digest = await digestOf('plain.log', `# start {"x":1}\n${lines.join('').replace(/\n$/, '')}`)
    const expected = new Sum64()
    for (const r of requests) {
      words(r.id)
      transferHash(r.from, r.to, r.amount)
      expected.add(hashed[0], hashed[1])
    }

    expect(digest).to.deep.include({plain: true, attempted: n})
    expect(digest.plain && digest.requests.value()).to.equal(expected.value())
  })

  it('the attempt and the outcome may be in different files, an id in either case, acknowledged as already_applied', async () => {
    const {requests} = plainLog(3)
    const a = path.join(tmp, 'split-a.log')
    const b = path.join(tmp, 'split-b.log')
    await writeFile(a, requests.map((r) => attemptLine(r)).join(''))
    await writeFile(
      b,
      outcomeLine(requests[0].id.toUpperCase(), 'applied') +
        outcomeLine(requests[1].id, 'already_applied') +
        outcomeLine(requests[2].id, 'applied'),
    )
    expect(await digestRunLogs([a, b])).to.deep.include({plain: true, attempted: 3})
  })

  it('anything but attempts acknowledged once is not plain (the per-row join decides then)', async () => {
    const {lines, requests} = plainLog(4)
    const base = lines.join('')
    const cases: Array<[string, string, RegExp]> = [
      ['unknown', base + outcomeLine(requests[1].id, 'unknown', 'connection reset'), /other than acknowledgements/],
      ['failed', base + outcomeLine(requests[2].id, 'failed'), /other than acknowledgements/],
      ['rejected', base + outcomeLine(requests[2].id, 'rejected', 'insufficient funds'), /other than acknowledgements/],
      ['sent', base + outcomeLine(randomUUID(), 'sent'), /other than acknowledgements/],
      ['attempt only', base + attemptLine({...requests[0], id: randomUUID()}), /not exactly the acknowledged/],
      ['acknowledged twice', base + outcomeLine(requests[3].id, 'already_applied'), /not exactly the acknowledged/],
      ['another id acknowledged', lines.slice(0, -1).join('') + outcomeLine(randomUUID(), 'applied'), /not exactly/],
      ['damaged id', base + 'applied\tzzzzzzzz-not-a-uuid-but-36-chars-xyz\t1\n', /not a UUID/],
      ['no request', base + `attempt\t${randomUUID()}\tx\ty\tz\t1\n`, /without a readable request/],
      // the workload writes the time after the amount: a line ending at the amount is left to the join
      ['no time', base + `attempt\t${randomUUID()}\t1\t2\t3\n`, /without a readable request/],
    ]
    for (const [name, text, reason] of cases) {
      const digest = await digestOf(`${name}.log`, text)
      expect(digest.plain, name).to.equal(false)
      expect(!digest.plain && digest.reason, name).to.match(reason)
    }
  })

  it('comments, unknown words and short lines are skipped as the join skips them', async () => {
    const {lines} = plainLog(2)
    const digest = await digestOf('noise.log', `# note\nnoise\tline\napplied\tshort\n\n${lines.join('')}`)
    expect(digest).to.deep.include({plain: true, attempted: 2})
  })
})
