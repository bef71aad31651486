import path from 'node:path'
import {packagePath} from '../paths.js'
import type {LocalLayout, RegionLayout} from '../world/local/layout.js'

/**
 * Where the local world's monitoring lives: a world-level port block after the
 * cloud endpoint (moto takes motoPort and motoPort + 1), so the regions' blocks
 * keep their size; configs under <baseDir>/monitoring, data under <baseDir>/data.
 * Pure, like the world's layout: every `up`, `status` and `down` finds the same.
 */
const MONITORING_PORT_OFFSET = 10

export interface ExporterLayout {
  region: RegionLayout
  name: string
  port: number
}

export interface MonitoringLayout {
  host: string
  prometheusPort: number
  alertmanagerPort: number
  /** a workload run by atlas (blast-radius, `atlas workload`) serves its counters here while it runs */
  workloadMetricsPort: number
  exporters: ExporterLayout[]
  configDir: string
  prometheusConfigFile: string
  alertmanagerConfigFile: string
  prometheusDataDir: string
  alertmanagerDataDir: string
  /** the monitoring role's password for the exporters (0600), read by them through DATA_SOURCE_PASS_FILE */
  exporterPasswordFile: string
  /** the local world's alert rules, shipped with atlas */
  rulesFile: string
}

export function monitoringLayout(layout: LocalLayout): MonitoringLayout {
  const first = layout.motoPort + MONITORING_PORT_OFFSET
  const configDir = path.join(layout.baseDir, 'monitoring')
  return {
    host: layout.host,
    prometheusPort: first,
    alertmanagerPort: first + 1,
    workloadMetricsPort: first + 2,
    exporters: layout.regions.map((r, i) => ({region: r, name: `postgres-exporter-${r.region.name}`, port: first + 3 + i})),
    configDir,
    prometheusConfigFile: path.join(configDir, 'prometheus.yml'),
    alertmanagerConfigFile: path.join(configDir, 'alertmanager.yml'),
    prometheusDataDir: path.join(layout.dataDir, 'prometheus'),
    alertmanagerDataDir: path.join(layout.dataDir, 'alertmanager'),
    exporterPasswordFile: path.join(configDir, 'exporter-password'),
    rulesFile: packagePath('monitoring', 'local', 'alert-rules.yaml'),
  }
}

/** The monitoring block's ports, with what listens there (allPorts of the world includes them). */
export function monitoringPorts(layout: LocalLayout): Array<{port: number; owner: string}> {
  const m = monitoringLayout(layout)
  return [
    {port: m.prometheusPort, owner: 'monitoring: Prometheus'},
    {port: m.alertmanagerPort, owner: 'monitoring: Alertmanager'},
    {port: m.workloadMetricsPort, owner: 'monitoring: workload metrics'},
    ...m.exporters.map((e) => ({port: e.port, owner: `monitoring: ${e.name}`})),
  ]
}

export const prometheusUrl = (m: MonitoringLayout): string => `http://${m.host}:${m.prometheusPort}`
export const alertmanagerUrl = (m: MonitoringLayout): string => `http://${m.host}:${m.alertmanagerPort}`
