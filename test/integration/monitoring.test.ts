import {parser} from '@prometheus-io/lezer-promql'
// The local world's monitoring, for real: `atlas up` starts Prometheus, Alertmanager and a
// postgres_exporter per region; every target is scraped; a kill of the leader region fires
// the Patroni-leader alert and resolves it after the failover, in the blast-radius report;
// every metric the dashboard's local-world panels name is in a live scrape; `down` stops it
// all by PID; `up --no-monitoring` leaves it out.
import {expect} from 'chai'
import {execa, type ResultPromise} from 'execa'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {BlastResult} from '../../src/lib/chaos/types.js'
import type {AlertEvent} from '../../src/lib/monitoring/prometheus.js'
import type {UpResult, WorldStatus} from '../../src/lib/world/types.js'

import {monitoringPorts} from '../../src/lib/monitoring/layout.js'
import {isListening} from '../../src/lib/proc/index.js'
import {sleep} from '../../src/lib/wait.js'
import {localLayout} from '../../src/lib/world/local/layout.js'
import {parseJsonOutput, REPO_ROOT} from '../helpers/cli.js'
import {checkPictureMatchesReport} from '../helpers/picture.js'
import {createTestWorld, processesMentioning, type TestWorld} from '../helpers/world.js'
import {findAll, parseXml} from '../helpers/xml.js'

interface BlastJson {
  acknowledged: number
  alerts?: AlertEvent[]
  failover: boolean
  faultInjectedAt: string
  lost: number
  report: {json: string; markdown: string; picture?: string}
  rtoSeconds: null | number
  verified: boolean
}

/** Metric names a PromQL expression selects (Prometheus' own grammar). */
function metricsOf(expr: string): string[] {
  const names: string[] = []
  parser.parse(expr).iterate({
    enter(node) {
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier')
        if (id) names.push(expr.slice(id.from, id.to))
      }
    },
  })
  return names
}

describe('monitoring of the local world', function () {
  this.timeout(180_000)
  let world: TestWorld
  let up: UpResult
  let prometheus: string

  const status = async () => parseJsonOutput<WorldStatus>(await world.atlas(['status', '--json']))
  const api = async <T>(p: string): Promise<T> => ((await (await fetch(`${prometheus}${p}`)).json()) as {data: T}).data

  before(async () => {
    world = await createTestWorld('monitoring')
    const result = await world.atlas(['up', '--json'])
    expect(result.exitCode, result.stderr).to.equal(0)
    up = parseJsonOutput<UpResult>(result)
  })

  after(async () => {
    await world?.destroy()
  })

  it('up starts Prometheus and Alertmanager on loopback in the monitoring block; status shows their URLs and every required target up', async () => {
    const m = monitoringPorts(localLayout(world.config, world.baseDir))
    expect(up.monitoring).to.deep.equal({
      enabled: true,
      prometheusUrl: `http://127.0.0.1:${m[0].port}`,
      alertmanagerUrl: `http://127.0.0.1:${m[1].port}`,
    })
    prometheus = up.monitoring!.prometheusUrl!
    let s = await status()
    // the exporters' first scrapes (TLS logins) take a moment after up
    for (let i = 0; i < 40 && !s.monitoring?.allTargetsUp; i++) {
      await sleep(500)
      s = await status()
    }

    expect(s.monitoring!.running).to.equal(true)
    expect(s.monitoring!.allTargetsUp, JSON.stringify(s.monitoring!.targets)).to.equal(true)
    const jobs = (job: string) => s.monitoring!.targets!.filter((t) => t.job === job)
    for (const job of ['etcd', 'patroni', 'postgres']) {
      expect(
        jobs(job).map((t) => [t.region, t.health]),
        job,
      ).to.have.deep.members([
        ['us', 'up'],
        ['eu', 'up'],
        ['witness', 'up'],
      ])
    }

    expect(jobs('prometheus')[0].health).to.equal('up')
    expect(jobs('alertmanager')[0].health).to.equal('up')
    // nothing runs the ledger service or a workload yet: shown, optional, not a fault
    expect(jobs('atlas-ledger').every((t) => t.optional && t.health === 'down')).to.equal(true)
    expect(jobs('atlas-workload').map((t) => [t.optional, t.health])).to.deep.equal([[true, 'down']])
    const alertmanager = await fetch(`${up.monitoring!.alertmanagerUrl}/api/v2/status`)
    expect(alertmanager.ok).to.equal(true)
    // the text form names them too
    const text = await world.atlas(['status'])
    expect(text.stdout).to.include(
      `monitoring: Prometheus ${prometheus}  Alertmanager ${up.monitoring!.alertmanagerUrl}`,
    )
    expect(text.stdout).to.include('targets: every required target is up')
    // postgres_exporter logs in as the monitoring role over TLS: the database answers it
    const pgUp = await api<{result: Array<{metric: {region: string}; value: [number, string]}>}>(
      '/api/v1/query?query=pg_up',
    )
    expect(pgUp.result.map((r) => [r.metric.region, r.value[1]])).to.have.deep.members([
      ['us', '1'],
      ['eu', '1'],
      ['witness', '1'],
    ])
    // no secret reaches a process's argv
    const secrets = Object.values(
      JSON.parse(await readFile(path.join(world.baseDir, 'secrets.json'), 'utf8')) as Record<string, string>,
    )
    for (const p of await processesMentioning(world.baseDir))
      for (const secret of secrets) expect(p.cmdline).to.not.include(secret)
  })

  it("a kill of the leader region fires AtlasPatroniNoLeader and resolves it after the failover, in report.json, report.md and the picture; the round's workload is scraped; nothing is lost", async () => {
    const leader = (await status()).health!.leaderRegion!
    const startedAt = Date.now()
    const result = await world.atlas([
      'blast-radius',
      '--region',
      leader,
      '--mode',
      'kill',
      '--duration',
      '12s',
      '--json',
    ])
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).to.equal(0)
    const json = parseJsonOutput<BlastJson>(result)
    expect(json.verified).to.equal(true)
    expect(json.lost).to.equal(0)
    expect(json.failover).to.equal(true)
    const alerts = json.alerts!
    expect(alerts, 'alerts recorded').to.be.an('array')
    // exactly one, after the fault: none while the world was healthy (nor while Prometheus had scraped nothing yet)
    const noLeaders = alerts.filter((a) => a.name === 'AtlasPatroniNoLeader')
    expect(noLeaders, JSON.stringify(alerts)).to.have.length(1)
    const noLeader = noLeaders[0]
    expect(noLeader!.severity).to.equal('critical')
    expect(noLeader!.resolvedAt, 'resolved after the failover').to.be.a('string')
    expect(noLeader!.resolveSeconds!).to.be.greaterThan(noLeader!.detectSeconds!)
    // resolved once a new leader runs, within the fault (12 s) and not long after the first acknowledged write
    expect(noLeader!.resolveSeconds!).to.be.below(12)
    expect(Date.parse(noLeader!.firedAt!)).to.be.at.least(Date.parse(json.faultInjectedAt))
    // the killed region's members were seen down too
    expect(alerts.some((a) => a.name === 'AtlasEtcdMemberDown' && a.labels.region === leader && a.firedAt)).to.equal(
      true,
    )
    const saved = JSON.parse(await readFile(json.report.json, 'utf8')) as BlastJson
    expect(saved.alerts).to.deep.equal(alerts)
    const md = await readFile(json.report.markdown, 'utf8')
    expect(md).to.include('## Alerts')
    expect(md).to.match(/\| AtlasPatroniNoLeader \| critical \| - \| [\d.-]+ \| [\d.]+ \| [\d.]+ \|/)
    // the picture: one alert row from firing (time to detect) to resolved, as report.json says
    const svg = parseXml(await readFile(json.report.picture!, 'utf8'))
    checkPictureMatchesReport(svg, JSON.parse(await readFile(json.report.json, 'utf8')) as BlastResult)
    const row = findAll(svg, (e) => e.name === 'rect' && e.attributes['data-band'] === 'alert-AtlasPatroniNoLeader')
    expect(
      row.map((e) => [Number(e.attributes['data-from']), Number(e.attributes['data-to'])]),
      'AtlasPatroniNoLeader in the picture',
    ).to.deep.equal([[noLeader.detectSeconds, noLeader.resolveSeconds]])

    // the round's workload was a scrape target while it ran: up, with its acknowledged transfers counted
    const window = `${Math.ceil((Date.now() - startedAt) / 1000) + 5}s`
    const query = async (q: string) =>
      (
        await api<{result: Array<{metric: Record<string, string>; value: [number, string]}>}>(
          `/api/v1/query?query=${encodeURIComponent(q)}`,
        )
      ).result
    const workloadUp = await query(`max_over_time(up{job="atlas-workload"}[${window}])`)
    expect(
      workloadUp.map((r) => r.value[1]),
      'the workload scraped up during the round',
    ).to.deep.equal(['1'])
    const committed = await query(
      `max_over_time(atlas_transfers_total{job="atlas-workload", outcome="committed"}[${window}])`,
    )
    expect(committed, 'the workload reported committed transfers').to.have.length(1)
    expect(Number(committed[0].value[1])).to.be.greaterThan(0).and.at.most(json.acknowledged)
    console.log(
      `      kill ${leader}: AtlasPatroniNoLeader detected at ${noLeader!.detectSeconds} s, resolved at ${noLeader!.resolveSeconds} s; RTO ${json.rtoSeconds} s`,
    )
  })

  it('every metric a local-world panel of the Grafana dashboard names exists in a live scrape of the local world', async () => {
    // the ledger service's histogram and queue gauge exist once it runs: run it for a few scrapes
    const serve: ResultPromise = execa(
      process.execPath,
      [path.join(REPO_ROOT, 'bin', 'run.js'), 'ledger', 'serve', '--region', 'us', '--wait-seconds', '1'],
      {env: {ATLAS_CONFIG: world.configFile, NO_COLOR: '1'}, reject: false, all: true},
    )
    let output = ''
    serve.all?.on('data', (d: Buffer) => (output += d))
    try {
      const service = localLayout(world.config, world.baseDir).regions[0].servicePort
      let scraped = false
      // up within seconds on a quiet machine; the service's start took over 30 s on 2 cores shared with other worlds
      for (let i = 0; i < 180 && !scraped && serve.exitCode === null; i++) {
        await sleep(500)
        const targets = await api<{activeTargets: Array<{health: string; labels: Record<string, string>}>}>(
          '/api/v1/targets?state=active',
        )
        scraped = targets.activeTargets.some(
          (t) => t.labels.job === 'atlas-ledger' && t.labels.instance.endsWith(`:${service}`) && t.health === 'up',
        )
      }

      expect(scraped, `Prometheus scrapes the ledger service (exit ${serve.exitCode}): ${output}`).to.equal(true)
      const names = new Set(await api<string[]>('/api/v1/label/__name__/values'))
      // families without a sample yet (a histogram before its first transfer) are in the scraped metadata
      const metadata = await api<Record<string, unknown>>('/api/v1/metadata')
      const exists = (name: string) =>
        names.has(name) || name in metadata || name.replace(/_(bucket|sum|count)$/, '') in metadata
      const dashboard = JSON.parse(
        await readFile(path.join(REPO_ROOT, 'charts', 'ledger', 'files', 'grafana-dashboard.json'), 'utf8'),
      ) as {panels: Array<{targets?: Array<{expr: string}>; title: string; type: string}>}
      const local = dashboard.panels.filter(
        (p) => p.type !== 'row' && p.targets && !p.targets.some((t) => t.expr.includes('job="cockroachdb"')),
      )
      expect(local.length).to.be.greaterThan(10)
      const missing: string[] = []
      for (const panel of local)
        for (const t of panel.targets!)
          for (const name of metricsOf(t.expr)) if (!exists(name)) missing.push(`${panel.title}: ${name}`)
      expect(missing).to.deep.equal([])
      // the check can fail: a name no target exports is missing
      expect(exists('patroni_primary_typo')).to.equal(false)
    } finally {
      serve.kill('SIGTERM')
      await serve
    }
  })

  it('down stops every monitoring process by PID and frees its ports; up --no-monitoring leaves monitoring out', async () => {
    const down = await world.atlas(['down', '--json'])
    expect(down.exitCode, down.stderr).to.equal(0)
    const {stopped} = parseJsonOutput<{stopped: string[]}>(down)
    expect(stopped).to.include.members([
      'prometheus',
      'alertmanager',
      'postgres-exporter-us',
      'postgres-exporter-eu',
      'postgres-exporter-witness',
    ])
    const ports = monitoringPorts(localLayout(world.config, world.baseDir))
    for (const {port, owner} of ports) expect(await isListening(port, '127.0.0.1', 300), owner).to.equal(false)
    expect((await processesMentioning(path.join(world.baseDir, 'monitoring'))).map((p) => p.cmdline)).to.deep.equal([])

    const again = await world.atlas(['up', '--no-monitoring', '--json'])
    expect(again.exitCode, again.stderr).to.equal(0)
    expect(parseJsonOutput<UpResult>(again).monitoring).to.deep.equal({
      enabled: false,
      reason: 'left out (--no-monitoring)',
    })
    const s = await status()
    expect(s.monitoring).to.equal(undefined)
    for (const {port, owner} of ports.slice(0, 2))
      expect(await isListening(port, '127.0.0.1', 300), owner).to.equal(false)
  })
})
