import {parser} from '@prometheus-io/lezer-promql'
import {expect} from 'chai'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {parse as parseYaml} from 'yaml'

import {parseMetricFamilies} from '../../../src/lib/health/cockroach-metrics.js'

/**
 * The alert rules and the Grafana dashboard shipped with the charts: every
 * PromQL expression parses, and every metric it names exists in the recorded
 * CockroachDB metric text or in the ledger service's metric contract
 * (test/fixtures/cockroach/ledger-service.prom), with labels they really carry.
 */
const FIXTURES = path.join('test', 'fixtures', 'cockroach')
/** scrapes of the local world's etcd, Patroni and postgres_exporter, recorded from a running world */
const LOCAL_FIXTURES = path.join('test', 'fixtures', 'monitoring')
const COCKROACH_RULES = path.join('charts', 'cockroachdb', 'files', 'prometheus-alerts.yaml')
const LEDGER_RULES = path.join('charts', 'ledger', 'files', 'prometheus-alerts.yaml')
const DASHBOARD = path.join('charts', 'ledger', 'files', 'grafana-dashboard.json')
const LOCAL_RULES = path.join('monitoring', 'local', 'alert-rules.yaml')

/** Prometheus's own series, and labels every scraped target gets (job, instance; region by relabelling). */
const PROMETHEUS_SERIES = new Map([['up', new Set<string>()]])
const TARGET_LABELS = new Set(['job', 'instance', 'region'])

interface Rule {
  alert?: string
  annotations?: Record<string, string>
  expr: string
  for?: string
  labels?: Record<string, string>
}

/** metric name -> label names it carries, from Prometheus text (histograms expand to _bucket/_sum/_count). */
async function knownMetrics(): Promise<Map<string, Set<string>>> {
  const files = [
    ...['n1-healthy.prom', 'n2-healthy.prom', 'n3-healthy.prom', 'n1-quorum-lost.prom', 'ledger-service.prom'].map(
      (f) => path.join(FIXTURES, f),
    ),
    ...[
      'etcd-us.prom',
      'patroni-eu-leader.prom',
      'patroni-us-sync-standby.prom',
      'postgres-exporter-eu-leader.prom',
    ].map((f) => path.join(LOCAL_FIXTURES, f)),
  ]
  const known = new Map<string, Set<string>>(PROMETHEUS_SERIES)
  for (const file of files) {
    for (const family of parseMetricFamilies(await readFile(file, 'utf8'))) {
      const labels = new Set(family.metrics.flatMap((m) => Object.keys(m.labels ?? {})))
      const add = (name: string, extra: string[] = []) => {
        const set = known.get(name) ?? new Set<string>()
        for (const l of [...labels, ...extra]) set.add(l)
        known.set(name, set)
      }

      if (family.type === 'HISTOGRAM') {
        add(`${family.name}_bucket`, ['le'])
        add(`${family.name}_sum`)
        add(`${family.name}_count`)
      } else add(family.name)
    }
  }

  return known
}

interface Selector {
  labels: string[]
  metric: string
}

/** Parses PromQL with Prometheus's own grammar; returns the vector selectors, throws on a syntax error. */
function selectorsOf(expr: string): Selector[] {
  const tree = parser.parse(expr)
  const errors: number[] = []
  const selectors: Selector[] = []
  tree.iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from)
      if (node.name === 'VectorSelector') {
        const metricNode = node.node.getChild('Identifier')
        const labels: string[] = []
        const matchers = node.node.getChild('LabelMatchers')
        if (matchers) {
          for (let c = matchers.firstChild; c; c = c.nextSibling) {
            const labelName = c.getChild('LabelName')
            if (labelName) labels.push(expr.slice(labelName.from, labelName.to))
          }
        }

        if (metricNode) selectors.push({metric: expr.slice(metricNode.from, metricNode.to), labels})
      }
    },
  })
  if (errors.length > 0) throw new Error(`PromQL syntax error at offset ${errors[0]} in: ${expr}`)
  return selectors
}

function checkExpression(expr: string, known: Map<string, Set<string>>, where: string): Selector[] {
  const selectors = selectorsOf(expr)
  expect(selectors, `${where}: names no metric`).to.not.be.empty
  for (const s of selectors) {
    expect(
      known.has(s.metric),
      `${where}: metric ${s.metric} is not exported by CockroachDB or the ledger service`,
    ).to.equal(true)
    for (const label of s.labels) {
      const ok = TARGET_LABELS.has(label) || known.get(s.metric)!.has(label)
      expect(ok, `${where}: ${s.metric} has no label "${label}"`).to.equal(true)
    }
  }

  return selectors
}

async function rulesOf(file: string): Promise<Rule[]> {
  const doc = parseYaml(await readFile(file, 'utf8')) as {groups: Array<{name: string; rules: Rule[]}>}
  expect(doc.groups, `${file}: groups`).to.be.an('array').that.is.not.empty
  return doc.groups.flatMap((g) => {
    expect(g.name, `${file}: group name`).to.be.a('string')
    return g.rules
  })
}

describe('observability: Prometheus alert rules and the Grafana dashboard', () => {
  let known: Map<string, Set<string>>

  before(async () => {
    known = await knownMetrics()
  })

  it('the expression checker rejects what it should (unknown metric, unknown label, syntax)', () => {
    expect(() => checkExpression('sum(ranges_unavailible) > 0', known, 't')).to.throw(
      /ranges_unavailible is not exported/,
    )
    expect(() => checkExpression('ranges_unavailable{zone="a"} > 0', known, 't')).to.throw(/has no label "zone"/)
    expect(() => checkExpression('sum(rate(atlas_transfers_total[5m]) > 0', known, 't')).to.throw(/syntax error/)
    expect(
      checkExpression('sum by (le) (rate(atlas_transfer_duration_seconds_bucket{le="1"}[5m]))', known, 't')[0].metric,
    ).to.equal('atlas_transfer_duration_seconds_bucket')
  })

  for (const file of [COCKROACH_RULES, LEDGER_RULES, LOCAL_RULES]) {
    it(`${file}: every rule parses, is well-formed and names existing metrics`, async () => {
      const rules = await rulesOf(file)
      const names = new Set<string>()
      for (const rule of rules) {
        expect(rule.alert, 'every rule is an alert').to.match(/^[A-Z][A-Za-z]+$/)
        expect(names.has(rule.alert!), `duplicate alert ${rule.alert}`).to.equal(false)
        names.add(rule.alert!)
        if (rule.for !== undefined) expect(rule.for).to.match(/^\d+[smh]$/)
        expect(rule.labels?.severity, `${rule.alert}: severity`).to.be.oneOf(['critical', 'warning'])
        expect(rule.annotations?.summary, `${rule.alert}: summary`).to.be.a('string').and.not.empty
        expect(rule.annotations?.description, `${rule.alert}: description`).to.be.a('string').and.not.empty
        checkExpression(rule.expr, known, `${file} ${rule.alert}`)
      }
    })
  }

  it('covers the signals CockroachDB recommends alerting on', async () => {
    const rules = await rulesOf(COCKROACH_RULES)
    const metricsOf = (alert: string) => selectorsOf(rules.find((r) => r.alert === alert)!.expr).map((s) => s.metric)
    expect(metricsOf('CockroachUnavailableRanges')).to.deep.equal(['ranges_unavailable'])
    expect(metricsOf('CockroachUnderReplicatedRanges')).to.deep.equal(['ranges_underreplicated'])
    expect(metricsOf('CockroachLivenessMismatch')).to.deep.equal(['liveness_livenodes', 'up'])
    expect(metricsOf('CockroachSlowRaftRequests')).to.deep.equal(['requests_slow_raft'])
    expect(metricsOf('CockroachNodeDown')).to.deep.equal(['up'])
    expect(rules.find((r) => r.alert === 'CockroachUnavailableRanges')!.labels!.severity).to.equal('critical')
  })

  it('the dashboard is valid Grafana JSON whose every query parses and names existing metrics', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
      panels: Array<{
        gridPos: {h: number; w: number; x: number; y: number}
        id: number
        targets?: Array<{expr: string; refId: string}>
        title: string
        type: string
      }>
      schemaVersion: number
      templating: {list: Array<{name: string; type: string}>}
      uid: string
    }
    expect(dashboard.uid).to.equal('atlas-ledger')
    expect(dashboard.schemaVersion).to.be.at.least(30)
    expect(dashboard.templating.list.map((v) => v.name)).to.include.members(['datasource', 'region'])
    const ids = dashboard.panels.map((p) => p.id)
    expect(new Set(ids).size, 'panel ids are unique').to.equal(ids.length)
    const used = new Set<string>()
    for (const panel of dashboard.panels) {
      expect(panel.gridPos.x + panel.gridPos.w, `${panel.title} fits the 24-column grid`).to.be.at.most(24)
      if (panel.type === 'row') continue
      expect(panel.targets, `${panel.title}: targets`).to.be.an('array').that.is.not.empty
      for (const target of panel.targets!)
        for (const s of checkExpression(target.expr, known, `panel "${panel.title}" ${target.refId}`))
          used.add(s.metric)
    }

    // what the dashboard shows of both worlds: transfers per region, latency, errors, the leader, replication lag, Raft health
    expect([...used]).to.include.members([
      'patroni_primary',
      'patroni_sync_standby',
      'pg_stat_replication_pg_wal_lsn_diff',
      'etcd_server_has_leader',
      'atlas_audit_write_failures_total',
      'atlas_transfers_total',
      'atlas_transfer_duration_seconds_bucket',
      'liveness_livenodes',
      'ranges_unavailable',
      'ranges_underreplicated',
      'replicas_leaseholders',
      'requests_slow_raft',
    ])
  })
})
