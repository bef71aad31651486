// The monitoring module's pure parts: alert events from Prometheus' ALERTS series,
// the workload's metrics text, the exporter's connection and the status lines.
import {expect} from 'chai'

import type {WorkloadStats} from '../../../src/lib/ledger/workload/index.js'

import {DEFAULT_CONFIG} from '../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../src/lib/config/load.js'
import {parseMetricFamilies} from '../../../src/lib/health/cockroach-metrics.js'
import {formatAlertsMarkdown} from '../../../src/lib/monitoring/chaos.js'
import {exporterEnv, prometheusConfig} from '../../../src/lib/monitoring/config.js'
import {formatMonitoringStatus} from '../../../src/lib/monitoring/format.js'
import {LocalMonitoring} from '../../../src/lib/monitoring/local.js'
import {alertEvents, alertKey, type RangeSeries} from '../../../src/lib/monitoring/prometheus.js'
import {workloadMetricsText} from '../../../src/lib/monitoring/workload-metrics.js'
import {clientAddresses, localLayout, pgHba} from '../../../src/lib/world/local/layout.js'
import {grantStatements} from '../../../src/lib/world/local/roles.js'

const layout = localLayout(
  parseConfigObject({...DEFAULT_CONFIG, local: {basePort: 30_000}}),
  '/tmp/atlas-monitoring-test',
)
const T0 = 1_800_000_000
const fault = new Date((T0 + 10) * 1000)
const at = (t: number) => new Date((T0 + t) * 1000).toISOString()
const samples = (from: number, to: number): Array<[number, string]> =>
  Array.from({length: to - from + 1}, (_, i) => [T0 + from + i, '1'])

describe('monitoring: alert events of a chaos run', () => {
  const noLeader = {__name__: 'ALERTS', alertname: 'AtlasPatroniNoLeader', severity: 'critical'}
  const series: RangeSeries[] = [
    {metric: {...noLeader, alertstate: 'pending'}, values: samples(12, 12)},
    {metric: {...noLeader, alertstate: 'firing'}, values: samples(13, 17)},
    {
      metric: {
        __name__: 'ALERTS',
        alertname: 'AtlasEtcdMemberDown',
        severity: 'warning',
        region: 'us',
        alertstate: 'pending',
      },
      values: samples(11, 12),
    },
    {
      metric: {
        __name__: 'ALERTS',
        alertname: 'AtlasEtcdMemberDown',
        severity: 'warning',
        region: 'us',
        alertstate: 'firing',
      },
      values: samples(13, 30),
    },
    {
      metric: {__name__: 'ALERTS', alertname: 'AtlasNoSyncStandby', severity: 'critical', alertstate: 'pending'},
      values: samples(14, 16),
    },
  ]

  it('gives each alert its pending, firing and resolved times relative to the fault (time to detect, time to resolve)', () => {
    const events = alertEvents(series, fault, 1, new Set())
    const leader = events.find((e) => e.name === 'AtlasPatroniNoLeader')!
    expect(leader).to.deep.equal({
      name: 'AtlasPatroniNoLeader',
      severity: 'critical',
      labels: {},
      pendingAt: at(12),
      pendingSeconds: 2,
      firedAt: at(13),
      resolvedAt: at(18),
      detectSeconds: 3,
      resolveSeconds: 8,
    })
    const etcd = events.find((e) => e.name === 'AtlasEtcdMemberDown')!
    expect(etcd).to.include({detectSeconds: 3, resolveSeconds: 21})
    expect(etcd.labels).to.deep.equal({region: 'us'})
    // pending that never reached its `for`: no firing time, resolved when it stopped pending
    const sync = events.find((e) => e.name === 'AtlasNoSyncStandby')!
    expect(sync).to.include({firedAt: null, detectSeconds: null, pendingSeconds: 4, resolveSeconds: 7})
    expect(events.map((e) => e.name)).to.deep.equal([
      'AtlasEtcdMemberDown',
      'AtlasPatroniNoLeader',
      'AtlasNoSyncStandby',
    ])
  })

  it('an alert Prometheus still reports active has no resolution yet; one that fired twice is two events', () => {
    const active = new Set([alertKey({alertname: 'AtlasEtcdMemberDown', severity: 'warning', region: 'us'})])
    const twice: RangeSeries[] = [...series, {metric: {...noLeader, alertstate: 'firing'}, values: samples(25, 27)}]
    const events = alertEvents(twice, fault, 1, active)
    expect(events.find((e) => e.name === 'AtlasEtcdMemberDown')).to.include({resolvedAt: null, resolveSeconds: null})
    const leaders = events.filter((e) => e.name === 'AtlasPatroniNoLeader')
    expect(leaders.map((e) => [e.detectSeconds, e.resolveSeconds])).to.deep.equal([
      [3, 8],
      [15, 18],
    ])
  })

  it('the report table lists every alert with its times, and says when nothing was recorded', () => {
    const md = formatAlertsMarkdown(alertEvents(series, fault, 1, new Set())).join('\n')
    expect(md).to.match(/\| AtlasPatroniNoLeader \| critical \| - \| 2\.0 \| 3\.0 \| 8\.0 \|/)
    expect(md).to.match(/\| AtlasNoSyncStandby \| critical \| - \| 4\.0 \| - \| 7\.0 \(never fired\) \|/)
    expect(formatAlertsMarkdown(undefined).join('\n')).to.match(/without monitoring/)
    expect(formatAlertsMarkdown([]).join('\n')).to.match(/No alert fired/)
  })
})

describe('monitoring: processes, exporter and workload metrics', () => {
  it("runs every process on loopback in the world's monitoring block; the exporter's credentials are in its environment, never its argv", () => {
    const procs = new LocalMonitoring(layout).processes()
    expect(procs.map((p) => p.name)).to.deep.equal([
      'prometheus',
      'alertmanager',
      'postgres-exporter-us',
      'postgres-exporter-eu',
      'postgres-exporter-witness',
    ])
    for (const p of procs) {
      const listen = p.args.find((a) => a.startsWith('--web.listen-address='))
      expect(listen, p.name).to.match(/^--web\.listen-address=127\.0\.0\.1:300[7-9]\d$/)
      expect(p.args.join(' ')).to.not.match(/password|PASS/i)
    }

    // Alertmanager's gossip would listen on every interface
    expect(procs[1].args).to.include('--cluster.listen-address=')
    const env = exporterEnv(layout, 0)
    expect(env).to.deep.equal({
      DATA_SOURCE_URI: '127.0.1.1:30002/postgres?sslmode=verify-full&sslrootcert=/tmp/atlas-monitoring-test/pki/ca.crt',
      DATA_SOURCE_USER: 'atlas_monitor',
      DATA_SOURCE_PASS_FILE: '/tmp/atlas-monitoring-test/monitoring/exporter-password',
    })
  })

  it('the monitoring role logs in over TLS only, with pg_monitor and no table of the ledger', () => {
    const tcp = pgHba(layout).filter((l) => l.includes('atlas_monitor'))
    // one line per client address of the world (127.0.0.1, the world's and each region's)
    expect(tcp).to.have.length(clientAddresses(layout).length)
    for (const line of tcp) expect(line).to.match(/^hostssl .* scram-sha-256$/)
    const grants = grantStatements().filter((g) => g.includes('atlas_monitor'))
    expect(grants).to.include('GRANT pg_monitor TO atlas_monitor')
    expect(grants.filter((g) => g.startsWith('GRANT')).join('\n')).to.not.match(/ON (accounts|transfers|ledger_mint)/)
  })

  it("the workload's counters use the ledger service's metric names and parse as Prometheus text", () => {
    const stats = {
      applied: 120,
      alreadyApplied: 3,
      rejected: 1,
      failed: 2,
      unknown: 4,
      sent: 0,
      retries: 7,
      auditErrors: 1,
      inFlight: 4,
    } as WorkloadStats
    const families = parseMetricFamilies(workloadMetricsText(stats, 'us'))
    const transfers = families.find((f) => f.name === 'atlas_transfers_total')!
    const byOutcome = Object.fromEntries(transfers.metrics.map((m) => [m.labels!.outcome, Number(m.value)]))
    expect(byOutcome).to.include({committed: 120, duplicate: 3, rejected: 1, failed: 2, unknown: 4})
    expect(transfers.metrics.every((m) => m.labels!.region === 'us')).to.equal(true)
    expect(Number(families.find((f) => f.name === 'atlas_audit_write_failures_total')!.metrics[0].value)).to.equal(1)
    expect(Number(families.find((f) => f.name === 'atlas_transfer_retries_total')!.metrics[0].value)).to.equal(7)
  })

  it('scrapes the ledger service and the workload with their own region label (honor_labels)', () => {
    const jobs = (prometheusConfig(layout) as {scrape_configs: Array<{honor_labels?: boolean; job_name: string}>})
      .scrape_configs
    expect(jobs.filter((j) => j.honor_labels).map((j) => j.job_name)).to.deep.equal(['atlas-ledger', 'atlas-workload'])
  })

  it('status lines: URLs, each job up or down, optional jobs not running is not a fault, firing alerts', () => {
    const lines = formatMonitoringStatus({
      running: true,
      processes: [{name: 'prometheus', pid: 1}],
      prometheusUrl: 'http://127.0.0.1:30070',
      alertmanagerUrl: 'http://127.0.0.1:30071',
      targets: [
        {job: 'etcd', instance: 'a', region: 'us', health: 'down', optional: false},
        {job: 'etcd', instance: 'b', region: 'eu', health: 'up', optional: false},
        {job: 'atlas-ledger', instance: 'c', region: 'us', health: 'down', optional: true},
      ],
      allTargetsUp: false,
      alerts: [{key: 'k', name: 'AtlasEtcdMemberDown', state: 'firing', labels: {region: 'us'}}],
    }).join('\n')
    expect(lines).to.include('Prometheus http://127.0.0.1:30070  Alertmanager http://127.0.0.1:30071')
    expect(lines).to.match(/etcd +1\/2 up \(DOWN: us\)/)
    expect(lines).to.match(/atlas-ledger +0\/1 up \(not running: us\)/)
    expect(lines).to.include('FIRING: AtlasEtcdMemberDown (us)')
  })
})

describe('monitoring: not installed', () => {
  it('up goes on without it: start() says which packages are missing and how to install them, and starts nothing', async () => {
    const {CommandRunner} = await import('../../../src/lib/tools/runner.js')
    const runner = new CommandRunner({dryRun: true})
    const monitoring = new LocalMonitoring(layout, async (name) =>
      name === 'prometheus' ? '/usr/bin/prometheus' : undefined,
    )
    const result = await monitoring.start(runner, 'unused')
    expect(result.enabled).to.equal(false)
    expect(result.reason).to.equal(
      'prometheus-alertmanager, prometheus-postgres-exporter are not installed: apt-get install prometheus prometheus-alertmanager prometheus-postgres-exporter (npm run setup installs them)',
    )
    expect(result.started).to.deep.equal([])
    expect(runner.plan).to.deep.equal([])
    await result.ready
  })
})

describe('monitoring: the blast-radius summary line', () => {
  it('names what fired after the fault with its times; nothing without monitoring', async () => {
    const {formatAlertsSummary} = await import('../../../src/lib/monitoring/chaos.js')
    const base = {
      severity: 'critical',
      labels: {},
      pendingAt: null,
      pendingSeconds: null,
      firedAt: at(13),
      resolvedAt: at(18),
      detectSeconds: 3,
      resolveSeconds: 8,
    }
    expect(
      formatAlertsSummary([
        {...base, name: 'AtlasPatroniNoLeader'},
        {...base, name: 'AtlasEtcdMemberDown', labels: {region: 'us'}, resolvedAt: null, resolveSeconds: null},
        {...base, name: 'Before', detectSeconds: -4},
      ]),
    ).to.equal(
      '  alerts (fired -> resolved, s after the fault): AtlasPatroniNoLeader 3.0 s -> 8.0 s; AtlasEtcdMemberDown (us) 3.0 s, still firing',
    )
    expect(formatAlertsSummary(undefined)).to.equal(undefined)
    expect(formatAlertsSummary([])).to.equal('  alerts: none fired after the fault')
  })
})
