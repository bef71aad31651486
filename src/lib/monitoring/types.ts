import type {AlertEvent} from './prometheus.js'

export type {AlertEvent} from './prometheus.js'
export type {MonitoringStatus} from './local.js'

/** What chaos runs and workloads use of a world's monitoring (World.monitoring). */
export interface WorldMonitoring {
  /** where a workload run by atlas serves its counters for Prometheus to scrape */
  workloadMetricsAddress(): {host: string; port: number}
  /** alerts pending or firing since `from`, times relative to faultAt; undefined when monitoring does not run */
  alertHistory(from: Date, faultAt: Date, options?: {settleMs?: number; signal?: AbortSignal}): Promise<AlertEvent[] | undefined>
}
