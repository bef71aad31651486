import {writeFile} from 'node:fs/promises'

import type {TimelinePoint} from '../chaos/timeline.js'
import type {AlertEvent} from '../monitoring/prometheus.js'
import type {OutcomeSeries} from './series.js'

import {redactObject} from '../redact.js'
import {
  type BandRow,
  type BandSegment,
  type Chart,
  type ChartPanel,
  escapeXml,
  type LineSeries,
  renderChartSvg,
} from './chart.js'

/**
 * The picture of a chaos run: what the clients saw (acknowledged transfers, errors
 * and unknown outcomes per second), who led (the database leader region and the
 * Raft leader region as coloured bands), when the fault held (shaded) and the RTO
 * (a dashed line), over seconds since the fault. Written as report.svg beside
 * report.md, and report.html embedding it (no network needed to view either).
 */

/** What the picture reads from a report (report.json of blast-radius; older reports lack the newer fields). */
export interface PictureInput {
  /** alerts from the world's Prometheus (monitoring); undefined: monitoring did not run, no panel */
  alerts?: AlertEvent[]
  driver: string
  faultWindows?: FaultWindow[]
  outcomes?: null | OutcomeSeries
  rtoSeconds: null | number
  subtitle?: string
  timeline: TimelinePoint[]
  title: string
  /** the world's regions in config order: each keeps its colour from run to run */
  worldRegions?: string[]
}

export interface FaultWindow {
  /** seconds since the fault */
  fromSeconds: number
  label: string
  /** null: not restored when the report was written */
  toSeconds: null | number
}

/** region colours, in the world's region order (colour-blind-safe Okabe–Ito hues) */
export const REGION_PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#f0e442']
export const SERIES_COLORS = {acknowledged: '#1a7f37', errors: '#c62828', unknown: '#8e24aa'} as const
export const FAULT_COLOR = '#fde0dc'
export const RTO_COLOR = '#111111'
export const ALERT_COLOR = '#d32f2f'
const ALERT_FIRING = 'alert firing'

/** Consecutive samples with the same value, as segments from one change to the next (the last ends at the last sample). */
export function bandSegments(points: TimelinePoint[], value: (p: TimelinePoint) => null | string): BandSegment[] {
  const segments: BandSegment[] = []
  for (const p of points) {
    const v = value(p)
    const last = segments[segments.length - 1]
    if (last) last.to = p.t
    if (!last || last.value !== v) segments.push({from: p.t, to: p.t, value: v})
  }

  return segments
}

/** The per-bin counts as per-second points at the middle of each bin. */
export function seriesPoints(
  series: OutcomeSeries,
  kind: 'acknowledged' | 'errors' | 'unknown',
): Array<[number, number]> {
  return series[kind].map((count, i) => [
    series.startSeconds + (i + 0.5) * series.binSeconds,
    count / series.binSeconds,
  ])
}

/** One row per alert (name and region) that fired: from firing (time to detect) to resolved, or to the last sample if it still fired. */
export function alertBandRows(alerts: AlertEvent[] | undefined, lastSample: number): BandRow[] {
  const rows = new Map<string, BandRow>()
  for (const a of alerts ?? []) {
    if (a.detectSeconds === null) continue
    const label = a.labels.region ? `${a.name} (${a.labels.region})` : a.name
    const row = rows.get(label) ?? {
      id: `alert-${label.replaceAll(/[^A-Za-z0-9]+/g, '-').replace(/-$/, '')}`,
      label,
      segments: [],
    }
    row.segments.push({
      from: a.detectSeconds,
      to: a.resolveSeconds ?? Math.max(lastSample, a.detectSeconds),
      value: ALERT_FIRING,
    })
    rows.set(label, row)
  }

  return [...rows.values()]
}

export function pictureChart(input: PictureInput): Chart {
  const timeline = input.timeline ?? []
  const outcomes = input.outcomes ?? null
  const windows = input.faultWindows ?? []
  const lastSample = timeline.length > 0 ? timeline[timeline.length - 1].t : 0
  const starts = [0, ...(timeline.length > 0 ? [timeline[0].t] : []), ...(outcomes ? [outcomes.startSeconds] : [])]
  const alertRows = alertBandRows(input.alerts, lastSample)
  const ends = [
    lastSample,
    ...alertRows.flatMap((r) => r.segments.map((x) => x.to)),
    ...(outcomes ? [outcomes.startSeconds + outcomes.acknowledged.length * outcomes.binSeconds] : []),
    ...windows.map((w) => w.toSeconds ?? lastSample),
    ...(input.rtoSeconds === null ? [] : [input.rtoSeconds]),
  ]
  const series: LineSeries[] = outcomes
    ? [
        {
          id: 'acknowledged',
          label: 'acknowledged transfers/s',
          color: SERIES_COLORS.acknowledged,
          points: seriesPoints(outcomes, 'acknowledged'),
        },
        {
          id: 'errors',
          label: 'errors/s (failed or rejected)',
          color: SERIES_COLORS.errors,
          points: seriesPoints(outcomes, 'errors'),
        },
        {
          id: 'unknown',
          label: 'unknown outcomes/s',
          color: SERIES_COLORS.unknown,
          points: seriesPoints(outcomes, 'unknown'),
        },
      ]
    : []
  const panels: ChartPanel[] = [
    {
      kind: 'lines',
      id: 'transfers',
      title: `transfers per second (${outcomes?.binSeconds ?? 1} s bins)`,
      series,
      empty: 'no workload ran',
    },
    {
      kind: 'bands',
      id: 'leaders',
      title: 'leaders (sampled health)',
      rows: [
        {id: 'database-leader', label: 'database leader', segments: bandSegments(timeline, (p) => p.leaderRegion)},
        {
          id: 'raft-leader',
          label: input.driver === 'local' ? 'Raft leader (etcd)' : 'Raft leader',
          segments: bandSegments(timeline, (p) => p.raftLeaderRegion),
        },
      ],
    },
    ...(input.alerts
      ? [
          {
            kind: 'bands' as const,
            id: 'alerts',
            title:
              input.alerts.length > 0
                ? 'alerts (Prometheus): from firing to resolved'
                : 'alerts (Prometheus): none fired',
            rows: alertRows,
          },
        ]
      : []),
  ]
  const regionNames =
    input.worldRegions ??
    [
      ...new Set(timeline.flatMap((p) => [p.leaderRegion, p.raftLeaderRegion]).filter((r): r is string => r !== null)),
    ].sort()
  return {
    title: input.title,
    subtitle: input.subtitle,
    timeLabel: 'seconds since the fault',
    // whole seconds, outward: the range the SVG states is the one it draws with
    time: {from: Math.floor(Math.min(...starts)), to: Math.ceil(Math.max(...ends))},
    panels,
    windows: windows.map((w, i) => ({
      id: `fault-${i + 1}`,
      label: w.label,
      from: w.fromSeconds,
      to: w.toSeconds ?? lastSample,
      color: FAULT_COLOR,
    })),
    markers:
      input.rtoSeconds === null
        ? []
        : [{id: 'rto', label: `RTO ${input.rtoSeconds.toFixed(2)} s`, t: input.rtoSeconds, color: RTO_COLOR}],
    bandColors: {
      ...Object.fromEntries(regionNames.map((name, i) => [name, REGION_PALETTE[i % REGION_PALETTE.length]])),
      [ALERT_FIRING]: ALERT_COLOR,
    },
    bandNone: 'no leader',
  }
}

export function renderPictureSvg(input: PictureInput): string {
  return renderChartSvg(pictureChart(redactObject(input)))
}

/** A page with the picture inline (its title and summary are in it) and links to the reports beside it: opens offline, from disk or the bucket. */
export function renderPictureHtml(
  input: PictureInput,
  svg = renderPictureSvg(input),
  links: Array<{href: string; label: string}> = [],
): string {
  const safe = redactObject(input)
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeXml(safe.title)}</title>`,
    '<style>body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;margin:16px;color:#111}svg{max-width:100%;height:auto}</style>',
    '</head>',
    '<body>',
    svg.trimEnd(),
    links.length > 0
      ? `<p>${links.map((l) => `<a href="${escapeXml(l.href)}">${escapeXml(l.label)}</a>`).join(' · ')}</p>`
      : '',
    '</body>',
    '</html>',
    '',
  ]
    .filter((line) => line !== '')
    .join('\n')
}

export async function writePicture(
  input: PictureInput,
  files: {html: string; svg: string},
  links: Array<{href: string; label: string}> = [],
): Promise<void> {
  const svg = renderPictureSvg(input)
  await writeFile(files.svg, svg)
  await writeFile(files.html, `${renderPictureHtml(input, svg, links)}\n`)
}

/** One round of a campaign, as its picture needs it: when its fault was, and what its report says. */
export interface CampaignRoundPicture {
  faultInjectedAt: string
  input: PictureInput
  label: string
}

/**
 * The picture of a campaign: every round on one time axis (seconds since the first
 * fault), each round's series, bands, fault window and RTO at its own place, with
 * gaps between rounds (restore, convergence and verify run there, unsampled).
 */
export function campaignChart(
  title: string,
  subtitle: string,
  rounds: CampaignRoundPicture[],
  worldRegions: string[],
): Chart {
  const base = rounds.length > 0 ? Date.parse(rounds[0].faultInjectedAt) : 0
  const charts = rounds.map((round) => ({
    round,
    offset: (Date.parse(round.faultInjectedAt) - base) / 1000,
    chart: pictureChart({...round.input, worldRegions}),
  }))
  const shift = <T extends {from: number; to: number}>(x: T, o: number): T => ({...x, from: x.from + o, to: x.to + o})
  const lines = (id: string): Array<[number, number] | null> =>
    charts.flatMap(({chart, offset}) => {
      const series = chart.panels.flatMap((p) => (p.kind === 'lines' ? p.series : [])).find((s) => s.id === id)
      const points = (series?.points ?? []).map((p) => (p ? ([p[0] + offset, p[1]] as [number, number]) : null))
      return points.length > 0 ? [...points, null] : []
    })
  const rows = (id: string) =>
    charts.flatMap(
      ({chart, offset}) =>
        chart.panels
          .flatMap((p) => (p.kind === 'bands' ? p.rows : []))
          .find((r) => r.id === id)
          ?.segments.map((s) => shift(s, offset)) ?? [],
    )
  const template =
    charts[0]?.chart ?? pictureChart({title, driver: 'local', timeline: [], rtoSeconds: null, worldRegions})
  // every round's panels and band rows, in the order first seen: an alert may fire in a later round only
  const union = new Map<string, ChartPanel>(template.panels.map((p) => [p.id, p]))
  for (const {chart} of charts.slice(1))
    for (const panel of chart.panels) {
      const known = union.get(panel.id)
      if (!known) union.set(panel.id, panel)
      else if (known.kind === 'bands' && panel.kind === 'bands') {
        const ids = new Set(known.rows.map((r) => r.id))
        const added = panel.rows.filter((r) => !ids.has(r.id))
        // a panel whose first rounds had no row ("none fired") takes the title of a round that had some
        if (added.length > 0)
          union.set(panel.id, {
            ...known,
            title: known.rows.length > 0 ? known.title : panel.title,
            rows: [...known.rows, ...added],
          })
      }
    }

  const panels: ChartPanel[] = [...union.values()].map((panel) =>
    panel.kind === 'lines'
      ? {...panel, series: panel.series.map((s) => ({...s, points: lines(s.id)}))}
      : {...panel, rows: panel.rows.map((r) => ({...r, segments: rows(r.id)}))},
  )
  return {
    ...template,
    title,
    subtitle,
    timeLabel: 'seconds since the first fault',
    time: {
      from: Math.min(0, ...charts.map(({chart, offset}) => chart.time.from + offset)),
      to: Math.max(1, ...charts.map(({chart, offset}) => chart.time.to + offset)),
    },
    panels,
    windows: charts.flatMap(({round, chart, offset}, i) =>
      chart.windows.map((w) => ({
        ...shift(w, offset),
        id: `fault-${i + 1}`,
        label: `round ${i + 1}: ${round.label}`,
        legend: 'fault windows',
      })),
    ),
    markers: charts.flatMap(({chart, offset}, i) =>
      chart.markers.map((m) => ({
        ...m,
        id: `rto-${i + 1}`,
        t: m.t + offset,
        label: `${i + 1}: ${m.label.replace(/^RTO /, '')}`,
        legend: 'RTO of each round',
      })),
    ),
  }
}

export async function writeCampaignPicture(
  chart: Chart,
  files: {html: string; svg: string},
  links: Array<{href: string; label: string}> = [],
): Promise<void> {
  const svg = renderChartSvg(redactObject(chart))
  await writeFile(files.svg, svg)
  const input: PictureInput = {title: chart.title, driver: '', timeline: [], rtoSeconds: null}
  await writeFile(files.html, `${renderPictureHtml(input, svg, links)}\n`)
}
