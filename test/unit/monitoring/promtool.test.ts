// Every Prometheus rule file of both worlds through promtool (check rules), the local
// world's rules through their unit tests (test rules), each alert's runbook, and the
// generated Prometheus and Alertmanager configurations through promtool / amtool.
import {expect} from 'chai'
import {execa} from 'execa'
import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {parse as parseYaml, stringify} from 'yaml'

import {DEFAULT_CONFIG} from '../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../src/lib/config/load.js'
import {alertmanagerConfig, JOBS, prometheusConfig} from '../../../src/lib/monitoring/config.js'
import {monitoringLayout} from '../../../src/lib/monitoring/layout.js'
import {findExecutable} from '../../../src/lib/tools/discovery.js'
import {localLayout} from '../../../src/lib/world/local/layout.js'

const LOCAL_RULES = path.join('monitoring', 'local', 'alert-rules.yaml')
const LOCAL_RULE_TESTS = path.join('monitoring', 'local', 'alert-rules.test.yaml')

/** Every rule file in the repository: the local world's and those the k3d world's charts ship (PrometheusRule / ConfigMap sources). */
async function ruleFiles(): Promise<string[]> {
  const files = [LOCAL_RULES]
  for (const chart of await readdir('charts')) {
    const dir = path.join('charts', chart, 'files')
    const names = await readdir(dir).catch(() => [] as string[])
    for (const name of names) if (/alerts?\.ya?ml$/.test(name)) files.push(path.join(dir, name))
  }

  return files
}

interface Rule {
  alert?: string
  annotations?: Record<string, string>
}

describe('Prometheus rules and configuration (promtool)', function () {
  this.timeout(60_000)
  let promtool: string | undefined
  let amtool: string | undefined

  before(async () => {
    promtool = await findExecutable('promtool')
    amtool = await findExecutable('amtool')
  })

  it('finds the rule files of both worlds', async () => {
    const files = await ruleFiles()
    expect(files).to.include.members([
      LOCAL_RULES,
      path.join('charts', 'cockroachdb', 'files', 'prometheus-alerts.yaml'),
      path.join('charts', 'ledger', 'files', 'prometheus-alerts.yaml'),
    ])
  })

  it('promtool check rules passes on every rule file of both worlds', async function () {
    if (!promtool) this.skip() // setup.sh installs it (apt-get install prometheus); CI runs this
    const files = await ruleFiles()
    const result = await execa(promtool!, ['check', 'rules', ...files], {reject: false})
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).to.equal(0)
    expect(result.stdout.match(/SUCCESS/g)?.length).to.equal(files.length)
  })

  it('promtool check rules rejects a broken rule (the check can fail)', async function () {
    if (!promtool) this.skip() // setup.sh installs it (apt-get install prometheus); CI runs this
    const dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-rules-'))
    try {
      const bad = path.join(dir, 'bad.yaml')
      await writeFile(bad, stringify({groups: [{name: 'g', rules: [{alert: 'Broken', expr: 'sum(rate(x[1m])'}]}]}))
      const result = await execa(promtool!, ['check', 'rules', bad], {reject: false})
      expect(result.exitCode).to.not.equal(0)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it("promtool test rules: the local world's alert rules fire and resolve as their unit tests say", async function () {
    if (!promtool) this.skip() // setup.sh installs it (apt-get install prometheus); CI runs this
    const result = await execa(promtool!, ['test', 'rules', path.basename(LOCAL_RULE_TESTS)], {
      cwd: path.dirname(LOCAL_RULE_TESTS),
      reject: false,
    })
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).to.equal(0)
    expect(result.stdout).to.match(/SUCCESS/)
  })

  it('every local alert has a severity, a summary and a runbook in docs/runbooks that says what it means, how to confirm and how to fix; and a unit test', async () => {
    const doc = parseYaml(await readFile(LOCAL_RULES, 'utf8')) as {groups: Array<{rules: Rule[]}>}
    const tests = await readFile(LOCAL_RULE_TESTS, 'utf8')
    const alerts = doc.groups.flatMap((g) => g.rules).filter((r) => r.alert)
    expect(alerts.map((a) => a.alert)).to.include.members([
      'AtlasPatroniNoLeader',
      'AtlasSyncStandbyMissing',
      'AtlasReplicationLagHigh',
      'AtlasEtcdNoLeader',
      'AtlasEtcdQuorumLost',
      'AtlasTransferErrorRate',
      'AtlasTransferUnknownOutcomes',
      'AtlasAuditWriteFailures',
    ])
    for (const rule of alerts) {
      expect(rule.annotations?.runbook_url, `${rule.alert}: runbook_url`).to.equal(`docs/runbooks/${rule.alert}.md`)
      const runbook = await readFile(rule.annotations!.runbook_url, 'utf8')
      expect(runbook, `${rule.alert}: runbook title`).to.match(new RegExp(`^# ${rule.alert}\\n`))
      for (const section of ['## What it means', '## How to confirm', '## How to fix'])
        expect(runbook, `${rule.alert}: ${section}`).to.include(section)
      expect(tests, `${rule.alert} has a promtool unit test`).to.include(`alertname: ${rule.alert}`)
    }
  })

  it('the generated Prometheus configuration passes promtool check config (loopback targets, the rules, etcd over TLS)', async function () {
    if (!promtool) this.skip() // setup.sh installs it (apt-get install prometheus); CI runs this
    const dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-prom-'))
    try {
      const layout = localLayout(parseConfigObject({...DEFAULT_CONFIG, local: {basePort: 30_000}}), dir)
      // promtool reads the TLS files the configuration names: stand-ins at the same paths
      await mkdir(path.join(dir, 'pki'), {recursive: true})
      for (const f of ['ca.crt', 'etcd-client-atlas.crt', 'etcd-client-atlas.key'])
        await writeFile(path.join(dir, 'pki', f), '')
      const config = prometheusConfig(layout) as {
        rule_files: string[]
        scrape_configs: Array<{
          job_name: string
          scheme?: string
          static_configs: Array<{labels?: Record<string, string>; targets: string[]}>
        }>
      }
      const file = path.join(dir, 'prometheus.yml')
      await writeFile(file, stringify(config))
      const result = await execa(promtool!, ['check', 'config', '--syntax-only', file], {reject: false})
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).to.equal(0)
      const rules = await execa(promtool!, ['check', 'rules', ...config.rule_files], {reject: false})
      expect(rules.exitCode, rules.stdout).to.equal(0)
      // etcd, Patroni (and the exporters' databases) on their region's address, the rest on the world's, in its blocks
      const regionAddress = new Map(layout.regions.map((r) => [r.region.name, r.address]))
      for (const job of config.scrape_configs) {
        for (const s of job.static_configs) {
          const host = ['etcd', 'patroni'].includes(job.job_name) ? regionAddress.get(s.labels!.region!)! : '127.0.0.1'
          for (const t of s.targets)
            expect(t, job.job_name)
              .to.equal(`${host}:${t.split(':')[1]}`)
              .and.match(/:30\d{3}$/)
        }
      }

      expect(config.scrape_configs.map((j) => j.job_name)).to.have.members(Object.values(JOBS))
      const etcd = config.scrape_configs.find((j) => j.job_name === 'etcd')!
      expect(etcd.scheme).to.equal('https')
      expect(etcd.static_configs.map((s) => s.labels?.region)).to.deep.equal(['us', 'eu', 'witness'])
      const m = monitoringLayout(layout)
      expect(m.prometheusPort).to.equal(layout.motoPort + 10)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('the generated Alertmanager configuration passes amtool check-config', async function () {
    if (!amtool) this.skip() // setup.sh installs it (apt-get install prometheus-alertmanager); CI runs this
    const dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-am-'))
    try {
      const file = path.join(dir, 'alertmanager.yml')
      await writeFile(file, stringify(alertmanagerConfig()))
      const result = await execa(amtool!, ['check-config', file], {reject: false})
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).to.equal(0)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})
