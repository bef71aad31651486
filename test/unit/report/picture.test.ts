import {expect} from 'chai'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {BlastResult} from '../../../src/lib/chaos/blast.js'

import {writeReport} from '../../../src/lib/report/blast.js'
import {niceStep} from '../../../src/lib/report/chart.js'
import {checkCampaignPicture, checkPictureMatchesReport, sampleRound} from '../../helpers/picture.js'
import {findAll, parseXml} from '../../helpers/xml.js'

describe('the picture of a run', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-picture-'))
  })

  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('per-second series: bins aligned on the fault, each summing to the run total', () => {
    const r = sampleRound(dir)
    const s = r.outcomes!
    expect(s.binSeconds).to.equal(1)
    expect(s.startSeconds).to.equal(-2)
    // -2 .. 12.3 s: bins -2 .. 12
    expect(s.acknowledged).to.have.length(15)
    expect(s.acknowledged.slice(0, 2)).to.deep.equal([40, 40])
    expect(s.acknowledged.slice(2, 7)).to.deep.equal([0, 0, 0, 0, 0])
    expect(s.acknowledged.reduce((a, b) => a + b, 0)).to.equal(r.acknowledged)
    expect(s.errors.reduce((a, b) => a + b, 0)).to.equal(2)
    expect(s.unknown).to.deep.equal([0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
  })

  it('report.svg beside report.md is well-formed SVG whose series, bands, fault window and RTO marker match report.json', async () => {
    const r = sampleRound(dir)
    await writeReport(r)
    const report = JSON.parse(await readFile(r.report.json, 'utf8')) as BlastResult
    expect(report.report.picture).to.equal(path.join(dir, 'report.svg'))
    const svg = parseXml(await readFile(report.report.picture!, 'utf8'))
    expect(svg.name).to.equal('svg')
    expect(svg.attributes.xmlns).to.equal('http://www.w3.org/2000/svg')
    checkPictureMatchesReport(svg, report)
  })

  it('colours: each region has one colour in every band and in the legend; no leader is grey', async () => {
    const r = sampleRound(dir)
    await writeReport(r)
    const svg = parseXml(await readFile(r.report.picture!, 'utf8'))
    const legend = Object.fromEntries(
      findAll(svg, (e) => e.attributes['data-legend-item'] !== undefined).map((g) => [
        g.attributes['data-legend-item'],
        g.children[0].attributes.fill ?? g.children[0].attributes.stroke,
      ]),
    )
    expect(Object.keys(legend)).to.include.members([
      'acknowledged transfers/s',
      'errors/s (failed or rejected)',
      'unknown outcomes/s',
      'us',
      'eu',
      'witness',
      'no leader',
      'fault: kill us',
      'RTO 5.61 s',
    ])
    const bands = findAll(svg, (e) => e.attributes['data-band'] !== undefined)
    for (const band of bands)
      expect(band.attributes.fill, band.attributes['data-value']).to.equal(
        legend[band.attributes['data-value'] || 'no leader'],
      )
    expect(new Set(['us', 'eu', 'witness', 'no leader'].map((k) => legend[k])).size).to.equal(4)
  })

  it('is deterministic: the same report gives the same bytes', async () => {
    const a = path.join(dir, 'a')
    const b = path.join(dir, 'b')
    const {mkdir} = await import('node:fs/promises')
    await mkdir(a)
    await mkdir(b)
    await writeReport(sampleRound(a))
    await writeReport(sampleRound(b))
    const svgA = await readFile(path.join(a, 'report.svg'), 'utf8')
    expect(svgA).to.equal(await readFile(path.join(b, 'report.svg'), 'utf8'))
    expect(svgA).to.not.include('NaN')
    expect(svgA).to.not.include('Infinity')
  })

  it('report.html embeds the same SVG inline and needs no network; report.md links both', async () => {
    const r = sampleRound(dir)
    await writeReport(r)
    const html = await readFile(r.report.html!, 'utf8')
    const svg = await readFile(r.report.picture!, 'utf8')
    expect(html).to.include(svg.trimEnd())
    expect(html).to.match(/^<!doctype html>/)
    expect(html).to.not.match(/<script|<link|<img|<iframe|@import|url\(/i)
    // the only URL is the SVG namespace, which is a name, not a fetch
    expect([...html.matchAll(/https?:\/\/[^\s"'<>]+/g)].map((m) => m[0])).to.deep.equal(['http://www.w3.org/2000/svg'])
    expect(html).to.include('<a href="report.md">report.md</a>')
    const markdown = await readFile(r.report.markdown, 'utf8')
    expect(markdown).to.include('](report.svg)')
    expect(markdown).to.include('[report.html](report.html)')
  })

  it('a round without a workload, and a report from before pictures, still draw: the leaders alone', async () => {
    const r = sampleRound(dir)
    const old = {...r, outcomes: undefined, faultWindows: undefined, worldRegions: undefined} as unknown as BlastResult
    old.rtoSeconds = null
    await writeReport(old)
    const svg = parseXml(await readFile(r.report.picture!, 'utf8'))
    expect(findAll(svg, (e) => e.name === 'polyline')).to.have.length(0)
    expect(findAll(svg, (e) => e.name === 'text' && e.text === 'no workload ran')).to.have.length(1)
    expect(
      findAll(svg, (e) => e.attributes['data-band'] === 'database-leader').map((e) => e.attributes['data-value']),
    ).to.deep.equal(['us', '', 'eu'])
    expect(findAll(svg, (e) => e.attributes['data-marker'] !== undefined)).to.have.length(0)
    checkPictureMatchesReport(svg, JSON.parse(await readFile(r.report.json, 'utf8')))
  })

  it('samples at odd times (the first at -0.841 s): the range drawn is the range stated, whole seconds', async () => {
    const r = sampleRound(dir)
    const odd = {
      ...r,
      outcomes: null,
      rtoSeconds: 2.347,
      timeline: r.timeline.map((p) => ({...p, t: Math.round((p.t - 0.341) * 1000) / 1000})),
    }
    await writeReport(odd)
    const svg = parseXml(await readFile(r.report.picture!, 'utf8'))
    const plot = findAll(svg, (e) => e.attributes['data-plot'] === 'time')[0]
    expect([plot.attributes['data-t-from'], plot.attributes['data-t-to']]).to.deep.equal(['-1', '14'])
    checkPictureMatchesReport(svg, JSON.parse(await readFile(r.report.json, 'utf8')))
  })

  it('escapes what it draws (a region name is text, never markup)', async () => {
    const r = sampleRound(dir)
    r.regions = ['<us & "eu">']
    await writeReport(r)
    const svg = parseXml(await readFile(r.report.picture!, 'utf8'))
    expect(findAll(svg, (e) => e.name === 'title')[0].text).to.include('<us & "eu">')
  })

  it('alerts from Prometheus: one row per alert that fired, from firing to resolved (or to the last sample), none without monitoring', async () => {
    const r = sampleRound(dir)
    const alert = (name: string, region: string, detect: null | number, resolve: null | number) => ({
      name,
      labels: {region},
      pendingAt: null,
      pendingSeconds: null,
      firedAt: detect === null ? null : 'x',
      resolvedAt: resolve === null ? null : 'y',
      detectSeconds: detect,
      resolveSeconds: resolve,
    })
    r.alerts = [
      alert('AtlasPatroniNoLeader', 'us', 1.9, 6.4),
      alert('AtlasPostgresDown', 'us', 2.5, null),
      alert('AtlasReplicationLag', 'eu', null, null),
    ]
    await writeReport(r)
    const svg = parseXml(await readFile(r.report.picture!, 'utf8'))
    const rows = findAll(svg, (e) => e.name === 'rect' && (e.attributes['data-band'] ?? '').startsWith('alert-'))
    expect(
      rows.map((e) => [
        e.attributes['data-band'],
        e.attributes['data-from'],
        e.attributes['data-to'],
        e.attributes['data-value'],
      ]),
    ).to.deep.equal([
      ['alert-AtlasPatroniNoLeader-us', '1.9', '6.4', 'alert firing'],
      // still firing at the end: drawn to the last sample
      ['alert-AtlasPostgresDown-us', '2.5', String(r.timeline[r.timeline.length - 1].t), 'alert firing'],
    ])
    delete r.alerts
    await writeReport(r)
    const without = parseXml(await readFile(r.report.picture!, 'utf8'))
    expect(findAll(without, (e) => (e.attributes['data-band'] ?? '').startsWith('alert-'))).to.have.length(0)
  })

  it("a campaign: every round's alerts are drawn at that round's offset, also those that fired in a later round only", async () => {
    const {blastPicture} = await import('../../../src/lib/report/blast.js')
    const {campaignChart} = await import('../../../src/lib/report/picture.js')
    const {renderChartSvg} = await import('../../../src/lib/report/chart.js')
    const alert = (name: string, region: string, detect: number, resolve: number) => ({
      name,
      labels: {region},
      pendingAt: null,
      pendingSeconds: null,
      firedAt: 'x',
      resolvedAt: 'y',
      detectSeconds: detect,
      resolveSeconds: resolve,
    })
    const first = {...sampleRound(dir), alerts: [alert('AtlasPatroniNoLeader', 'us', 1.9, 6.4)]}
    // the second round (61.5 s later) fires its own alerts: one seen in the first round, one not
    const second = {
      ...sampleRound(dir),
      faultInjectedAt: new Date(Date.parse(first.faultInjectedAt) + 61_500).toISOString(),
      alerts: [alert('AtlasPatroniNoLeader', 'us', 2, 7), alert('AtlasEtcdMemberDown', 'witness', 2.5, 9.5)],
    }
    // and a round where none fired
    const third = {
      ...sampleRound(dir),
      faultInjectedAt: new Date(Date.parse(first.faultInjectedAt) + 123_000).toISOString(),
      alerts: [],
    }
    const chart = campaignChart(
      'Chaos campaign x (seed 1): PASS',
      'three rounds',
      [first, second, third].map((r, i) => ({
        label: `kill us ${i}`,
        faultInjectedAt: r.faultInjectedAt,
        input: blastPicture(r),
      })),
      ['us', 'eu', 'witness'],
    )
    const svg = parseXml(renderChartSvg(chart))
    const rows = findAll(svg, (e) => e.name === 'rect' && (e.attributes['data-band'] ?? '').startsWith('alert-'))
    expect(
      rows.map((e) => [e.attributes['data-band'], e.attributes['data-from'], e.attributes['data-to']]),
    ).to.deep.equal([
      ['alert-AtlasPatroniNoLeader-us', '1.9', '6.4'],
      ['alert-AtlasPatroniNoLeader-us', '63.5', '68.5'],
      ['alert-AtlasEtcdMemberDown-witness', '64', '71'],
    ])
    const titles = findAll(svg, (e) => e.name === 'text').map((e) => e.text)
    expect(titles).to.include('alerts (Prometheus): from firing to resolved')
    // the first round fired none: the panel still says what the later rounds fired
    const quietFirst = campaignChart(
      'c',
      's',
      [third, second].map((r, i) => ({label: `r${i}`, faultInjectedAt: r.faultInjectedAt, input: blastPicture(r)})),
      ['us', 'eu', 'witness'],
    )
    const alertsPanel = quietFirst.panels.find((p) => p.id === 'alerts')!
    expect(alertsPanel.title).to.equal('alerts (Prometheus): from firing to resolved')
    expect(alertsPanel.kind === 'bands' && alertsPanel.rows.map((r) => r.id)).to.deep.equal([
      'alert-AtlasPatroniNoLeader-us',
      'alert-AtlasEtcdMemberDown-witness',
    ])
  })

  it('axis steps are 1, 2 or 5 times a power of ten', () => {
    expect([niceStep(14, 10), niceStep(100, 4), niceStep(7, 4), niceStep(0.3, 4)]).to.deep.equal([2, 50, 2, 0.1])
  })

  it('a campaign: every round at its own offset from the first fault, with gaps between rounds', async () => {
    const {blastPicture} = await import('../../../src/lib/report/blast.js')
    const {campaignChart} = await import('../../../src/lib/report/picture.js')
    const {renderChartSvg} = await import('../../../src/lib/report/chart.js')
    const first = sampleRound(dir)
    const second = {
      ...sampleRound(dir),
      rtoSeconds: 1.25,
      faultInjectedAt: new Date(Date.parse(first.faultInjectedAt) + 61_500).toISOString(),
    }
    const chart = campaignChart(
      'Chaos campaign x (seed 1): PASS',
      'two rounds',
      [first, second].map((r, i) => ({
        label: `kill us ${i}`,
        faultInjectedAt: r.faultInjectedAt,
        input: blastPicture(r),
      })),
      ['us', 'eu', 'witness'],
    )
    const svg = parseXml(renderChartSvg(chart))
    checkCampaignPicture(svg, [first, second])
    // one line per round and series: nothing drawn across the gap
    expect(findAll(svg, (e) => e.name === 'polyline' && e.attributes['data-series'] === 'acknowledged')).to.have.length(
      2,
    )
    const legend = findAll(svg, (e) => e.attributes['data-legend-item'] !== undefined).map(
      (e) => e.attributes['data-legend-item'],
    )
    expect(legend.filter((l) => l === 'fault windows' || l === 'RTO of each round')).to.deep.equal([
      'fault windows',
      'RTO of each round',
    ])
  })
})
