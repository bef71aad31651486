// One verify run in a process of its own, so its peak RSS is its own, with the built code the CLI runs
// (dist/, plain node: no TypeScript loader in the process or in the timed window):
//   node bench/verify/child.mjs <dist dir> <database url> [run dir]
// The verify module is loaded before the clock starts (`atlas --help` start-up is bench/startup's); what it
// loads on demand (the postgres driver) is timed, as the CLI pays it.
// PER_ROW_JOIN=1: the run-log check joins every stored transfer (never the digests).
// Prints {seconds, cpuSeconds, maxRssMB, ok, transfers} as JSON.
import path from 'node:path'
import {pathToFileURL} from 'node:url'

const [dist, url, runDir] = process.argv.slice(2)
const {verifyLedger} = await import(pathToFileURL(path.join(dist, 'lib', 'ledger', 'verify', 'index.js')).href)
const started = performance.now()
const cpuBefore = process.cpuUsage()
const result = await verifyLedger({
  db: url,
  runLogs: runDir ? [runDir] : undefined,
  partitionIds: process.env.PARTITION_IDS ? Number(process.env.PARTITION_IDS) : undefined,
  perRowJoin: process.env.PER_ROW_JOIN === '1',
})
const seconds = (performance.now() - started) / 1000
// the client's own CPU time (user + system): on the bench's machine it shares the cores with the server
const cpu = process.cpuUsage(cpuBefore)
// resourceUsage().maxRSS is in kilobytes
const maxRssMB = process.resourceUsage().maxRSS / 1024
console.log(
  JSON.stringify({
    seconds: Number(seconds.toFixed(3)),
    cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(3)),
    maxRssMB: Number(maxRssMB.toFixed(1)),
    ok: result.ok,
    transfers: result.summary.transfers,
    violations: result.violationCounts,
  }),
)
