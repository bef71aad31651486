import type {ActiveAlert, AlertEvent, ScrapeTarget} from './prometheus.js'

export type {AlertEvent} from './prometheus.js'

/** What chaos runs and workloads use of a world's monitoring (World.monitoring). */
export interface WorldMonitoring {
  /** alerts pending or firing since `from`, times relative to faultAt; undefined when monitoring does not run */
  alertHistory(
    from: Date,
    faultAt: Date,
    options?: {settleMs?: number; signal?: AbortSignal},
  ): Promise<AlertEvent[] | undefined>
  /** where a workload run by atlas serves its counters for Prometheus to scrape */
  workloadMetricsAddress(): {host: string; port: number}
}

export interface MonitoringStatus {
  alertmanagerUrl: string
  alerts: ActiveAlert[]
  /** every target that must run (etcd, Patroni, PostgreSQL, Prometheus, Alertmanager) is up */
  allTargetsUp: boolean
  /** why something could not be read */
  error?: string
  processes: Array<{name: string; pid: null | number}>
  prometheusUrl: string
  /** every monitoring process of the world runs */
  running: boolean
  /** null when Prometheus does not answer */
  targets: Array<ScrapeTarget & {optional: boolean}> | null
}
