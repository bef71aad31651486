import {monitoringLayout, monitoringPorts, type MonitoringLayout} from '../world/local/layout.js'

// the monitoring block is part of the world's layout (its ports are checked with the others); re-exported for monitoring/
export {monitoringLayout, monitoringPorts, type MonitoringLayout}

export const prometheusUrl = (m: MonitoringLayout): string => `http://${m.host}:${m.prometheusPort}`
export const alertmanagerUrl = (m: MonitoringLayout): string => `http://${m.host}:${m.alertmanagerPort}`
