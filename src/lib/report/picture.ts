import {writeFile} from 'node:fs/promises'
import type {TimelinePoint} from '../chaos/timeline.js'
import {redactObject} from '../redact.js'
import {escapeXml, renderChartSvg, type BandSegment, type Chart, type ChartPanel, type LineSeries} from './chart.js'
import type {OutcomeSeries} from './series.js'

/**
 * The picture of a chaos run: what the clients saw (acknowledged transfers, errors
 * and unknown outcomes per second), who led (the database leader region and the
 * Raft leader region as coloured bands), when the fault held (shaded) and the RTO
 * (a dashed line), over seconds since the fault. Written as report.svg beside
 * report.md, and report.html embedding it (no network needed to view either).
 */

/** What the picture reads from a report (report.json of blast-radius; older reports lack the newer fields). */
export interface PictureInput {
  title: string
  subtitle?: string
  driver: string
  /** the world's regions in config order: each keeps its colour from run to run */
  worldRegions?: string[]
  timeline: TimelinePoint[]
  outcomes?: OutcomeSeries | null
  faultWindows?: FaultWindow[]
  rtoSeconds: number | null
}

export interface FaultWindow {
  /** seconds since the fault */
  fromSeconds: number
  /** null: not restored when the report was written */
  toSeconds: number | null
  label: string
}

/** region colours, in the world's region order (colour-blind-safe Okabe–Ito hues) */
export const REGION_PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#f0e442']
export const SERIES_COLORS = {acknowledged: '#1a7f37', errors: '#c62828', unknown: '#8e24aa'} as const
export const FAULT_COLOR = '#fde0dc'
export const RTO_COLOR = '#111111'

/** Consecutive samples with the same value, as segments from one change to the next (the last ends at the last sample). */
export function bandSegments(points: TimelinePoint[], value: (p: TimelinePoint) => string | null): BandSegment[] {
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
export function seriesPoints(series: OutcomeSeries, kind: 'acknowledged' | 'errors' | 'unknown'): Array<[number, number]> {
  return series[kind].map((count, i) => [series.startSeconds + (i + 0.5) * series.binSeconds, count / series.binSeconds])
}

export function pictureChart(input: PictureInput): Chart {
  const timeline = input.timeline ?? []
  const outcomes = input.outcomes ?? null
  const windows = input.faultWindows ?? []
  const lastSample = timeline.length > 0 ? timeline[timeline.length - 1].t : 0
  const starts = [0, ...(timeline.length > 0 ? [timeline[0].t] : []), ...(outcomes ? [outcomes.startSeconds] : [])]
  const ends = [lastSample, ...(outcomes ? [outcomes.startSeconds + outcomes.acknowledged.length * outcomes.binSeconds] : []), ...windows.map((w) => w.toSeconds ?? lastSample), ...(input.rtoSeconds !== null ? [input.rtoSeconds] : [])]
  const series: LineSeries[] = outcomes
    ? [
        {id: 'acknowledged', label: 'acknowledged transfers/s', color: SERIES_COLORS.acknowledged, points: seriesPoints(outcomes, 'acknowledged')},
        {id: 'errors', label: 'errors/s (failed or rejected)', color: SERIES_COLORS.errors, points: seriesPoints(outcomes, 'errors')},
        {id: 'unknown', label: 'unknown outcomes/s', color: SERIES_COLORS.unknown, points: seriesPoints(outcomes, 'unknown')},
      ]
    : []
  const panels: ChartPanel[] = [
    {kind: 'lines', id: 'transfers', title: `transfers per second (${outcomes?.binSeconds ?? 1} s bins)`, series, empty: 'no workload ran'},
    {
      kind: 'bands',
      id: 'leaders',
      title: 'leaders (sampled health)',
      rows: [
        {id: 'database-leader', label: 'database leader', segments: bandSegments(timeline, (p) => p.leaderRegion)},
        {id: 'raft-leader', label: input.driver === 'local' ? 'Raft leader (etcd)' : 'Raft leader', segments: bandSegments(timeline, (p) => p.raftLeaderRegion)},
      ],
    },
  ]
  const regionNames = input.worldRegions ?? [...new Set(timeline.flatMap((p) => [p.leaderRegion, p.raftLeaderRegion]).filter((r): r is string => r !== null))].sort()
  return {
    title: input.title,
    subtitle: input.subtitle,
    timeLabel: 'seconds since the fault',
    // whole seconds, outward: the range the SVG states is the one it draws with
    time: {from: Math.floor(Math.min(...starts)), to: Math.ceil(Math.max(...ends))},
    panels,
    windows: windows.map((w, i) => ({id: `fault-${i + 1}`, label: w.label, from: w.fromSeconds, to: w.toSeconds ?? lastSample, color: FAULT_COLOR})),
    markers: input.rtoSeconds === null ? [] : [{id: 'rto', label: `RTO ${input.rtoSeconds.toFixed(2)} s`, t: input.rtoSeconds, color: RTO_COLOR}],
    bandColors: Object.fromEntries(regionNames.map((name, i) => [name, REGION_PALETTE[i % REGION_PALETTE.length]])),
    bandNone: 'no leader',
  }
}

export function renderPictureSvg(input: PictureInput): string {
  return renderChartSvg(pictureChart(redactObject(input)))
}

/** A page with the picture inline (its title and summary are in it) and links to the reports beside it: opens offline, from disk or the bucket. */
export function renderPictureHtml(input: PictureInput, svg = renderPictureSvg(input), links: Array<{href: string; label: string}> = []): string {
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
    links.length > 0 ? `<p>${links.map((l) => `<a href="${escapeXml(l.href)}">${escapeXml(l.label)}</a>`).join(' · ')}</p>` : '',
    '</body>',
    '</html>',
    '',
  ]
    .filter((line) => line !== '')
    .join('\n')
}

export async function writePicture(input: PictureInput, files: {svg: string; html: string}, links: Array<{href: string; label: string}> = []): Promise<void> {
  const svg = renderPictureSvg(input)
  await writeFile(files.svg, svg)
  await writeFile(files.html, `${renderPictureHtml(input, svg, links)}\n`)
}
