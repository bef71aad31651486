import {expect} from 'chai'
import {randomInt, randomUUID} from 'node:crypto'
import {appendFile, mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {TransferRequest} from '../../../src/lib/ledger/transfer.js'

import {RunLogWriter} from '../../../src/lib/ledger/runlog-writer.js'
import {attemptLine, outcomeLine, RUN_LOG_FILE} from '../../../src/lib/ledger/runlog.js'
import {digestRunLogs, type RunLogDigest, TRAILER_KIND} from '../../../src/lib/ledger/verify/digest.js'

type Digest = Awaited<ReturnType<typeof digestRunLogs>>

/** the verdict of a digest without how its bytes were come by */
function verdict(digest: Digest) {
  const {bytesFromTrailers: _t, bytesRead: _r, ...rest} = digest
  return rest.plain ? {...rest, requests: rest.requests.value()} : rest
}

describe("run-log trailers: the writer's own digest (unit)", () => {
  let tmp: string
  let dirs = 0

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-trailer-test-'))
  })

  after(async () => {
    await rm(tmp, {recursive: true, force: true})
  })

  const newDir = () => path.join(tmp, `run-${++dirs}`)

  function request(): TransferRequest {
    return {
      id: randomUUID(),
      from: randomInt(1, 1000),
      to: randomInt(1, 1000),
      amount: randomInt(1, 10_000),
      originRegion: 'us',
    }
  }

  /**
   * Writes a random run through the writer as the workload does (an outcome and the next attempt in one write, a
   * comment now and then); `mix` adds outcomes other than acknowledgements at that rate. Leaves it open when `close`
   * is false (a killed writer).
   */
  function writeRun(dir: string, n: number, mix = 0, close = true): RunLogWriter {
    const log = new RunLogWriter(dir)
    log.comment('start', {startedAt: new Date().toISOString(), n})
    let pending = ''
    for (let i = 0; i < n; i++) {
      const r = request()
      log.lines(pending + attemptLine(r))
      const roll = Math.random()
      if (roll < mix / 4) pending = outcomeLine(r.id, 'failed', 'retries exhausted\twith a tab')
      else if (roll < mix / 2) pending = outcomeLine(r.id, 'unknown', 'connection reset')
      else if (roll < (3 * mix) / 4) pending = outcomeLine(r.id, 'rejected', 'insufficient funds')
      else if (roll < mix) pending = outcomeLine(r.id, 'sent')
      else pending = outcomeLine(r.id, Math.random() < 0.1 ? 'already_applied' : 'applied')
      if (i % 97 === 0) {
        log.lines(pending)
        pending = ''
        log.comment('progress', {i, note: 'ünïcödé'})
      }
    }

    log.lines(pending)
    log.comment('end', {endedAt: new Date().toISOString()})
    if (close) log.close()
    return log
  }

  /** digestRunLogs with the trailers and by reading every line agree; returns both */
  async function bothWays(files: string[]): Promise<{read: RunLogDigest; trailers: RunLogDigest}> {
    const trailers = await digestRunLogs(files)
    const read = await digestRunLogs(files, undefined, {trailers: false})
    expect(verdict(trailers)).to.deep.equal(verdict(read))
    expect(read.bytesFromTrailers).to.equal(0)
    let size = 0
    for (const file of files) size += (await stat(file)).size
    // reading stops at the first line that is not plain
    if (read.plain) expect(read.bytesRead).to.equal(size)
    else expect(read.bytesRead).to.be.at.most(size)
    return {trailers, read}
  }

  it('the trailer of random runs (plain, with failures, unknown, rejected, queued) is what reading every line tallies', async () => {
    for (const [n, mix] of [
      [0, 0],
      [1, 0],
      [500, 0],
      [20_000, 0],
      [300, 0.01],
      [300, 0.3],
      [3000, 0.002],
    ]) {
      const log = writeRun(newDir(), n, mix)
      const {trailers} = await bothWays([log.file])
      // nothing read: the trailer holds the whole file (a non-plain one stops there too)
      expect(trailers.bytesRead, `${n}, ${mix}`).to.equal(0)
      expect(trailers.bytesFromTrailers).to.equal((await stat(log.file)).size)
      const last = (await readFile(log.file, 'utf8')).trimEnd().split('\n').at(-1)!
      expect(last.startsWith(`# ${TRAILER_KIND} {`)).to.equal(true)
    }
  })

  it('several files, in any order, one without a trailer: the same tally and the same first reason', async () => {
    for (let round = 0; round < 5; round++) {
      const files = [
        writeRun(newDir(), 400, 0).file,
        writeRun(newDir(), 300, round % 2 ? 0.05 : 0).file,
        writeRun(newDir(), 200, 0, false).file,
        writeRun(newDir(), 100, round === 4 ? 0.5 : 0).file,
      ]
      const order = [...files].sort(() => Math.random() - 0.5)
      await bothWays(order)
    }

    // the attempts in one file, the acknowledgements in another (a split run): plain across files
    const attempts = new RunLogWriter(newDir())
    const acks = new RunLogWriter(newDir())
    for (let i = 0; i < 50; i++) {
      const r = request()
      attempts.attempt(r)
      acks.outcome(r.id, 'applied')
    }

    attempts.close()
    acks.close()
    const {trailers} = await bothWays([attempts.file, acks.file])
    expect(trailers).to.deep.include({plain: true, attempted: 50, bytesRead: 0})
  })

  it('a run log appended to by several runs: each closed run is taken from its trailer, the rest is read', async () => {
    const dir = newDir()
    const file = path.join(dir, RUN_LOG_FILE)
    writeRun(dir, 300)
    const first = (await stat(file)).size
    writeRun(dir, 200)
    // both trailers chain back to the start of the file
    expect((await bothWays([file])).trailers).to.deep.include({
      bytesRead: 0,
      bytesFromTrailers: (await stat(file)).size,
    })
    // a killed run after them, then a closed one: the killed one's lines are read, with everything before them
    writeRun(dir, 100, 0, false)
    const beforeLast = (await stat(file)).size
    writeRun(dir, 50)
    const mixed = await bothWays([file])
    expect(mixed.trailers.bytesRead).to.equal(beforeLast)
    expect(mixed.trailers.bytesFromTrailers).to.equal((await stat(file)).size - beforeLast)
    // a killed run first, a closed one after it: the first run's lines are read, the second's taken
    const other = newDir()
    writeRun(other, 80, 0.1, false)
    const killed = (await stat(path.join(other, RUN_LOG_FILE))).size
    writeRun(other, 80)
    expect((await bothWays([path.join(other, RUN_LOG_FILE)])).trailers.bytesRead).to.equal(killed)
    expect(first).to.be.greaterThan(0)
  })

  it('bytes after the trailer, a truncated log, no trailer, a damaged trailer, a trailer after a cut line: every line is read', async () => {
    const cases: Array<[string, (file: string, text: string) => Promise<void>]> = [
      ['bytes appended', (file) => appendFile(file, outcomeLine(randomUUID(), 'applied'))],
      ['a comment appended', (file) => appendFile(file, '# note\n')],
      ['an attempt appended', (file) => appendFile(file, attemptLine(request()))],
      ['truncated by one byte', async (file, text) => truncate(file, text.length - 1)],
      ['truncated before the trailer', async (file, text) => truncate(file, text.trimEnd().lastIndexOf('\n') + 1)],
      ['cut in the middle', async (file, text) => truncate(file, Math.floor(text.length / 2))],
      [
        'a line removed (the trailer kept)',
        async (file, text) => {
          const lines = text.split('\n')
          lines.splice(5, 1)
          await writeFile(file, lines.join('\n'))
        },
      ],
      [
        'a count in the trailer changed',
        (file, text) =>
          writeFile(
            file,
            text.replace(/"attempted":(\d+)/, (_, n) => `"attempted":${Number(n) + 1}`),
          ),
      ],
      [
        'a sum in the trailer changed',
        (file, text) =>
          writeFile(
            file,
            text.replace(/"requests":"(\d+)"/, (_, n) => `"requests":"${BigInt(n) + 1n}"`),
          ),
      ],
      [
        'the reason dropped from the trailer',
        (file, text) => writeFile(file, text.replace(/"notPlain":"[^"]*"/, '"notPlain":null')),
      ],
      ['the trailer cut short', (file, text) => writeFile(file, `${text.slice(0, -20)}\n`)],
      ['the trailer not JSON', (file, text) => writeFile(file, text.replace(/# digest \{/, '# digest {{'))],
      ['the trailer without its newline', (file, text) => writeFile(file, text.slice(0, -1))],
      ['no trailer: the writer was killed', async () => {}],
    ]
    for (const [name, damage] of cases) {
      for (const mix of [0, 0.1]) {
        const log = writeRun(newDir(), 200, mix, name !== 'no trailer: the writer was killed')
        const text = await readFile(log.file, 'utf8')
        await damage(log.file, text)
        // (a run without a reason has none to drop)
        if (name === 'the reason dropped from the trailer' && mix === 0) continue
        const {trailers} = await bothWays([log.file])
        expect(trailers.bytesFromTrailers, name).to.equal(0)
      }
    }

    // a file whose last line had no newline when a writer appended: its first line is glued to that one, and
    // the trailer, whose lines do not start a line of the file, is not taken
    const dir = newDir()
    const r = request()
    await mkdir(dir)
    await writeFile(path.join(dir, RUN_LOG_FILE), attemptLine(r).slice(0, 20))
    const glued = writeRun(dir, 30)
    const {trailers} = await bothWays([glued.file])
    expect(trailers.bytesFromTrailers).to.equal(0)
  })

  it('two writers appending to one log at once: neither writes a trailer, and reading decides', async () => {
    const dir = newDir()
    const a = new RunLogWriter(dir)
    const b = new RunLogWriter(dir)
    for (let i = 0; i < 20; i++) {
      const r = request()
      a.attempt(r)
      b.outcome(r.id, 'applied')
    }

    a.close()
    b.close()
    const text = await readFile(a.file, 'utf8')
    expect(text).to.not.include(`# ${TRAILER_KIND} `)
    expect((await bothWays([a.file])).trailers).to.deep.include({plain: true, attempted: 20, bytesFromTrailers: 0})
  })

  it('the trailer is the writer\'s own: a "digest" comment is refused', () => {
    const log = new RunLogWriter(newDir())
    expect(() => log.comment(TRAILER_KIND, {attempted: 0})).to.throw(/trailer/)
    log.close()
  })
})
