import type {Counter, Gauge, Histogram, Registry} from 'prom-client'

/**
 * The ledger service's metric contract. The Prometheus alert rules and the Grafana
 * dashboard (charts/ledger/files) and test/fixtures/cockroach/ledger-service.prom
 * use exactly these names and labels.
 */
export const LEDGER_METRICS = {
  /** counter {region, outcome}: committed | duplicate | rejected | failed | unknown | malformed */
  transfersTotal: 'atlas_transfers_total',
  /** counter {region}: transaction retries after 40001 or a lost connection */
  transferRetriesTotal: 'atlas_transfer_retries_total',
  /** histogram {region}: first attempt to outcome, seconds */
  transferDurationSeconds: 'atlas_transfer_duration_seconds',
  /** gauge {region}: age of the last message taken from the queue when it was taken, seconds */
  queueLagSeconds: 'atlas_queue_lag_seconds',
  /** counter {region}: S3 audit records that could not be written (the transfer is committed without its record for now) */
  auditWriteFailuresTotal: 'atlas_audit_write_failures_total',
} as const

export type MetricOutcome = 'committed' | 'duplicate' | 'failed' | 'malformed' | 'rejected' | 'unknown'

export interface LedgerMetrics {
  auditFailures: Counter<'region'>
  duration: Histogram<'region'>
  queueLag: Gauge<'region'>
  registry: Registry
  retries: Counter<'region'>
  transfers: Counter<'outcome' | 'region'>
}

export async function createLedgerMetrics(): Promise<LedgerMetrics> {
  const client = await import('prom-client')
  const registry = new client.Registry()
  client.collectDefaultMetrics({register: registry, prefix: 'atlas_ledger_'})
  return {
    registry,
    transfers: new client.Counter({
      name: LEDGER_METRICS.transfersTotal,
      help: 'Transfers handled by this ledger service, by outcome (committed, duplicate, rejected, failed, unknown, malformed).',
      labelNames: ['region', 'outcome'],
      registers: [registry],
    }),
    retries: new client.Counter({
      name: LEDGER_METRICS.transferRetriesTotal,
      help: 'Transaction retries (SQLSTATE 40001 or lost connection).',
      labelNames: ['region'],
      registers: [registry],
    }),
    duration: new client.Histogram({
      name: LEDGER_METRICS.transferDurationSeconds,
      help: 'Time from the first attempt of a transfer to its outcome.',
      labelNames: ['region'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueLag: new client.Gauge({
      name: LEDGER_METRICS.queueLagSeconds,
      help: "Age of the transfer message most recently taken from the region's SQS queue, when it was taken.",
      labelNames: ['region'],
      registers: [registry],
    }),
    auditFailures: new client.Counter({
      name: LEDGER_METRICS.auditWriteFailuresTotal,
      help: 'S3 audit records that could not be written (the message is redelivered and the record written again).',
      labelNames: ['region'],
      registers: [registry],
    }),
  }
}
