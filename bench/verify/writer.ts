/**
 * What the run log's trailer costs the workload: the production RunLogWriter (each write
 * encoded once and tallied, then written) against a bare writeSync of the same strings to
 * a file opened the same way, per transfer (an attempt line and an acknowledgement line,
 * written as the workload writes them: the outcome of one transfer with the next attempt).
 * Rounds alternate; CPU time of this process. Reports, never asserts.
 *
 *   node --import tsx bench/verify/writer.ts   (BENCH_TRANSFERS, default 200000; BENCH_ROUNDS, default 7)
 */
import {randomInt, randomUUID} from 'node:crypto'
import {closeSync, fsyncSync, openSync, writeSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {RunLogWriter} from '../../src/lib/ledger/runlog-writer.js'
import {attemptLine, outcomeLine} from '../../src/lib/ledger/runlog.js'

const transfers = Number(process.env.BENCH_TRANSFERS ?? 200_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 7)
const tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-bench-writer-'))
try {
  const at = Date.now()
  // the strings the workload hands the writer, made before the clock starts (their making is the workload's either way)
  const writes: string[] = []
  let pending = ''
  for (let i = 0; i < transfers; i++) {
    const request = {
      id: randomUUID(),
      from: randomInt(1, 1001),
      to: randomInt(1, 1001),
      amount: randomInt(1, 101),
      originRegion: 'us',
    }
    writes.push(pending + attemptLine(request, at + i))
    pending = outcomeLine(request.id, 'applied', undefined, at + i)
  }

  writes.push(pending)
  const cpu = (f: () => void) => {
    const before = process.cpuUsage()
    f()
    const used = process.cpuUsage(before)
    return (used.user + used.system) / 1000 / transfers
  }

  const bare: number[] = []
  const production: number[] = []
  for (let round = 0; round < rounds; round++) {
    const dir = path.join(tmp, `round-${round}`)
    bare.push(
      cpu(() => {
        const fd = openSync(path.join(tmp, `bare-${round}.log`), 'a')
        for (const text of writes) writeSync(fd, text)
        fsyncSync(fd)
        closeSync(fd)
      }),
    )
    production.push(
      cpu(() => {
        const log = new RunLogWriter(dir)
        for (const text of writes) log.lines(text)
        log.close()
      }),
    )
    await rm(dir, {recursive: true})
    await rm(path.join(tmp, `bare-${round}.log`))
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const us = (ms: number) => (ms * 1000).toFixed(2)
  console.log(
    `${transfers} transfers, ${rounds} rounds, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' ',
      )}: CPU per transfer, bare writeSync ${us(median(bare))} µs (${bare.map(us).join(' ')}), RunLogWriter with its tally ${us(median(production))} µs (${production.map(us).join(' ')}): +${us(median(production) - median(bare))} µs`,
  )
} finally {
  await rm(tmp, {recursive: true, force: true})
}
