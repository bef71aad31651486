/**
 * `verify --ledger-balance` over 1,000,000 transfers against a bare SQL aggregate
 * over the same tables (the one query a person would write to check conservation
 * and replay), on one throwaway PostgreSQL. Verify runs in a child process so its
 * peak RSS is measured alone, from the built code (dist/) under plain node, as
 * `atlas verify` runs it. Goals: wall time <= 1.5x the aggregate (<= 2x with a run
 * log of every transfer), peak RSS <= 200 MB. Reports, never asserts.
 *
 * The run log is written by the workload's own RunLogWriter, so it ends with the
 * writer's trailer (its digest, which verify takes instead of reading the lines); the
 * same log without the trailer (as a killed writer leaves it: every line read) is timed
 * too, in the same rounds.
 *
 *   npm run build && node --import tsx bench/verify/run.ts   (BENCH_TRANSFERS, BENCH_ACCOUNTS, BENCH_ROUNDS)
 *
 * BENCH_COMPARE=<another checkout, built>: its verify too (without and with the run
 * log) in each round, on the same server, for a before/after in one sitting.
 * BENCH_CPU_PROF=<dir>: after the timed rounds, one more verify with the run log
 * under `node --cpu-prof` (written to <dir>), and its top functions by self time.
 */
import {execFile} from 'node:child_process'
import {copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, truncate} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {connectLedger} from '../../src/lib/ledger/db.js'
import {RunLogWriter} from '../../src/lib/ledger/runlog-writer.js'
import {attemptLine, outcomeLine, RUN_LOG_FILE} from '../../src/lib/ledger/runlog.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import {startPostgres} from '../../test/helpers/postgres.js'
import {seedRandomTransfers} from '../helpers/seed.js'

const transfers = Number(process.env.BENCH_TRANSFERS ?? 1_000_000)
const accounts = Number(process.env.BENCH_ACCOUNTS ?? 1000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const profileDir = process.env.BENCH_CPU_PROF
const here = path.dirname(new URL(import.meta.url).pathname)
const dist = await builtCode(path.resolve(here, '..', '..'))
const compareDist = process.env.BENCH_COMPARE ? await builtCode(path.resolve(process.env.BENCH_COMPARE)) : undefined

/** the dist/ of a checkout, refused when a source file is newer than its build (the bench would time old code) */
async function builtCode(checkout: string): Promise<string> {
  const built = path.join(checkout, 'dist', 'lib', 'ledger', 'verify', 'index.js')
  const builtAt = await stat(built).then(
    (s) => s.mtimeMs,
    () => 0,
  )
  const sources = await readdir(path.join(checkout, 'src'), {recursive: true})
  for (const file of sources.filter((f) => f.endsWith('.ts'))) {
    if ((await stat(path.join(checkout, 'src', file))).mtimeMs > builtAt)
      throw new Error(
        `${checkout}: src/${file} is newer than dist/ (or there is no build): run npm run build there first`,
      )
  }

  return path.join(checkout, 'dist')
}

/** The bare aggregate: conservation and replay of every account in one statement. */
const BARE_AGGREGATE = `SELECT sum(a.balance) AS total,
  count(*) FILTER (WHERE a.balance <> a.opening_balance + coalesce(i.total, 0) - coalesce(o.total, 0)) AS mismatches
FROM accounts a
LEFT JOIN (SELECT to_account AS account, sum(amount) AS total FROM transfers GROUP BY to_account) i ON i.account = a.id
LEFT JOIN (SELECT from_account AS account, sum(amount) AS total FROM transfers GROUP BY from_account) o ON o.account = a.id`

function child(
  args: string[],
  nodeOptions: string[] = [],
  env: Record<string, string> = {},
  build = dist,
): Promise<{cpuSeconds: number; maxRssMB: number; ok: boolean; seconds: number; transfers: number}> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeOptions, path.join(here, 'child.mjs'), build, ...args],
      {maxBuffer: 1 << 20, env: {...process.env, ...env}},
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`))
        else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!))
      },
    )
  })
}

const pg = await startPostgres({settings: {shared_buffers: '256MB', work_mem: '64MB', max_wal_size: '2GB'}})
const tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-bench-verify-'))
try {
  const sql = await connectLedger(pg.url, {max: 2})
  await initLedger(sql, {accounts, openingBalance: 100_000_000, allowNegativeBalances: false})
  let t = performance.now()
  await seedRandomTransfers(sql, accounts, transfers)
  await sql.unsafe('VACUUM ANALYZE accounts')
  await sql.unsafe('VACUUM ANALYZE transfers')
  const setupSeconds = (performance.now() - t) / 1000

  // a run log that acknowledges every stored transfer, written by the workload's writer (one write per transfer: its
  // attempt line and its acknowledgement, with 13-digit times), so it ends with the writer's trailer
  const runDir = path.join(tmp, 'run')
  const log = new RunLogWriter(runDir)
  log.comment('start', {startedAt: new Date().toISOString()})
  let last = '00000000-0000-0000-0000-000000000000'
  for (;;) {
    const page = await sql.unsafe(
      'SELECT id, from_account, to_account, amount FROM transfers WHERE id > $1 ORDER BY id LIMIT 50000',
      [last],
    )
    if (page.length === 0) break
    const at = Date.now()
    for (const r of page) {
      const request = {
        id: r.id as string,
        from: Number(r.from_account),
        to: Number(r.to_account),
        amount: Number(r.amount),
        originRegion: 'us',
      }
      log.lines(attemptLine(request, at) + outcomeLine(request.id, 'applied', undefined, at))
    }

    last = page[page.length - 1].id
  }

  log.comment('end', {endedAt: new Date().toISOString()})
  log.close()
  // the same log without its trailer, as a writer killed before closing leaves it: verify reads every line. Only
  // its tail is read here: a child's peak RSS counts this process's RSS when it was forked
  const {size} = await stat(log.file)
  const tail = Buffer.alloc(Math.min(size, 4096))
  const handle = await open(log.file, 'r')
  await handle.read(tail, 0, tail.length, size - tail.length)
  await handle.close()
  const trailerAt = size - tail.length + tail.lastIndexOf(10, tail.length - 2) + 1
  if (
    !tail
      .subarray(trailerAt - (size - tail.length))
      .toString()
      .startsWith('# digest {')
  )
    throw new Error('the writer wrote no trailer')
  const bareRunDir = path.join(tmp, 'run-without-trailer')
  await mkdir(bareRunDir)
  await copyFile(log.file, path.join(bareRunDir, RUN_LOG_FILE))
  await truncate(path.join(bareRunDir, RUN_LOG_FILE), trailerAt)

  const rows: Array<{
    aggregate: number
    compared?: {verify: number; verifyRss: number; verifyWithLog: number; verifyWithLogRss: number}
    round: number
    verify: number
    verifyRss: number
    verifyWithLog: number
    verifyWithLogCpu: number
    verifyWithLogJoin: number
    verifyWithLogJoinRss: number
    verifyWithLogRss: number
    verifyWithoutTrailer: number
    verifyWithoutTrailerCpu: number
    verifyWithoutTrailerRss: number
  }> = []
  await sql.unsafe(BARE_AGGREGATE) // warm the cache for everyone
  for (let round = 0; round < rounds; round++) {
    t = performance.now()
    const [agg] = await sql.unsafe(BARE_AGGREGATE)
    const aggregate = (performance.now() - t) / 1000
    if (Number(agg.mismatches) !== 0) throw new Error('set-up is inconsistent')
    const plain = await child([pg.url])
    const withLog = await child([pg.url, runDir])
    const withoutTrailer = await child([pg.url, bareRunDir])
    // the same check with the per-row join forced (what a run log with any failed or unknown outcome costs)
    const withLogJoin = await child([pg.url, runDir], [], {PER_ROW_JOIN: '1'})
    if (!plain.ok || !withLog.ok || !withoutTrailer.ok || !withLogJoin.ok || plain.transfers !== transfers)
      throw new Error(
        `verify disagrees with the set-up: ${JSON.stringify({plain, withLog, withoutTrailer, withLogJoin})}`,
      )
    let compared: (typeof rows)[number]['compared']
    if (compareDist) {
      const comparedPlain = await child([pg.url], [], {}, compareDist)
      const comparedWithLog = await child([pg.url, runDir], [], {}, compareDist)
      if (!comparedPlain.ok || !comparedWithLog.ok)
        throw new Error(`the compared verify disagrees: ${JSON.stringify({comparedPlain, comparedWithLog})}`)
      compared = {
        verify: comparedPlain.seconds,
        verifyRss: comparedPlain.maxRssMB,
        verifyWithLog: comparedWithLog.seconds,
        verifyWithLogRss: comparedWithLog.maxRssMB,
      }
    }

    rows.push({
      round,
      aggregate,
      verify: plain.seconds,
      verifyRss: plain.maxRssMB,
      verifyWithLog: withLog.seconds,
      verifyWithLogRss: withLog.maxRssMB,
      verifyWithLogCpu: withLog.cpuSeconds,
      verifyWithoutTrailer: withoutTrailer.seconds,
      verifyWithoutTrailerRss: withoutTrailer.maxRssMB,
      verifyWithoutTrailerCpu: withoutTrailer.cpuSeconds,
      verifyWithLogJoin: withLogJoin.seconds,
      verifyWithLogJoinRss: withLogJoin.maxRssMB,
      compared,
    })
  }

  await sql.end({timeout: 1})
  if (profileDir) {
    await mkdir(profileDir, {recursive: true})
    const before = new Set(await readdir(profileDir))
    const profiled = await child([pg.url, runDir], ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])
    const file = (await readdir(profileDir)).find((f) => f.endsWith('.cpuprofile') && !before.has(f))
    console.log(
      `profiled verify with run log: ${profiled.seconds} s; ${file ? path.join(profileDir, file) : 'no profile written'}`,
    )
    if (file) for (const line of await topFunctions(path.join(profileDir, file))) console.log(`  ${line}`)
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const agg = median(rows.map((r) => r.aggregate))
  const v = median(rows.map((r) => r.verify))
  const vl = median(rows.map((r) => r.verifyWithLog))
  const vj = median(rows.map((r) => r.verifyWithLogJoin))
  const vn = median(rows.map((r) => r.verifyWithoutTrailer))
  console.log(
    `${transfers} transfers, ${accounts} accounts (set-up ${setupSeconds.toFixed(1)} s), ${rounds} rounds, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  )
  for (const r of rows) {
    console.log(
      `  round ${r.round}: bare aggregate ${r.aggregate.toFixed(3)} s | verify ${r.verify.toFixed(3)} s, ${r.verifyRss} MB | verify + run log of ${transfers} ids ${r.verifyWithLog.toFixed(3)} s (client CPU ${r.verifyWithLogCpu.toFixed(3)} s), ${r.verifyWithLogRss} MB | the same without the trailer ${r.verifyWithoutTrailer.toFixed(3)} s (client CPU ${r.verifyWithoutTrailerCpu.toFixed(3)} s), ${r.verifyWithoutTrailerRss} MB | the same, per-row join forced ${r.verifyWithLogJoin.toFixed(3)} s, ${r.verifyWithLogJoinRss} MB${r.compared ? ` | compared build: verify ${r.compared.verify.toFixed(3)} s, ${r.compared.verifyRss} MB, with the run log ${r.compared.verifyWithLog.toFixed(3)} s, ${r.compared.verifyWithLogRss} MB` : ''}`,
    )
  }

  const comparedRows = rows.flatMap((r) => (r.compared ? [r.compared] : []))
  if (comparedRows.length > 0) {
    console.log(
      `median, compared build (${process.env.BENCH_COMPARE}): verify / aggregate = ${(median(comparedRows.map((r) => r.verify)) / agg).toFixed(2)}x; with run log / aggregate = ${(median(comparedRows.map((r) => r.verifyWithLog)) / agg).toFixed(2)}x; peak RSS ${Math.max(...comparedRows.map((r) => r.verifyRss))} MB / ${Math.max(...comparedRows.map((r) => r.verifyWithLogRss))} MB`,
    )
  }

  console.log(
    `median: verify / aggregate = ${(v / agg).toFixed(2)}x (goal <= 1.5x); verify with run log / aggregate = ${(vl / agg).toFixed(2)}x (goal <= 2x), without its trailer ${(vn / agg).toFixed(2)}x, per-row join forced ${(vj / agg).toFixed(2)}x; peak RSS ${Math.max(...rows.map((r) => r.verifyRss))} MB / ${Math.max(...rows.map((r) => r.verifyWithLogRss))} MB / ${Math.max(...rows.map((r) => r.verifyWithoutTrailerRss))} MB / ${Math.max(...rows.map((r) => r.verifyWithLogJoinRss))} MB (goal <= 200 MB)`,
  )
  console.log(
    JSON.stringify({
      bench: 'verify',
      transfers,
      accounts,
      rows,
      ratio: Number((v / agg).toFixed(3)),
      ratioWithRunLog: Number((vl / agg).toFixed(3)),
      ratioWithRunLogWithoutTrailer: Number((vn / agg).toFixed(3)),
      ratioWithRunLogJoin: Number((vj / agg).toFixed(3)),
      ...(comparedRows.length > 0
        ? {
            comparedRatio: Number((median(comparedRows.map((r) => r.verify)) / agg).toFixed(3)),
            comparedRatioWithRunLog: Number((median(comparedRows.map((r) => r.verifyWithLog)) / agg).toFixed(3)),
          }
        : {}),
    }),
  )
} finally {
  await pg.stop()
  await rm(tmp, {recursive: true, force: true})
}

/** The functions of a .cpuprofile with the most self time (samples), as "ms  %  function file:line". */
async function topFunctions(file: string, n = 15): Promise<string[]> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as {
    nodes: Array<{callFrame: {functionName: string; lineNumber: number; url: string}; id: number}>
    samples: number[]
    timeDeltas: number[]
  }
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<string, number>()
  let total = 0
  for (const [i, id] of profile.samples.entries()) {
    const frame = byNode.get(id)!.callFrame
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(src|node_modules)\//, '$1/')}${frame.url ? `:${frame.lineNumber + 1}` : ''}`
    const us = profile.timeDeltas[i] ?? 0
    self.set(key, (self.get(key) ?? 0) + us)
    total += us
  }

  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([key, us]) => `${(us / 1000).toFixed(0).padStart(6)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${key}`,
    )
}
