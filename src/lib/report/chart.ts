/**
 * A small time chart drawn as standalone SVG: stacked panels over one time axis
 * (seconds), shaded windows across every panel, vertical markers and a legend.
 * The chart is data (Chart); renderChartSvg is pure and deterministic (same Chart,
 * same bytes), so reports are reproducible and tests can read the geometry back.
 *
 * To add to a picture, add to its Chart: a series to a line panel, a row to a band
 * panel, a panel, a window (a fault, an alert firing) or a marker.
 *
 * Every drawn datum carries data-* attributes naming what it is (data-series,
 * data-band, data-window, data-marker); the plot area states its scale
 * (data-t-from/data-t-to over data-x-from/data-x-to), so a reader of the SVG can
 * turn coordinates back into seconds and values.
 */

export interface Chart {
  /** colours of band values (e.g. region names); a value without one is drawn grey */
  bandColors: Record<string, string>
  /** how a band without a value (null) is named in the legend */
  bandNone?: string
  /** vertical lines across all panels */
  markers: ChartMarker[]
  panels: ChartPanel[]
  subtitle?: string
  /** the time range drawn (seconds) */
  time: {from: number; to: number}
  /** the time axis' label */
  timeLabel: string
  title: string
  /** shaded across all panels, behind the data */
  windows: ChartWindow[]
}

export type ChartPanel = BandPanel | LinePanel

export interface LinePanel {
  /** shown instead of the lines when no series has a point */
  empty?: string
  id: string
  kind: 'lines'
  series: LineSeries[]
  title: string
}

export interface LineSeries {
  color: string
  id: string
  label: string
  /** [t seconds, value] in time order; null breaks the line (a gap between runs) */
  points: Array<[number, number] | null>
}

export interface BandPanel {
  id: string
  kind: 'bands'
  rows: BandRow[]
  title: string
}

export interface BandRow {
  id: string
  label: string
  /** consecutive segments; value null: nobody (no leader) */
  segments: BandSegment[]
}

export interface BandSegment {
  from: number
  to: number
  value: null | string
}

export interface ChartWindow {
  color: string
  from: number
  id: string
  label: string
  /** the legend's name for it, when several windows share one (default: label) */
  legend?: string
  to: number
}

export interface ChartMarker {
  color: string
  id: string
  label: string
  /** the legend's name for it, when several markers share one (default: label) */
  legend?: string
  t: number
}

export const NONE_COLOR = '#c8c8c8'

const WIDTH = 960
const LEFT = 170
const RIGHT = 24
const LINE_PANEL_HEIGHT = 200
const BAND_ROW_HEIGHT = 22
const BAND_ROW_GAP = 6
const PANEL_GAP = 34
const FONT = 'font-family="DejaVu Sans, Arial, Helvetica, sans-serif"'

/** Numbers in the SVG: two decimals at most, no "-0", so output is stable. */
export function num(n: number): string {
  const r = Math.round(n * 100) / 100
  return Object.is(r, -0) ? '0' : String(r)
}

export function escapeXml(text: string): string {
  return text.replaceAll(
    /[&<>"']/g,
    (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;'})[c]!,
  )
}

/** 1, 2 or 5 times a power of ten, so that about `count` steps cover span */
export function niceStep(span: number, count: number): number {
  if (!(span > 0)) return 1
  const raw = span / count
  const power = 10 ** Math.floor(Math.log10(raw))
  const m = raw / power
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power
}

function ticks(from: number, to: number, count: number): number[] {
  const step = niceStep(to - from, count)
  const out: number[] = []
  for (let v = Math.ceil(from / step) * step; v <= to + step * 1e-9; v += step) out.push(Math.round(v / step) * step)
  return out
}

export function renderChartSvg(chart: Chart): string {
  // the range as the SVG states it (two decimals), so that readers of data-t-from/to get the scale drawn
  const t0 = Number(num(chart.time.from))
  const t1 = Number(num(chart.time.to > chart.time.from ? chart.time.to : chart.time.from + 1))
  const xFrom = LEFT
  const xTo = WIDTH - RIGHT
  const x = (t: number) => xFrom + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * (xTo - xFrom)
  const body: string[] = []
  let y = chart.subtitle ? 62 : 44
  const plotTop = y
  const layout: Array<{height: number; panel: ChartPanel; top: number}> = []
  for (const panel of chart.panels) {
    const height =
      panel.kind === 'lines' ? LINE_PANEL_HEIGHT : panel.rows.length * (BAND_ROW_HEIGHT + BAND_ROW_GAP) - BAND_ROW_GAP
    layout.push({panel, top: y + 16, height})
    y += 16 + height + PANEL_GAP
  }

  const plotBottom = y - PANEL_GAP

  const header = [`<text x="${LEFT}" y="22" font-size="16" font-weight="bold">${escapeXml(chart.title)}</text>`]
  if (chart.subtitle)
    header.push(`<text x="${LEFT}" y="42" font-size="12" fill="#444">${escapeXml(chart.subtitle)}</text>`)

  // windows behind everything, opaque so that their colour is exact where nothing overlaps
  const windows = chart.windows.map((w) => {
    const left = x(w.from)
    return `<rect data-window="${escapeXml(w.id)}" data-from="${num(w.from)}" data-to="${num(w.to)}" x="${num(left)}" y="${num(plotTop)}" width="${num(x(w.to) - left)}" height="${num(plotBottom - plotTop)}" fill="${w.color}"><title>${escapeXml(`${w.label}: t = ${num(w.from)} to ${num(w.to)} s`)}</title></rect>`
  })

  for (const {panel, top, height} of layout) {
    body.push(`<g data-panel="${escapeXml(panel.id)}">`)
    body.push(
      `<text x="${LEFT}" y="${num(top - 5)}" font-size="12" font-weight="bold">${escapeXml(panel.title)}</text>`,
    )
    if (panel.kind === 'lines') body.push(...linePanel(panel, top, height, x, xFrom, xTo))
    else body.push(...bandPanel(panel, top, x, chart.bandColors))
    body.push('</g>')
  }

  // the time axis under the last panel, grid lines through all of them
  const axis: string[] = [
    `<g data-axis="time">`,
    `<line x1="${xFrom}" y1="${num(plotBottom)}" x2="${xTo}" y2="${num(plotBottom)}" stroke="#333"/>`,
  ]
  for (const t of ticks(t0, t1, 10)) {
    const tx = num(x(t))
    axis.push(
      `<line x1="${tx}" y1="${num(plotTop)}" x2="${tx}" y2="${num(plotBottom)}" stroke="#000" stroke-opacity="0.08"/>`,
    )
    axis.push(`<line x1="${tx}" y1="${num(plotBottom)}" x2="${tx}" y2="${num(plotBottom + 5)}" stroke="#333"/>`)
    axis.push(
      `<text data-tick="${num(t)}" x="${tx}" y="${num(plotBottom + 18)}" font-size="11" text-anchor="middle">${num(t)}</text>`,
    )
  }

  axis.push(
    `<text x="${num((xFrom + xTo) / 2)}" y="${num(plotBottom + 36)}" font-size="12" text-anchor="middle">${escapeXml(chart.timeLabel)}</text>`,
    '</g>',
  )

  const markers = chart.markers.map((m) => {
    const mx = num(x(m.t))
    return `<g data-marker="${escapeXml(m.id)}" data-t="${num(m.t)}"><line x1="${mx}" y1="${num(plotTop - 4)}" x2="${mx}" y2="${num(plotBottom)}" stroke="${m.color}" stroke-width="1.5" stroke-dasharray="5 3"/><text x="${num(x(m.t) + 4)}" y="${num(plotTop - 4)}" font-size="11" fill="${m.color}">${escapeXml(m.label)}</text></g>`
  })

  const legendTop = plotBottom + 52
  const {svg: legend, height: legendHeight} = renderLegend(chart, legendTop)
  const height = Math.ceil(legendTop + legendHeight + 8)
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="12">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...header,
    `<g data-plot="time" data-t-from="${num(t0)}" data-t-to="${num(t1)}" data-x-from="${xFrom}" data-x-to="${xTo}">`,
    ...windows,
    ...body,
    ...axis,
    ...markers,
    '</g>',
    ...legend,
    '</svg>',
    '',
  ].join('\n')
}

function linePanel(
  panel: LinePanel,
  top: number,
  height: number,
  x: (t: number) => number,
  xFrom: number,
  xTo: number,
): string[] {
  const out: string[] = []
  const max = Math.max(0, ...panel.series.flatMap((s) => s.points.map((p) => p?.[1] ?? 0)))
  const yTicks = ticks(0, max > 0 ? max : 1, 4)
  const vMax = Math.max(yTicks[yTicks.length - 1], max > 0 ? max : 1)
  const bottom = top + height
  const y = (v: number) => bottom - (v / vMax) * height
  out.push(
    `<g data-scale="value" data-v-from="0" data-v-to="${num(vMax)}" data-y-from="${num(bottom)}" data-y-to="${num(top)}">`,
  )
  out.push(`<rect x="${xFrom}" y="${num(top)}" width="${xTo - xFrom}" height="${height}" fill="none" stroke="#999"/>`)
  for (const v of yTicks) {
    const ty = num(y(v))
    out.push(
      `<line x1="${xFrom - 4}" y1="${ty}" x2="${xTo}" y2="${ty}" stroke="#000" stroke-opacity="${v === 0 ? 0.5 : 0.08}"/>`,
    )
    out.push(`<text x="${xFrom - 7}" y="${num(y(v) + 4)}" font-size="11" text-anchor="end">${num(v)}</text>`)
  }

  const drawn = panel.series.filter((s) => s.points.some((p) => p !== null))
  if (drawn.length === 0 && panel.empty)
    out.push(
      `<text x="${num((xFrom + xTo) / 2)}" y="${num(top + height / 2)}" font-size="12" text-anchor="middle" fill="#666">${escapeXml(panel.empty)}</text>`,
    )
  for (const s of drawn) {
    // one polyline per unbroken run of points, in time order
    const runs: Array<Array<[number, number]>> = [[]]
    for (const p of s.points) {
      if (p) runs[runs.length - 1].push(p)
      else if (runs[runs.length - 1].length > 0) runs.push([])
    }

    for (const run of runs.filter((r) => r.length > 0)) {
      const points = run.map(([t, v]) => `${num(x(t))},${num(y(v))}`).join(' ')
      out.push(
        `<polyline data-series="${escapeXml(s.id)}" points="${points}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"><title>${escapeXml(s.label)}</title></polyline>`,
      )
    }
  }

  out.push('</g>')
  return out
}

function bandPanel(panel: BandPanel, top: number, x: (t: number) => number, colors: Record<string, string>): string[] {
  const out: string[] = []
  for (const [i, row] of panel.rows.entries()) {
    const rowTop = top + i * (BAND_ROW_HEIGHT + BAND_ROW_GAP)
    out.push(
      `<text x="${LEFT - 8}" y="${num(rowTop + BAND_ROW_HEIGHT / 2 + 4)}" font-size="12" text-anchor="end">${escapeXml(row.label)}</text>`,
    )
    for (const s of row.segments) {
      const left = x(s.from)
      const value = s.value ?? ''
      out.push(
        `<rect data-band="${escapeXml(row.id)}" data-value="${escapeXml(value)}" data-from="${num(s.from)}" data-to="${num(s.to)}" x="${num(left)}" y="${num(rowTop)}" width="${num(Math.max(0, x(s.to) - left))}" height="${BAND_ROW_HEIGHT}" fill="${s.value === null ? NONE_COLOR : (colors[s.value] ?? NONE_COLOR)}"><title>${escapeXml(`${row.label}: ${s.value ?? 'none'} (t = ${num(s.from)} to ${num(s.to)} s)`)}</title></rect>`,
      )
    }
  }

  return out
}

interface LegendItem {
  color: string
  kind: 'box' | 'dash' | 'line'
  label: string
}

function renderLegend(chart: Chart, top: number): {height: number; svg: string[]} {
  const items: LegendItem[] = []
  for (const panel of chart.panels)
    if (panel.kind === 'lines') for (const s of panel.series) items.push({kind: 'line', color: s.color, label: s.label})
  const bandValues = new Set<null | string>()
  for (const panel of chart.panels)
    if (panel.kind === 'bands') for (const row of panel.rows) for (const s of row.segments) bandValues.add(s.value)
  for (const [value, color] of Object.entries(chart.bandColors))
    if (bandValues.has(value)) items.push({kind: 'box', color, label: value})
  for (const value of bandValues)
    if (value !== null && !(value in chart.bandColors)) items.push({kind: 'box', color: NONE_COLOR, label: value})
  if (bandValues.has(null)) items.push({kind: 'box', color: NONE_COLOR, label: chart.bandNone ?? 'none'})
  const seen = new Set<string>()
  for (const w of chart.windows) {
    const label = w.legend ?? w.label
    if (seen.has(label)) continue
    seen.add(label)
    items.push({kind: 'box', color: w.color, label})
  }

  for (const m of chart.markers) {
    const label = m.legend ?? m.label
    if (seen.has(label)) continue
    seen.add(label)
    items.push({kind: 'dash', color: m.color, label})
  }

  const out = ['<g data-legend="">']
  let lx = LEFT
  let ly = top
  for (const item of items) {
    // about 6.5 px per character at 12 px
    const width = 22 + item.label.length * 6.5 + 18
    if (lx + width > WIDTH - RIGHT && lx > LEFT) {
      lx = LEFT
      ly += 20
    }

    const swatch =
      item.kind === 'box'
        ? `<rect x="${num(lx)}" y="${num(ly - 9)}" width="16" height="11" fill="${item.color}" stroke="#666" stroke-width="0.5"/>`
        : `<line x1="${num(lx)}" y1="${num(ly - 4)}" x2="${num(lx + 16)}" y2="${num(ly - 4)}" stroke="${item.color}" stroke-width="2"${item.kind === 'dash' ? ' stroke-dasharray="5 3"' : ''}/>`
    out.push(
      `<g data-legend-item="${escapeXml(item.label)}">${swatch}<text x="${num(lx + 22)}" y="${num(ly)}" font-size="12">${escapeXml(item.label)}</text></g>`,
    )
    lx += width
  }

  out.push('</g>')
  return {svg: out, height: ly - top + 12}
}
