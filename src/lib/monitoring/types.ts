import type {ActiveAlert, AlertEvent, ScrapeTarget} from './prometheus.js'

export type {AlertEvent} from './prometheus.js'

/** What chaos runs and workloads use of a world's monitoring (World.monitoring). */
export interface WorldMonitoring {
  /** where a workload run by atlas serves its counters for Prometheus to scrape */
  workloadMetricsAddress(): {host: string; port: number}
  /** alerts pending or firing since `from`, times relative to faultAt; undefined when monitoring does not run */
  alertHistory(from: Date, faultAt: Date, options?: {settleMs?: number; signal?: AbortSignal}): Promise<AlertEvent[] | undefined>
}

export interface MonitoringStatus {
  /** every monitoring process of the world runs */
  running: boolean
  processes: Array<{name: string; pid: number | null}>
  prometheusUrl: string
  alertmanagerUrl: string
  /** null when Prometheus does not answer */
  targets: Array<ScrapeTarget & {optional: boolean}> | null
  /** every target that must run (etcd, Patroni, PostgreSQL, Prometheus, Alertmanager) is up */
  allTargetsUp: boolean
  alerts: ActiveAlert[]
  /** why something could not be read */
  error?: string
}
