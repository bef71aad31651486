/**
 * One verify run in a process of its own, so its peak RSS is its own:
 *   node --import tsx bench/verify/child.ts <database url> [run dir]
 * PER_ROW_JOIN=1: the run-log check joins every stored transfer (never the digests).
 * Prints {seconds, maxRssMB, ok, transfers} as JSON.
 */
import {verifyLedger} from '../../src/lib/ledger/verify/index.js'

const [url, runDir] = process.argv.slice(2)
const started = performance.now()
const result = await verifyLedger({
  db: url,
  runLogs: runDir ? [runDir] : undefined,
  partitionIds: process.env.PARTITION_IDS ? Number(process.env.PARTITION_IDS) : undefined,
  perRowJoin: process.env.PER_ROW_JOIN === '1',
})
const seconds = (performance.now() - started) / 1000
// resourceUsage().maxRSS is in kilobytes
const maxRssMB = process.resourceUsage().maxRSS / 1024
console.log(
  JSON.stringify({
    seconds: Number(seconds.toFixed(3)),
    maxRssMB: Number(maxRssMB.toFixed(1)),
    ok: result.ok,
    transfers: result.summary.transfers,
    violations: result.violationCounts,
  }),
)
