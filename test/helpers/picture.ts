import {expect} from 'chai'

import type {BlastResult} from '../../src/lib/chaos/blast.js'
import type {TimelinePoint} from '../../src/lib/chaos/timeline.js'

import {DEFAULT_CONFIG} from '../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../src/lib/config/load.js'
import {assessRegionLoss} from '../../src/lib/health/quorum.js'
import {reportFiles} from '../../src/lib/report/blast.js'
import {OutcomeRecorder} from '../../src/lib/report/series.js'
import {findAll, type XmlElement} from './xml.js'

const config = parseConfigObject(DEFAULT_CONFIG)
const FAULT = Date.UTC(2026, 10, 30, 5, 0, 0)

/** A kill of us: leader us, no leader for ~5 s, then eu; etcd led by us, then witness. */
export function sampleRound(runDir: string): BlastResult {
  const timeline: TimelinePoint[] = []
  for (let t = -0.5; t <= 14; t += 0.25) {
    const leader = t < 0 ? 'us' : t < 5.25 ? null : 'eu'
    const raft = t < 0 ? 'us' : t < 1.5 ? null : 'witness'
    timeline.push({
      t,
      at: new Date(FAULT + t * 1000).toISOString(),
      writable: leader !== null,
      quorumHeld: raft !== null,
      leaderRegion: leader,
      raftLeaderRegion: raft,
      raftTerm: raft === 'us' ? 2 : 3,
      unreachableRegions: t >= 0 && t < 10 ? ['us'] : [],
      membersAlive: t >= 0 && t < 10 ? 6 : 9,
      members: 9,
    })
  }

  const recorder = new OutcomeRecorder()
  // 40/s before the fault, nothing until 5.6 s, 30/s after; two failed and three unknown around the fault
  for (let ms = -2000; ms < 0; ms += 25) recorder.record('applied', FAULT + ms)
  for (let ms = 5600; ms < 12_000; ms += 1000 / 30)
    recorder.record(ms > 11_000 ? 'already_applied' : 'applied', FAULT + ms)
  for (const ms of [300, 2300]) recorder.record('failed', FAULT + ms)
  for (const ms of [100, 150, 4100]) recorder.record('unknown', FAULT + ms)
  const outcomes = recorder.series(FAULT, {endMs: FAULT + 12_300})
  const acknowledged = recorder.count('acknowledged')
  return {
    region: 'us',
    regions: ['us'],
    mode: 'kill',
    component: 'region',
    driver: 'local',
    runDir,
    forced: false,
    survivability: assessRegionLoss(config.regions, ['us']),
    faultInjectedAt: new Date(FAULT).toISOString(),
    faultDescription: 'SIGKILL to etcd-us',
    durationSeconds: 10,
    rtoSeconds: 5.61,
    recoveredDuringFault: true,
    unavailableSeconds: 5.62,
    longestWriteGapSeconds: 5.62,
    longestWriteGap: {seconds: 5.62, fromSeconds: -0.025, toSeconds: 5.6, open: false},
    healthModel: {unavailableSeconds: 5.25, samples: timeline.length, sampleIntervalSeconds: 0.25},
    leaderBefore: 'us',
    leaderAfterFault: 'eu',
    leaderAfterRestore: 'eu',
    failover: true,
    acknowledged,
    unknown: 3,
    lost: 0,
    attempted: acknowledged + 5,
    verified: true,
    violations: {},
    converged: true,
    convergeSeconds: 3.5,
    timeline,
    events: [],
    outcomes,
    faultWindows: [{fromSeconds: 0, toSeconds: 10.02, label: 'fault: kill us'}],
    worldRegions: config.regions.map((r) => r.name),
    report: reportFiles(runDir),
    interrupted: false,
    partition: null,
    isolatedLeader: null,
  }
}

const one = (svg: XmlElement, match: (e: XmlElement) => boolean, what: string): XmlElement => {
  const found = findAll(svg, match)
  expect(found, what).to.have.length(1)
  return found[0]
}

/**
 * Reads the picture's geometry back into seconds and values and checks it
 * against report.json: the time scale against the axis labels, every point of the
 * three series, every band boundary (recomputed here from the timeline), the
 * fault windows and the RTO marker.
 */
export function checkPictureMatchesReport(svg: XmlElement, report: BlastResult): void {
  const plot = one(svg, (e) => e.attributes['data-plot'] === 'time', 'the plot')
  const [tFrom, tTo, xFrom, xTo] = ['data-t-from', 'data-t-to', 'data-x-from', 'data-x-to'].map((a) =>
    Number(plot.attributes[a]),
  )
  const tOf = (x: number) => tFrom + ((x - xFrom) / (xTo - xFrom)) * (tTo - tFrom)
  // coordinates carry two decimals: half a hundredth of a pixel, in seconds, plus the rounding of the range itself
  const tTolerance = ((tTo - tFrom) / (xTo - xFrom)) * 0.006 + 0.006
  // the scale the attributes state is the one the axis is drawn with
  const ticks = findAll(svg, (e) => e.attributes['data-tick'] !== undefined)
  expect(ticks.length).to.be.greaterThan(2)
  for (const tick of ticks) {
    expect(Number(tick.text)).to.equal(Number(tick.attributes['data-tick']))
    expect(tOf(Number(tick.attributes.x))).to.be.closeTo(Number(tick.text), tTolerance)
  }

  const {timeline} = report
  expect(tFrom).to.be.at.most(Math.min(0, timeline[0]?.t ?? 0, report.outcomes?.startSeconds ?? 0))
  expect(tTo).to.be.at.least(timeline.at(-1)?.t ?? 0)

  // the series: one point per bin, at its middle, per second
  const lines = findAll(svg, (e) => e.name === 'polyline')
  if (report.outcomes) {
    const s = report.outcomes
    const scale = one(svg, (e) => e.attributes['data-scale'] === 'value', 'the value scale')
    const [vFrom, vTo, yFrom, yTo] = ['data-v-from', 'data-v-to', 'data-y-from', 'data-y-to'].map((a) =>
      Number(scale.attributes[a]),
    )
    const vOf = (y: number) => vFrom + ((yFrom - y) / (yFrom - yTo)) * (vTo - vFrom)
    const vTolerance = ((vTo - vFrom) / (yFrom - yTo)) * 0.006
    const totals = {
      acknowledged: report.acknowledged,
      unknown: report.unknown,
      errors: report.workload ? report.workload.failed + report.workload.rejected : undefined,
    }
    for (const kind of ['acknowledged', 'errors', 'unknown'] as const) {
      const line = one(svg, (e) => e.name === 'polyline' && e.attributes['data-series'] === kind, `the ${kind} series`)
      const points = line.attributes.points.split(' ').map((p) => p.split(',').map(Number))
      expect(points, kind).to.have.length(s[kind].length)
      let sum = 0
      for (const [i, [x, y]] of points.entries()) {
        expect(tOf(x), `${kind} point ${i} time`).to.be.closeTo(s.startSeconds + (i + 0.5) * s.binSeconds, tTolerance)
        expect(vOf(y), `${kind} point ${i} value`).to.be.closeTo(s[kind][i] / s.binSeconds, vTolerance)
        sum += Math.round(vOf(y) * s.binSeconds)
      }

      if (totals[kind] !== undefined)
        expect(sum, `${kind}: the drawn points add up to the report's total`).to.equal(totals[kind])
    }
  } else {
    expect(lines).to.have.length(0)
  }

  // the bands: a segment from each change of leader to the next, recomputed from the timeline
  for (const [id, field] of [
    ['database-leader', 'leaderRegion'],
    ['raft-leader', 'raftLeaderRegion'],
  ] as const) {
    const expected: Array<{from: number; to: number; value: null | string}> = []
    for (const p of timeline) {
      const last = expected.at(-1)
      if (last && last.value === p[field]) continue
      if (last) last.to = p.t
      expected.push({value: p[field], from: p.t, to: p.t})
    }

    if (expected.length > 0) expected.at(-1)!.to = timeline.at(-1)!.t
    const drawn = findAll(svg, (e) => e.attributes['data-band'] === id).map((e) => ({
      value: e.attributes['data-value'] || null,
      from: tOf(Number(e.attributes.x)),
      to: tOf(Number(e.attributes.x) + Number(e.attributes.width)),
    }))
    expect(
      drawn.map((d) => d.value),
      id,
    ).to.deep.equal(expected.map((e) => e.value))
    for (const [i, d] of drawn.entries()) {
      expect(d.from, `${id} segment ${i} start`).to.be.closeTo(expected[i].from, tTolerance)
      expect(d.to, `${id} segment ${i} end`).to.be.closeTo(expected[i].to, tTolerance)
    }
  }

  // the alerts that fired (monitoring): each drawn from firing to resolved
  const fired = (report.alerts ?? []).filter((a) => a.detectSeconds !== null)
  const alertRects = findAll(svg, (e) => (e.attributes['data-band'] ?? '').startsWith('alert-'))
  expect(alertRects, 'one alert segment per alert that fired').to.have.length(fired.length)
  for (const a of fired) {
    const rect = alertRects.find(
      (e) => e.attributes['data-band']!.includes(a.name) && Number(e.attributes['data-from']) === a.detectSeconds,
    )
    expect(rect, `${a.name} drawn from ${a.detectSeconds} s`).to.not.equal(undefined)
    if (a.resolveSeconds !== null) expect(Number(rect!.attributes['data-to'])).to.equal(a.resolveSeconds)
  }

  // the fault windows, shaded
  const windows = findAll(svg, (e) => e.attributes['data-window'] !== undefined)
  expect(windows).to.have.length((report.faultWindows ?? []).length)
  for (const [i, w] of (report.faultWindows ?? []).entries()) {
    expect(tOf(Number(windows[i].attributes.x))).to.be.closeTo(w.fromSeconds, tTolerance)
    expect(tOf(Number(windows[i].attributes.x) + Number(windows[i].attributes.width))).to.be.closeTo(
      w.toSeconds ?? timeline.at(-1)!.t,
      tTolerance,
    )
  }

  // the RTO, marked
  const markers = findAll(svg, (e) => e.attributes['data-marker'] === 'rto')
  if (report.rtoSeconds === null) {
    expect(markers).to.have.length(0)
  } else {
    expect(markers).to.have.length(1)
    const line = markers[0].children.find((c) => c.name === 'line')!
    expect(tOf(Number(line.attributes.x1))).to.be.closeTo(report.rtoSeconds, tTolerance)
    expect(markers[0].children.find((c) => c.name === 'text')!.text).to.equal(`RTO ${report.rtoSeconds.toFixed(2)} s`)
  }
}

/**
 * A campaign's picture against its rounds' reports: each round's fault window, RTO
 * marker, series points and leader bands at the round's own offset from the first fault.
 */
export function checkCampaignPicture(svg: XmlElement, reports: BlastResult[]): void {
  const plot = one(svg, (e) => e.attributes['data-plot'] === 'time', 'the plot')
  const [tFrom, tTo, xFrom, xTo] = ['data-t-from', 'data-t-to', 'data-x-from', 'data-x-to'].map((a) =>
    Number(plot.attributes[a]),
  )
  const tOf = (x: number) => tFrom + ((x - xFrom) / (xTo - xFrom)) * (tTo - tFrom)
  const tTolerance = ((tTo - tFrom) / (xTo - xFrom)) * 0.006 + 0.006
  const base = Date.parse(reports[0].faultInjectedAt)
  const offsets = reports.map((r) => (Date.parse(r.faultInjectedAt) - base) / 1000)
  const windows = findAll(svg, (e) => e.attributes['data-window'] !== undefined)
  expect(windows).to.have.length(reports.length)
  for (const [i, r] of reports.entries()) {
    expect(tOf(Number(windows[i].attributes.x)), `round ${i + 1} fault`).to.be.closeTo(
      offsets[i] + r.faultWindows[0].fromSeconds,
      tTolerance,
    )
    if (r.rtoSeconds !== null) {
      const marker = one(svg, (e) => e.attributes['data-marker'] === `rto-${i + 1}`, `round ${i + 1} RTO`)
      expect(tOf(Number(marker.children.find((c) => c.name === 'line')!.attributes.x1))).to.be.closeTo(
        offsets[i] + r.rtoSeconds,
        tTolerance,
      )
    }
  }

  const points = findAll(svg, (e) => e.name === 'polyline' && e.attributes['data-series'] === 'acknowledged').flatMap(
    (e) => e.attributes.points.split(' ').map((p) => tOf(Number(p.split(',')[0]))),
  )
  const expected = reports.flatMap((r, i) =>
    r.outcomes
      ? r.outcomes.acknowledged.map(
          (_, j) => offsets[i] + r.outcomes!.startSeconds + (j + 0.5) * r.outcomes!.binSeconds,
        )
      : [],
  )
  expect(points).to.have.length(expected.length)
  for (const [j, t] of points.entries()) expect(t).to.be.closeTo(expected[j], tTolerance)
  const bands = findAll(svg, (e) => e.attributes['data-band'] === 'database-leader')
  const firsts = reports.flatMap((r, i) =>
    r.timeline
      .filter((p, k) => k === 0 || r.timeline[k - 1].leaderRegion !== p.leaderRegion)
      .map((p) => ({t: offsets[i] + p.t, value: p.leaderRegion})),
  )
  expect(bands.map((b) => b.attributes['data-value'] || null)).to.deep.equal(firsts.map((f) => f.value))
  for (const [k, b] of bands.entries()) expect(tOf(Number(b.attributes.x))).to.be.closeTo(firsts[k].t, tTolerance)
}
