import {type LocalLayout, MONITOR_ROLE} from '../world/local/layout.js'
import {pkiPaths} from '../world/local/pki.js'
import {monitoringLayout} from './layout.js'

/**
 * Scrape jobs of the local world. The alert rules (monitoring/local/alert-rules.yaml),
 * the dashboard and `atlas status` name these jobs; a target carries the region it
 * belongs to. The ledger service and the workload put their own region label on
 * every series (honor_labels keeps it). moto (S3/SQS/IAM) is not scraped: it serves
 * no metrics (its /moto-api/ is a state dashboard); what the cloud side does shows
 * in the ledger service's and the workload's counters (audit write failures, queue lag).
 */
export const JOBS = {
  prometheus: 'prometheus',
  alertmanager: 'alertmanager',
  etcd: 'etcd',
  patroni: 'patroni',
  postgres: 'postgres',
  ledger: 'atlas-ledger',
  workload: 'atlas-workload',
} as const

/** Jobs whose targets run only while someone runs them (`atlas ledger serve`, a workload): down is not a fault. */
export const OPTIONAL_JOBS: ReadonlySet<string> = new Set([JOBS.ledger, JOBS.workload])

/** Loopback: scrape and evaluate every second, so an alert fires within seconds of a fault. */
export const SCRAPE_INTERVAL = '1s'

export function prometheusConfig(layout: LocalLayout): Record<string, unknown> {
  const m = monitoringLayout(layout)
  const pki = pkiPaths(layout)
  const at = (port: number) => `${layout.host}:${port}`
  // etcd, Patroni and PostgreSQL listen on their region's own address; the ledger service and monitoring on the world's
  const perRegion = (port: (i: number) => number, onRegionAddress = false) =>
    layout.regions.map((r, i) => ({
      targets: [onRegionAddress ? `${r.address}:${port(i)}` : at(port(i))],
      labels: {region: r.region.name},
    }))
  return {
    global: {
      scrape_interval: SCRAPE_INTERVAL,
      // a frozen (SIGSTOPped) process accepts the connection and never answers: it is down after this
      scrape_timeout: '900ms',
      evaluation_interval: SCRAPE_INTERVAL,
      external_labels: {world: `${layout.scope}-${layout.basePort}`},
    },
    rule_files: [m.rulesFile],
    alerting: {alertmanagers: [{static_configs: [{targets: [at(m.alertmanagerPort)]}]}]},
    scrape_configs: [
      {job_name: JOBS.prometheus, static_configs: [{targets: [at(m.prometheusPort)]}]},
      {job_name: JOBS.alertmanager, static_configs: [{targets: [at(m.alertmanagerPort)]}]},
      {
        job_name: JOBS.etcd,
        // etcd requires a client certificate on its client port, /metrics included: atlas's own (read in place, never copied)
        scheme: 'https',
        tls_config: {ca_file: pki.caCert, cert_file: pki.atlasEtcdClient.cert, key_file: pki.atlasEtcdClient.key},
        static_configs: perRegion((i) => layout.regions[i].etcdClientPort, true),
      },
      {job_name: JOBS.patroni, static_configs: perRegion((i) => layout.regions[i].patroniApiPort, true)},
      // the exporter runs a dozen queries per scrape (and waits for a node that is down): every 2 s
      {
        job_name: JOBS.postgres,
        scrape_interval: '2s',
        scrape_timeout: '1900ms',
        static_configs: perRegion((i) => m.exporters[i].port),
      },
      {job_name: JOBS.ledger, honor_labels: true, static_configs: perRegion((i) => layout.regions[i].servicePort)},
      {job_name: JOBS.workload, honor_labels: true, static_configs: [{targets: [at(m.workloadMetricsPort)]}]},
    ],
  }
}

/**
 * Alertmanager with one receiver that sends nothing: alerts are looked at (web UI,
 * API, chaos reports), never delivered off this machine. Short waits: a local
 * fault's alert is visible within seconds.
 */
export function alertmanagerConfig(): Record<string, unknown> {
  return {
    route: {
      receiver: 'local',
      group_by: ['alertname', 'region'],
      group_wait: '1s',
      group_interval: '5s',
      repeat_interval: '1h',
    },
    receivers: [{name: 'local'}],
  }
}

/**
 * postgres_exporter's connection, as environment (never argv): TLS verifying the
 * server against the world's CA (verify-full), the monitoring role, its password
 * read from a 0600 file.
 */
export function exporterEnv(layout: LocalLayout, regionIndex: number): Record<string, string> {
  const m = monitoringLayout(layout)
  const r = layout.regions[regionIndex]
  const pki = pkiPaths(layout)
  return {
    DATA_SOURCE_URI: `${r.address}:${r.postgresPort}/postgres?sslmode=verify-full&sslrootcert=${pki.caCert}`,
    DATA_SOURCE_USER: MONITOR_ROLE,
    DATA_SOURCE_PASS_FILE: m.exporterPasswordFile,
  }
}
