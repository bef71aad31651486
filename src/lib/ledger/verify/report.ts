import type {VerifyResult} from './model.js'

/** Human-readable report: a summary, one line per check, then each violation. */
export function formatVerifyReport(result: VerifyResult): string {
  const s = result.summary
  const out: string[] = []
  out.push(
    `${result.ok ? 'OK' : 'VIOLATED'}: ${s.transfers} transfers between ${s.accounts} accounts, volume ${s.volume}; balances sum to ${s.balanceTotal} (minted ${s.mintedTotal}) [${result.durationSeconds}s]`,
  )
  if (s.runLogIds) {
    const r = s.runLogIds
    out.push(
      `run log: ${r.attempted} attempted, ${r.acknowledged} acknowledged, ${r.unknown} unknown (${r.unknownCommitted} committed, ${r.unknownNotCommitted} not), ${r.notCommitted} rejected/failed${r.sentToQueue ? `, ${r.sentToQueue} sent to the queue (${r.sentNotApplied} not applied)` : ''}`,
    )
  }

  if (s.runLogs) {
    const read = s.runLogs.files
    out.push(
      `run logs read (${read.length}): ${read.slice(0, 5).join(', ')}${read.length > 5 ? `, … ${read.length - 5} more (--json lists them)` : ''}`,
    )
    if (s.runLogs.skipped.length > 0)
      out.push(
        `run logs left out (${s.runLogs.skipped.length}, another ledger's): ${s.runLogs.skipped
          .slice(0, 3)
          .map((x) => `${x.file}: ${x.reason}`)
          .join('; ')}`,
      )
  }

  for (const check of result.checks) {
    const mark = check.skipped ? '-' : check.ok ? '✓' : '✗'
    out.push(
      `  ${mark} ${check.name.padEnd(18)} ${check.skipped ? `skipped: ${check.skipped}` : `${check.violations} violation(s)${check.checked === undefined ? '' : ` in ${check.checked} checked`}`}`,
    )
  }

  if (result.violations.length > 0) {
    out.push('violations:')
    for (const v of result.violations) out.push(`  [${v.kind}] ${v.message}`)
    const listed = result.violations.length
    const total = Object.values(result.violationCounts).reduce((a, b) => a + (b ?? 0), 0)
    if (total > listed) out.push(`  … ${total - listed} more not listed (use --json or --max-listed)`)
    if (result.violationCounts.phantom) {
      out.push(
        `hint: a phantom is in none of the run logs read (listed above); if a workload wrote its log elsewhere, pass its --run-dir as well`,
      )
    }
  }

  return out.join('\n')
}
