import http from 'node:http'

import type {WorkloadStats} from '../ledger/workload/index.js'

import {LEDGER_METRICS} from '../ledger/metrics.js'

/**
 * A running workload's counters in Prometheus' text format, under the ledger
 * service's metric names (src/lib/ledger/metrics.ts) with outcome labels mapped the
 * same way, so one alert rule and one dashboard panel cover both (job tells them apart).
 */
export function workloadMetricsText(stats: WorkloadStats, region: string): string {
  const l = (extra = '') => `{region="${region}"${extra}}`
  const outcomes: Array<[string, number]> = [
    ['committed', stats.applied],
    ['duplicate', stats.alreadyApplied],
    ['rejected', stats.rejected],
    ['failed', stats.failed],
    ['unknown', stats.unknown],
    ['sent', stats.sent],
  ]
  return [
    `# HELP ${LEDGER_METRICS.transfersTotal} Transfers issued by this workload, by outcome.`,
    `# TYPE ${LEDGER_METRICS.transfersTotal} counter`,
    ...outcomes.map(([o, n]) => `${LEDGER_METRICS.transfersTotal}${l(`,outcome="${o}"`)} ${n}`),
    `# HELP ${LEDGER_METRICS.transferRetriesTotal} Transaction retries (SQLSTATE 40001 or lost connection).`,
    `# TYPE ${LEDGER_METRICS.transferRetriesTotal} counter`,
    `${LEDGER_METRICS.transferRetriesTotal}${l()} ${stats.retries}`,
    `# HELP ${LEDGER_METRICS.auditWriteFailuresTotal} S3 audit records that could not be written.`,
    `# TYPE ${LEDGER_METRICS.auditWriteFailuresTotal} counter`,
    `${LEDGER_METRICS.auditWriteFailuresTotal}${l()} ${stats.auditErrors}`,
    '# HELP atlas_workload_in_flight Transfers issued and not finished yet.',
    '# TYPE atlas_workload_in_flight gauge',
    `atlas_workload_in_flight${l()} ${stats.inFlight}`,
    '',
  ].join('\n')
}

/**
 * Serves GET /metrics for a workload on host:port until the returned close() is
 * called. Best effort: a busy port (another workload of this world serves there)
 * leaves this one unscraped and says so through onError.
 */
export async function serveWorkloadMetrics(
  address: {host: string; port: number},
  stats: () => WorkloadStats,
  region: string,
  onError?: (message: string) => void,
): Promise<() => void> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      res.writeHead(200, {'content-type': 'text/plain; version=0.0.4'})
      res.end(workloadMetricsText(stats(), region))
    } else {
      res.writeHead(404).end()
    }
  })
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      onError?.(`workload metrics not served on ${address.host}:${address.port}: ${error.code ?? error.message}`)
      resolve(false)
    })
    server.listen({host: address.host, port: address.port, exclusive: true}, () => resolve(true))
  })
  if (!listening) return () => {}
  server.unref()
  return () => {
    server.close()
    server.closeAllConnections()
  }
}
