import {type MonitoringLayout} from '../world/local/layout.js'

// the monitoring block is part of the world's layout (its ports are checked with the others); re-exported for monitoring/

export const prometheusUrl = (m: MonitoringLayout): string => `http://${m.host}:${m.prometheusPort}`
export const alertmanagerUrl = (m: MonitoringLayout): string => `http://${m.host}:${m.alertmanagerPort}`

export {monitoringLayout, type MonitoringLayout, monitoringPorts} from '../world/local/layout.js'
