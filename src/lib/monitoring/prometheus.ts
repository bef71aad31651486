/**
 * The parts of Prometheus' HTTP API atlas reads: scrape targets (status), firing
 * alerts, and the ALERTS series over a time range (chaos reports).
 */

export interface ScrapeTarget {
  health: 'down' | 'unknown' | 'up'
  instance: string
  job: string
  lastError?: string
  lastScrape?: string
  region?: string
}

export interface ActiveAlert {
  activeAt?: string
  /** the alert's identity: its name and every label */
  key: string
  labels: Record<string, string>
  name: string
  runbookUrl?: string
  severity?: string
  state: 'firing' | 'pending'
  summary?: string
}

/** One alert (a name and its labels) that was pending or firing during a chaos run; times are ISO, seconds relative to the fault. */
export interface AlertEvent {
  /** seconds from the fault to firing (time to detect); negative: it fired before the fault */
  detectSeconds: null | number
  firedAt: null | string
  /** the alert's labels other than alertname, alertstate and severity (region, instance, ...) */
  labels: Record<string, string>
  name: string
  /** first evaluation at which the alert was pending (its expression true); null when it fired without a pending phase */
  pendingAt: null | string
  /** seconds from the fault to pendingAt */
  pendingSeconds: null | number
  /** last evaluation at which it still fired, plus one evaluation interval; null when it still fired at the end */
  resolvedAt: null | string
  /** seconds from the fault to resolution */
  resolveSeconds: null | number
  severity?: string
}

async function getJson<T>(url: string, timeoutMs: number): Promise<T> {
  const response = await fetch(url, {signal: AbortSignal.timeout(timeoutMs)})
  if (!response.ok) throw new Error(`${url.replace(/\?.*/, '')}: HTTP ${response.status}`)
  const body = (await response.json()) as {data: T; error?: string; status: string}
  if (body.status !== 'success') throw new Error(`${url.replace(/\?.*/, '')}: ${body.error ?? body.status}`)
  return body.data
}

export async function scrapeTargets(baseUrl: string, timeoutMs = 1500): Promise<ScrapeTarget[]> {
  const data = await getJson<{
    activeTargets: Array<{health: string; labels: Record<string, string>; lastError?: string; lastScrape?: string}>
  }>(`${baseUrl}/api/v1/targets?state=active`, timeoutMs)
  return data.activeTargets
    .map((t) => ({
      job: t.labels.job,
      instance: t.labels.instance,
      ...(t.labels.region ? {region: t.labels.region} : {}),
      health: (['up', 'down'].includes(t.health) ? t.health : 'unknown') as ScrapeTarget['health'],
      ...(t.lastError ? {lastError: t.lastError} : {}),
      ...(t.lastScrape ? {lastScrape: t.lastScrape} : {}),
    }))
    .sort((a, b) => a.job.localeCompare(b.job) || a.instance.localeCompare(b.instance))
}

export async function activeAlerts(baseUrl: string, timeoutMs = 1500): Promise<ActiveAlert[]> {
  const data = await getJson<{
    alerts: Array<{
      activeAt?: string
      annotations: Record<string, string>
      labels: Record<string, string>
      state: string
    }>
  }>(`${baseUrl}/api/v1/alerts`, timeoutMs)
  return data.alerts.map((a) => {
    const {alertname, severity, ...labels} = a.labels
    return {
      key: alertKey(a.labels),
      name: alertname,
      state: a.state === 'firing' ? 'firing' : 'pending',
      ...(severity ? {severity} : {}),
      labels,
      ...(a.activeAt ? {activeAt: a.activeAt} : {}),
      ...(a.annotations.summary ? {summary: a.annotations.summary} : {}),
      ...(a.annotations.runbook_url ? {runbookUrl: a.annotations.runbook_url} : {}),
    }
  })
}

export interface RangeSeries {
  metric: Record<string, string>
  /** [unix seconds, value] */
  values: Array<[number, string]>
}

export async function queryRange(
  baseUrl: string,
  query: string,
  from: Date,
  to: Date,
  stepSeconds: number,
  timeoutMs = 5000,
): Promise<RangeSeries[]> {
  const params = new URLSearchParams({
    query,
    start: (from.getTime() / 1000).toFixed(3),
    end: (to.getTime() / 1000).toFixed(3),
    step: String(stepSeconds),
  })
  const data = await getJson<{result: RangeSeries[]; resultType: string}>(
    `${baseUrl}/api/v1/query_range?${params}`,
    timeoutMs,
  )
  return data.result
}

/** An alert's identity (name and labels, whatever their order) in ALERTS series and in /api/v1/alerts alike. */
export function alertKey(labels: Record<string, string>): string {
  return JSON.stringify(
    Object.entries(labels)
      .filter(([k]) => !['alertstate', '__name__'].includes(k))
      .sort(([a], [b]) => a.localeCompare(b)),
  )
}

/**
 * Alert events from the ALERTS series of a range query (step = the evaluation
 * interval): per alert (name and labels), the first pending and firing sample and
 * the end of the first firing stretch. A gap of more than two steps ends a stretch;
 * a later stretch of the same alert is an event of its own. The last stretch of an
 * alert that Prometheus still reports active (activeKeys) has no end yet.
 */
export function alertEvents(
  series: RangeSeries[],
  faultAt: Date,
  stepSeconds: number,
  activeKeys: ReadonlySet<string>,
): AlertEvent[] {
  interface Stretch {
    end: number
    start: number
  }
  const stretches = (values: Array<[number, string]>): Stretch[] => {
    const out: Stretch[] = []
    for (const [t] of values) {
      const last = out.at(-1)
      if (last && t - last.end <= 2 * stepSeconds + 1e-6) last.end = t
      else out.push({start: t, end: t})
    }

    return out
  }

  const byAlert = new Map<string, {firing: Stretch[]; metric: Record<string, string>; pending: Stretch[]}>()
  for (const s of series) {
    const k = alertKey(s.metric)
    const entry = byAlert.get(k) ?? {metric: s.metric, pending: [], firing: []}
    const st = stretches(s.values)
    if (s.metric.alertstate === 'firing') entry.firing.push(...st)
    else entry.pending.push(...st)
    byAlert.set(k, entry)
  }

  const fault = faultAt.getTime() / 1000
  const iso = (t: number) => new Date(t * 1000).toISOString()
  const round = (n: number) => Math.round(n * 100) / 100
  const events: AlertEvent[] = []
  for (const [k, {metric, pending, firing}] of byAlert) {
    const active = activeKeys.has(k)
    const {alertname, alertstate: _state, severity, __name__: _name, ...labels} = metric
    firing.sort((a, b) => a.start - b.start)
    pending.sort((a, b) => a.start - b.start)
    const used = new Set<Stretch>()
    for (const [i, f] of firing.entries()) {
      // the pending stretch that led to this firing: the last one that started before it
      const p = pending.findLast((x) => x.start <= f.start && !used.has(x))
      if (p) used.add(p)
      const stillFiring = active && i === firing.length - 1
      const resolved = stillFiring ? null : f.end + stepSeconds
      events.push({
        name: alertname,
        ...(severity ? {severity} : {}),
        labels,
        pendingAt: p ? iso(p.start) : null,
        pendingSeconds: p ? round(p.start - fault) : null,
        firedAt: iso(f.start),
        resolvedAt: resolved === null ? null : iso(resolved),
        detectSeconds: round(f.start - fault),
        resolveSeconds: resolved === null ? null : round(resolved - fault),
      })
    }

    // pending that never fired (its `for` was not reached): shown, with no firedAt
    const lastPending = pending.at(-1)
    for (const p of pending.filter((x) => !used.has(x))) {
      const open = active && p === lastPending && firing.every((f) => f.start < p.start)
      events.push({
        name: alertname,
        ...(severity ? {severity} : {}),
        labels,
        pendingAt: iso(p.start),
        pendingSeconds: round(p.start - fault),
        firedAt: null,
        resolvedAt: open ? null : iso(p.end + stepSeconds),
        detectSeconds: null,
        resolveSeconds: open ? null : round(p.end + stepSeconds - fault),
      })
    }
  }

  const order = (e: AlertEvent) => e.firedAt ?? e.pendingAt ?? ''
  return events.sort((a, b) => order(a).localeCompare(order(b)) || a.name.localeCompare(b.name))
}
