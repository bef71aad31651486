import type {MonitoringStatus} from './types.js'

/** The monitoring lines of `atlas status`: URLs, scrape targets per job, active alerts. */
export function formatMonitoringStatus(m: MonitoringStatus): string[] {
  const lines = [`  monitoring: Prometheus ${m.prometheusUrl}  Alertmanager ${m.alertmanagerUrl}`]
  const stopped = m.processes.filter((p) => p.pid === null).map((p) => p.name)
  if (stopped.length > 0) lines.push(`    NOT RUNNING: ${stopped.join(', ')} (\`atlas up\` starts them again)`)
  if (m.error) lines.push(`    ${m.error}`)
  if (m.targets) {
    const jobs = [...new Set(m.targets.map((t) => t.job))]
    for (const job of jobs) {
      const targets = m.targets.filter((t) => t.job === job)
      const up = targets.filter((t) => t.health === 'up').length
      const down = targets.filter((t) => t.health !== 'up').map((t) => t.region ?? t.instance)
      const optional = targets[0]?.optional
      const state = down.length === 0 ? 'up' : optional ? `not running: ${down.join(', ')}` : `DOWN: ${down.join(', ')}`
      lines.push(`    ${job.padEnd(15)} ${up}/${targets.length} up${down.length > 0 ? ` (${state})` : ''}`)
    }

    lines.push(`    targets: ${m.allTargetsUp ? 'every required target is up' : 'NOT every required target is up'}`)
  }

  const firing = m.alerts.filter((a) => a.state === 'firing')
  const pending = m.alerts.filter((a) => a.state === 'pending')
  if (firing.length > 0)
    lines.push(
      `    FIRING: ${firing.map((a) => `${a.name}${a.labels.region ? ` (${a.labels.region})` : ''}`).join(', ')}`,
    )
  if (pending.length > 0) lines.push(`    pending: ${pending.map((a) => a.name).join(', ')}`)
  if (firing.length === 0 && pending.length === 0 && m.targets) lines.push('    alerts: none firing')
  return lines
}
