import {expect} from 'chai'
import {readFileSync} from 'node:fs'
// The charts' security objects as Kubernetes would read them: the NetworkPolicies
// evaluated by a small model of the NetworkPolicy semantics (a pod selected by any
// policy of a direction is isolated in it; traffic passes when a rule of a selecting
// policy admits it), the ServiceAccounts, the namespace labels the ApplicationSets
// keep, the AppProject's destinations, and CockroachDB's encryption-at-rest flag.
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {parse, parseAllDocuments} from 'yaml'

import {DEFAULT_CONFIG, parseConfigObject} from '../../../src/lib/config/index.js'
import {DEFAULT_RENDER_INPUTS, renderWorld, writeRendered} from '../../../src/lib/gitops/index.js'
import {K3D_NETWORK_SUBNET, POD_SECURITY_LABELS} from '../../../src/lib/gitops/topology.js'
import {packagePath} from '../../../src/lib/paths.js'
import {CommandRunner} from '../../../src/lib/tools/runner.js'
import {sqlJobObjects} from '../../../src/lib/world/k3d/sql-job.js'

type Obj = {
  automountServiceAccountToken?: boolean
  kind: string
  metadata: {annotations?: Record<string, string>; labels?: Record<string, string>; name: string}
  spec?: any
}
interface Peer {
  ip?: string
  labels?: Record<string, string>
  ns?: Record<string, string>
}
interface Pod {
  labels: Record<string, string>
  ports: Record<string, number>
}

const config = parseConfigObject(DEFAULT_CONFIG)
const ATLAS_NS = {'kubernetes.io/metadata.name': 'atlas'}
const matches = (selector: any, labels: Record<string, string> = {}) =>
  Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v)
const inCidr = (ip: string, cidr: string) => {
  const [base, bits] = cidr.split('/')
  const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0)
  const mask = 2 ** 32 - 2 ** (32 - Number(bits))
  return (n(ip) & mask) >>> 0 === (n(base) & mask) >>> 0
}

const peerMatches = (rule: any, peer: Peer) => {
  if (rule.ipBlock) return peer.ip !== undefined && inCidr(peer.ip, rule.ipBlock.cidr)
  if (peer.ip !== undefined && !peer.labels) return false
  const ns = peer.ns ?? ATLAS_NS
  if (rule.namespaceSelector)
    return matches(rule.namespaceSelector, ns) && (!rule.podSelector || matches(rule.podSelector, peer.labels))
  return ns === ATLAS_NS && matches(rule.podSelector, peer.labels)
}

const portMatches = (ports: any[] | undefined, pod: Pod, port: number, protocol: string) =>
  !ports ||
  ports.some(
    (p) =>
      (p.protocol ?? 'TCP') === protocol && (typeof p.port === 'string' ? pod.ports[p.port] === port : p.port === port),
  )

/** Would the policies let this traffic through? (ingress to `pod`, or egress from it) */
function allowed(
  policies: Obj[],
  direction: 'Egress' | 'Ingress',
  pod: Pod,
  peer: Peer,
  port: number,
  protocol = 'TCP',
): boolean {
  const selecting = policies.filter(
    (p) => p.spec.policyTypes.includes(direction) && matches(p.spec.podSelector, pod.labels),
  )
  if (selecting.length === 0) return true
  const key = direction === 'Ingress' ? 'ingress' : 'egress'
  const peersKey = direction === 'Ingress' ? 'from' : 'to'
  return selecting.some((p) =>
    (p.spec[key] ?? []).some(
      (r: any) =>
        (!r[peersKey] || r[peersKey].some((x: any) => peerMatches(x, peer))) &&
        portMatches(r.ports, pod, port, protocol),
    ),
  )
}

describe('security objects of the charts, per region', function () {
  this.timeout(120_000)
  let dir: string
  const objects: Record<string, Obj[]> = {}

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'atlas-netpol-'))
    await writeRendered(
      await renderWorld(config, {
        ...DEFAULT_RENDER_INPUTS,
        git: {...DEFAULT_RENDER_INPUTS.git, renderedPath: 'deploy'},
      }),
      dir,
    )
    const runner = new CommandRunner()
    for (const [chart, region] of [
      ['cockroachdb', 'us'],
      ['cockroachdb', 'witness'],
      ['ledger', 'us'],
    ]) {
      const out = await runner.run(
        'helm',
        [
          'template',
          chart,
          path.join('charts', chart),
          '--namespace',
          'atlas',
          '-f',
          path.join(dir, 'values', chart, `${region}.yaml`),
        ],
        {cwd: packagePath(), timeoutMs: 60_000},
      )
      objects[`${chart}/${region}`] = parseAllDocuments(out.stdout)
        .map((d) => d.toJS() as Obj)
        .filter(Boolean)
    }
  })

  after(() => rm(dir, {recursive: true, force: true}))

  const podOf = (list: Obj[], kind: string, name: string): Pod => {
    const o = list.find((x) => x.kind === kind && x.metadata.name === name)!
    const {spec} = o.spec.template
    return {
      labels: o.spec.template.metadata.labels,
      ports: Object.fromEntries(
        spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => [p.name, p.containerPort])),
      ),
    }
  }

  it('deny by default, and admit exactly what each component needs', () => {
    const us = [...objects['cockroachdb/us'], ...objects['ledger/us']]
    const policies = us.filter((o) => o.kind === 'NetworkPolicy')
    const node = podOf(us, 'StatefulSet', 'cockroachdb')
    const ledger = podOf(us, 'Deployment', 'ledger')
    const init = podOf(us, 'Job', 'cockroachdb-init')
    const sql = {
      labels: (sqlJobObjects({name: 'x', sql: '', image: 'i'})[2] as any).spec.template.metadata.labels,
      ports: {},
    }
    const stranger = {labels: {app: 'something-else'}, ports: {}}
    const otherRegionNode = {ip: '172.28.0.5'}
    // SQL/gRPC into the nodes: peers, the SQL clients, other regions through the NodePort; nobody else
    for (const [who, peer] of [
      ['a peer', {labels: node.labels}],
      ['the ledger', {labels: ledger.labels}],
      ['the init Job', {labels: init.labels}],
      ['a SQL Job', {labels: sql.labels}],
      ['another region', otherRegionNode],
    ] as const) {
      expect(allowed(policies, 'Ingress', node, peer, 26_257), `${who} -> node:26257`).to.equal(true)
    }

    expect(
      allowed(policies, 'Ingress', node, {labels: stranger.labels}, 26_257),
      'a stranger pod -> node:26257',
    ).to.equal(false)
    expect(
      allowed(policies, 'Ingress', node, {ip: '10.0.0.9'}, 26_257),
      'off the Docker network -> node:26257',
    ).to.equal(false)
    expect(allowed(policies, 'Ingress', node, otherRegionNode, 8080), 'another region -> DB Console').to.equal(false)
    expect(
      allowed(
        policies,
        'Ingress',
        node,
        {ns: {'kubernetes.io/metadata.name': 'monitoring'}, labels: {'app.kubernetes.io/name': 'prometheus'}},
        8080,
      ),
      'Prometheus scrape',
    ).to.equal(true)
    expect(
      allowed(
        policies,
        'Ingress',
        node,
        {ns: {'kubernetes.io/metadata.name': 'monitoring'}, labels: {'app.kubernetes.io/name': 'grafana'}},
        8080,
      ),
    ).to.equal(false)
    // out of the nodes: their peers here and in the other regions (NodePorts on the Docker network), DNS,
    // and S3 at LocalStack (BACKUP, SHOW BACKUP(S) and RESTORE run on the nodes); nothing else
    expect(allowed(policies, 'Egress', node, {labels: node.labels}, 26_257)).to.equal(true)
    expect(allowed(policies, 'Egress', node, {ip: '172.28.0.7'}, 30_257), 'node -> other region NodePort').to.equal(
      true,
    )
    expect(
      allowed(policies, 'Egress', node, {ip: '172.28.0.7'}, 4566),
      'node -> LocalStack (backup collection)',
    ).to.equal(true)
    expect(
      allowed(policies, 'Egress', node, {ip: '172.28.0.7'}, 443),
      'node -> another port on the Docker network',
    ).to.equal(false)
    expect(allowed(policies, 'Egress', node, {ip: '172.28.0.7'}, 4566, 'UDP'), 'node -> LocalStack over UDP').to.equal(
      false,
    )
    expect(allowed(policies, 'Egress', node, {ip: '10.0.0.9'}, 4566), 'node -> 4566 off the Docker network').to.equal(
      false,
    )
    expect(allowed(policies, 'Egress', node, {ip: '1.1.1.1'}, 443), 'node -> internet').to.equal(false)
    expect(allowed(policies, 'Egress', node, {ip: '1.1.1.1'}, 4566), 'node -> internet on 4566').to.equal(false)
    const dns = {ns: {'kubernetes.io/metadata.name': 'kube-system'}, labels: {'k8s-app': 'kube-dns'}}
    for (const pod of [node, ledger, init, sql, stranger])
      expect(allowed(policies, 'Egress', pod, dns, 53, 'UDP')).to.equal(true)
    // the ledger: SQL to the nodes, S3/SQS at LocalStack, metrics scraped by Prometheus; nothing else
    expect(allowed(policies, 'Egress', ledger, {labels: node.labels}, 26_257)).to.equal(true)
    expect(allowed(policies, 'Egress', ledger, {ip: '172.28.0.3'}, 4566)).to.equal(true)
    expect(allowed(policies, 'Egress', ledger, {ip: '172.28.0.3'}, 30_257), 'ledger -> other region node').to.equal(
      false,
    )
    expect(allowed(policies, 'Egress', ledger, {ip: '1.1.1.1'}, 443)).to.equal(false)
    expect(
      allowed(
        policies,
        'Ingress',
        ledger,
        {ns: {'kubernetes.io/metadata.name': 'monitoring'}, labels: {'app.kubernetes.io/name': 'prometheus'}},
        9464,
      ),
    ).to.equal(true)
    expect(allowed(policies, 'Ingress', ledger, {labels: stranger.labels}, 8080)).to.equal(false)
    // the SQL clients reach the nodes and nothing else; an unlabelled pod reaches nothing but DNS
    expect(allowed(policies, 'Egress', sql, {labels: node.labels}, 26_257)).to.equal(true)
    expect(allowed(policies, 'Egress', sql, {ip: '172.28.0.3'}, 4566)).to.equal(false)
    expect(allowed(policies, 'Egress', stranger, {labels: node.labels}, 26_257)).to.equal(false)
    expect(allowed(policies, 'Ingress', stranger, {labels: node.labels}, 80)).to.equal(false)
    // the witness region runs the same policies, admitting the other regions from the shared network
    const witness = objects['cockroachdb/witness'].filter((o) => o.kind === 'NetworkPolicy')
    expect(witness.map((p) => p.metadata.name).sort()).to.deep.equal([
      'allow-dns',
      'cockroachdb',
      'cockroachdb-clients',
      'default-deny',
    ])
    expect(JSON.stringify(witness)).to.include(K3D_NETWORK_SUBNET)
    const witnessNode = podOf(objects['cockroachdb/witness'], 'StatefulSet', 'cockroachdb')
    expect(allowed(witness, 'Egress', witnessNode, {ip: '172.28.0.7'}, 4566), 'witness node -> LocalStack').to.equal(
      true,
    )
    expect(allowed(witness, 'Egress', witnessNode, {ip: '172.28.0.7'}, 443), 'witness node -> another port').to.equal(
      false,
    )
  })

  it('one ServiceAccount per workload, none with an API token', () => {
    const all = [...objects['cockroachdb/us'], ...objects['ledger/us']]
    const accounts = all.filter((o) => o.kind === 'ServiceAccount')
    expect(accounts.map((a) => a.metadata.name).sort()).to.deep.equal(['cockroachdb', 'cockroachdb-init', 'ledger'])
    for (const a of accounts) expect(a.automountServiceAccountToken, a.metadata.name).to.equal(false)
    const workloads = all.filter((o) => o.spec?.template?.spec)
    expect(workloads.map((w) => w.spec.template.spec.serviceAccountName).sort()).to.deep.equal([
      'cockroachdb',
      'cockroachdb-init',
      'ledger',
    ])
    for (const w of workloads)
      expect(w.spec.template.spec.automountServiceAccountToken, w.metadata.name).to.equal(false)
  })

  it('CockroachDB encryption at rest: off by default; on, the enterprise flag with the key from its Secret', async () => {
    const runner = new CommandRunner()
    const values = path.join(dir, 'values', 'cockroachdb', 'eu.yaml')
    const off = objects['cockroachdb/us'].find((o) => o.kind === 'StatefulSet')!
    expect(off.spec.template.spec.containers[0].command.join(' ')).to.not.include('--enterprise-encryption')
    const out = await runner.run(
      'helm',
      ['template', 'cockroachdb', 'charts/cockroachdb', '-f', values, '--set', 'encryptionAtRest.enabled=true'],
      {cwd: packagePath()},
    )
    const sts = parseAllDocuments(out.stdout)
      .map((d) => d.toJS() as Obj)
      .find((o) => o?.kind === 'StatefulSet')!
    expect(sts.spec.template.spec.containers[0].command.join(' ')).to.include(
      '--enterprise-encryption=path=/cockroach/cockroach-data,key=/cockroach/encryption/store.key,old-key=plain',
    )
    const volume = sts.spec.template.spec.volumes.find((v: any) => v.name === 'encryption-key')
    const nodeSecret = sts.spec.template.spec.volumes.find((v: any) => v.name === 'node-secret')
    // owner-only, as the node certificates
    expect(volume).to.deep.equal({
      name: 'encryption-key',
      secret: {secretName: 'cockroachdb-store-key', defaultMode: nodeSecret.secret.defaultMode},
    })
    expect(sts.spec.template.spec.containers[0].volumeMounts).to.deep.include({
      name: 'encryption-key',
      mountPath: '/cockroach/encryption',
      readOnly: true,
    })
  })

  it('the namespace Argo CD creates enforces restricted, as the one Ansible creates; the AppProject names its three clusters', () => {
    for (const app of ['cockroachdb', 'ledger']) {
      const set = parse(readFileSync(path.join(dir, 'argocd', `applicationset-${app}.yaml`), 'utf8'))
      expect(set.spec.template.spec.syncPolicy.managedNamespaceMetadata.labels, app).to.deep.equal(POD_SECURITY_LABELS)
    }

    const ansible = parse(
      readFileSync(packagePath('ansible', 'roles', 'cluster_secrets', 'defaults', 'main.yml'), 'utf8'),
    )
    expect(ansible.cluster_secrets_namespace_labels).to.deep.equal(POD_SECURITY_LABELS)
    const project = parse(readFileSync(path.join(dir, 'argocd', 'appproject.yaml'), 'utf8'))
    expect(project.spec.destinations).to.deep.equal(
      ['us', 'eu', 'witness'].map((r) => ({server: `https://k3d-dc-${r}-server-0:6443`, namespace: 'atlas'})),
    )
    expect(project.spec.namespaceResourceWhitelist).to.deep.include.members([
      {group: 'networking.k8s.io', kind: 'NetworkPolicy'},
    ])
    // no RBAC kinds at all: the charts render none
    expect(project.spec.namespaceResourceWhitelist.map((w: {group: string}) => w.group)).to.not.include(
      'rbac.authorization.k8s.io',
    )
    expect(project.spec.clusterResourceWhitelist).to.deep.equal([{group: '', kind: 'Namespace'}])
  })

  it('argocd-manager may manage every kind the charts render, and nothing that reads Secrets or grants rights', () => {
    const whitelist = parse(readFileSync(path.join(dir, 'argocd', 'appproject.yaml'), 'utf8')).spec
      .namespaceResourceWhitelist as Array<{group: string; kind: string}>
    const rules = parse(
      readFileSync(packagePath('ansible', 'roles', 'cluster_registration', 'defaults', 'main.yml'), 'utf8'),
    ).cluster_registration_manager_rules as Array<{apiGroups: string[]; resources: string[]; verbs: string[]}>
    const may = (group: string, resource: string, verb: string) =>
      rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb))
    const rendered = Object.values(objects).flat() as Array<Obj & {apiVersion: string}>
    const kinds = [
      ...new Set(rendered.map((o) => `${o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : ''}/${o.kind}`)),
    ].sort()
    expect(kinds.map((k) => k.split('/')[1])).to.not.include.members(['Role', 'RoleBinding', 'Pod', 'Secret'])
    for (const kind of kinds) {
      const [group, name] = kind.split('/')
      // the plural the API serves (every kind the charts render pluralises regularly)
      const resource = `${name.toLowerCase()}s`.replace(/ys$/, 'ies')
      expect(
        whitelist.some((w) => w.group === group && (w.kind === '*' || w.kind === name)),
        `${kind} whitelisted by the AppProject`,
      ).to.equal(true)
      for (const verb of ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'])
        expect(may(group, resource, verb), `argocd-manager may ${verb} ${group}/${resource}`).to.equal(true)
    }

    // listed verbs only (a "*" includes escalate and bind), no RBAC objects, no Secrets, pods only read
    for (const rule of rules) {
      expect(rule.verbs, JSON.stringify(rule)).to.not.include.members(['*'])
      expect(
        rule.verbs.filter((v) => ['escalate', 'bind', 'impersonate'].includes(v)),
        JSON.stringify(rule),
      ).to.deep.equal([])
      expect(rule.resources, JSON.stringify(rule)).to.not.include('*')
      expect(rule.apiGroups, JSON.stringify(rule)).to.not.include.members(['*', 'rbac.authorization.k8s.io'])
    }

    expect(rules.flatMap((r) => r.resources)).to.not.include('secrets')
    for (const verb of ['create', 'update', 'patch']) {
      expect(may('', 'pods', verb), `pods: ${verb}`).to.equal(false)
      expect(may('', 'pods/exec', verb), `pods/exec: ${verb}`).to.equal(false)
    }
  })
})
