// What `npm audit --omit=dev --json` said, as one line scripts/scan.sh acts on:
//   ok <what>         a report with no high or critical advisory
//   fail <what>       a report with at least one high or critical advisory (the scan fails)
//   unchecked <why>   no report: the registry (or a mirror) did not answer the audit endpoint,
//                     so nobody can say; the scan says so and does not fail
// Usage: node scripts/audit-verdict.mjs <stdout of npm audit --json> <its stderr>
import {fileURLToPath} from 'node:url'

/** The verdict on npm audit's JSON output (stdout) and its stderr. */
export function auditVerdict(stdout, stderr = '') {
  let report
  try {
    report = JSON.parse(stdout)
  } catch {
    report = undefined
  }

  const counts = report?.metadata?.vulnerabilities
  if (counts && typeof counts === 'object') {
    const high = counts.high ?? 0
    const critical = counts.critical ?? 0
    return high + critical > 0
      ? `fail ${high} high, ${critical} critical`
      : `ok ${counts.total ?? 0} advisories, none high or critical`
  }

  // npm prints {error: {summary}} or {message, statusCode, ...} (or nothing) when the endpoint did not answer
  const reason =
    report?.error?.summary ||
    report?.message ||
    stderr.split('\n').find((l) => /npm (error|ERR!)/.test(l)) ||
    'npm audit gave no report'
  return `unchecked ${String(reason).replaceAll(/\s+/g, ' ').trim()}`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(auditVerdict(process.argv[2] ?? '', process.argv[3] ?? ''))
}
