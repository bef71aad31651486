import type {ProgressReporter, World} from '../world/types.js'
import type {AlertEvent} from './prometheus.js'

/**
 * The alerts of a chaos run, from the world's Prometheus: which fired and
 * resolved, and when, relative to the fault. undefined when the world has no
 * monitoring running (the report says so); never throws (a report without
 * alerts beats no report).
 */
export async function recordAlerts(
  world: World,
  from: Date,
  faultAt: Date | undefined,
  options: {progress?: ProgressReporter; settleMs?: number; signal?: AbortSignal} = {},
): Promise<AlertEvent[] | undefined> {
  if (!world.monitoring || !faultAt) return undefined
  try {
    return await world.monitoring.alertHistory(from, faultAt, {settleMs: options.settleMs, signal: options.signal})
  } catch (error) {
    options.progress?.info(`alerts not recorded: ${(error as Error).message}`)
    return undefined
  }
}

const fmt = (n: null | number) => (n === null ? '-' : n.toFixed(1))

/** The report's alert table (report.md). */
export function formatAlertsMarkdown(alerts: AlertEvent[] | undefined): string[] {
  if (alerts === undefined)
    return [
      '## Alerts',
      '',
      'Not recorded: the world ran without monitoring (`atlas up` starts it where Prometheus is installed).',
      '',
    ]
  const lines = [
    '## Alerts',
    '',
    'From Prometheus (rules in monitoring/local/alert-rules.yaml, evaluated every second; runbooks in docs/runbooks/); t relative to the fault, negative: before it.',
    '',
  ]
  if (alerts.length === 0) return [...lines, 'No alert fired.', '']
  lines.push(
    '| alert | severity | labels | pending at t (s) | fired at t (s) = time to detect | resolved at t (s) |',
    '| --- | --- | --- | --- | --- | --- |',
  )
  for (const a of alerts) {
    const labels = Object.entries(a.labels)
      .filter(([k]) => k !== 'job' || a.labels.job.startsWith('atlas'))
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')
    const resolved =
      a.resolvedAt === null
        ? a.firedAt
          ? 'still firing'
          : 'still pending'
        : `${fmt(a.resolveSeconds)}${a.firedAt ? '' : ' (never fired)'}`
    lines.push(
      `| ${a.name} | ${a.severity ?? '-'} | ${labels || '-'} | ${fmt(a.pendingSeconds)} | ${fmt(a.detectSeconds)} | ${resolved} |`,
    )
  }

  return [...lines, '']
}

/** What fired after the fault, each with its time to detect and to resolve ("AtlasX (us) 1.9 s -> 6.4 s; …"); undefined when nothing fired. */
export function formatFiredAlerts(alerts: AlertEvent[]): string | undefined {
  const fired = alerts.filter((a) => a.firedAt !== null && a.detectSeconds !== null && a.detectSeconds >= 0)
  if (fired.length === 0) return undefined
  const one = (a: AlertEvent) =>
    `${a.name}${a.labels.region ? ` (${a.labels.region})` : ''} ${fmt(a.detectSeconds)} s${a.resolveSeconds === null ? ', still firing' : ` -> ${fmt(a.resolveSeconds)} s`}`
  return fired.map(one).join('; ')
}

/** One line for the command's summary: what fired after the fault, with time to detect and to resolve. */
export function formatAlertsSummary(alerts: AlertEvent[] | undefined): string | undefined {
  if (alerts === undefined) return undefined
  const fired = formatFiredAlerts(alerts)
  return fired === undefined
    ? '  alerts: none fired after the fault'
    : `  alerts (fired -> resolved, s after the fault): ${fired}`
}
