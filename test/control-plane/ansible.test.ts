import type {AddressInfo} from 'node:net'

// ansible/site.yml with its kubectl steps run for real against the test control plane
// (Docker and the k3d CLI stay stubs: there is no Docker here). What is real: the
// node wait, the CockroachDB certificate Secrets (server-side diff + apply) in every
// cluster, the Argo CD namespace, install, parameters, rollout wait and admin secret
// read, and the Argo CD cluster registration. A second run must report changed=0.
import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {parse as parseYaml} from 'yaml'

import {DEFAULT_RENDER_INPUTS, renderWorld, writeRendered} from '../../src/lib/gitops/index.js'
import {PACKAGE_ROOT} from '../../src/lib/paths.js'
import {ansibleExtraVars} from '../../src/lib/world/k3d/ansible-vars.js'
import {applyObjects, CONFIG, getObject, type KubeObject, renderedWorld} from '../helpers/control-plane-world.js'
import {type ControlPlane, controlPlaneOrSkip} from '../helpers/control-plane.js'
import {trackProcessGroup, untrackProcessGroup} from '../helpers/postgres.js'

const ANSIBLE_DIR = path.join(PACKAGE_ROOT, 'ansible')
const FIXTURES = path.join(PACKAGE_ROOT, 'test', 'fixtures')
const ARGOCD_DEFAULTS = parseYaml(
  readFileSync(path.join(ANSIBLE_DIR, 'roles', 'argocd', 'defaults', 'main.yml'), 'utf8'),
) as {
  argocd_version: string
  argocd_workloads: string[]
}
const HUB = (
  ansibleExtraVars(CONFIG, {renderedDir: '/r', stateDir: '/s', endpoint: 'http://x'}) as {atlas_argocd_cluster: string}
).atlas_argocd_cluster

/**
 * What the pinned Argo CD install manifest brings that the roles and Atlas rely on: the
 * three CRDs (schemaless here) and the four workloads at the pinned image, plus the
 * initial admin Secret argocd-server would create when it starts.
 */
function argocdStandIn(password: string): string {
  const image = `quay.io/argoproj/argocd:${ARGOCD_DEFAULTS.argocd_version}`
  const crd = (kind: string, plural: string) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {name: `${plural}.argoproj.io`, labels: {'app.kubernetes.io/part-of': 'argocd'}},
    spec: {
      group: 'argoproj.io',
      names: {kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase()},
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: {status: {}},
          schema: {openAPIV3Schema: {type: 'object', 'x-kubernetes-preserve-unknown-fields': true}},
        },
      ],
    },
  })
  const podSpec = (name: string) => ({
    metadata: {labels: {'app.kubernetes.io/name': name}},
    spec: {containers: [{name: name.replace(/^argocd-/, ''), image, command: [name]}]},
  })
  const workload = (ref: string) => {
    const [kind, name] = ref.split('/')
    const base = {metadata: {name, labels: {'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'argocd'}}}
    const selector = {matchLabels: {'app.kubernetes.io/name': name}}
    return kind === 'statefulset'
      ? {
          apiVersion: 'apps/v1',
          kind: 'StatefulSet',
          ...base,
          spec: {replicas: 1, serviceName: name, selector, template: podSpec(name)},
        }
      : {apiVersion: 'apps/v1', kind: 'Deployment', ...base, spec: {replicas: 1, selector, template: podSpec(name)}}
  }

  const objects = [
    crd('Application', 'applications'),
    crd('ApplicationSet', 'applicationsets'),
    crd('AppProject', 'appprojects'),
    ...ARGOCD_DEFAULTS.argocd_workloads.map(workload),
    {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {name: 'argocd-initial-admin-secret'},
      data: {password: Buffer.from(password).toString('base64')},
    },
    // the install manifest's (empty) argocd-cm, which the argocd role patches
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: 'argocd-cm',
        labels: {'app.kubernetes.io/name': 'argocd-cm', 'app.kubernetes.io/part-of': 'argocd'},
      },
    },
  ]
  return objects.map((o) => JSON.stringify(o)).join('\n---\n')
}

describe('control plane: ansible/site.yml with real kubectl steps', function () {
  this.timeout(300_000)
  let plane: ControlPlane
  let server: http.Server
  let work: string
  let extraVarsFile: string
  let password: string
  let kubectl: string
  const runs: Array<{status: number; stderr: string; stdout: string}> = []

  before(async function () {
    const {spawnSync} = await import('node:child_process')
    if (spawnSync('ansible-playbook', ['--version']).error) {
      if (process.env.CI) throw new Error('ansible-playbook is not installed (scripts/setup.sh installs it)')
      this.skip()
    }

    plane = await controlPlaneOrSkip(this)
    this.timeout(300_000)
    kubectl = plane.kubectlPath
    // LocalStack's health endpoint, as the localstack role polls it
    server = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({services: {s3: 'running', sqs: 'available', iam: 'available', sts: 'running'}}))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const {port} = server.address() as AddressInfo
    work = mkdtempSync(path.join(tmpdir(), 'atlas-cp-ansible-'))
    mkdirSync(path.join(work, 'state'))
    const rendered = await renderWorld(CONFIG, {
      ...DEFAULT_RENDER_INPUTS,
      git: {...DEFAULT_RENDER_INPUTS.git, renderedPath: 'deploy'},
    })
    await writeRendered(rendered, path.join(work, 'rendered'))
    const vars = ansibleExtraVars(CONFIG, {
      renderedDir: path.join(work, 'rendered'),
      stateDir: path.join(work, 'home'),
      endpoint: `http://127.0.0.1:${port}`,
    })
    extraVarsFile = path.join(work, 'extra-vars.json')
    writeFileSync(
      extraVarsFile,
      JSON.stringify({
        ...vars,
        localstack_health_retries: 5,
        localstack_health_delay_seconds: 1,
        k3d_ready_timeout: '60s',
        argocd_rollout_timeout: '90s',
      }),
    )
    password = randomBytes(12).toString('hex')
    writeFileSync(path.join(work, 'argocd-install.yaml'), argocdStandIn(password))
    runs.push(await play())
  })

  after(() => {
    server?.close()
    if (work) rmSync(work, {recursive: true, force: true})
  })

  async function play() {
    const {execa} = await import('execa')
    const child = execa('ansible-playbook', ['-i', 'inventory/hosts.yml', 'site.yml', '-e', `@${extraVarsFile}`], {
      cwd: ANSIBLE_DIR,
      reject: false,
      // its own process group, ended with the test process if that is interrupted
      detached: true,
      timeout: 280_000,
      stdin: 'ignore',
      env: {
        // real kubectl and the k3d kubeconfig shim first; docker (and k3d's other verbs) stubbed
        PATH: [
          path.join(FIXTURES, 'control-plane', 'ansible-bin'),
          path.join(FIXTURES, 'k3d', 'ansible-stubs'),
          process.env.PATH,
        ].join(':'),
        KUBECONFIG: plane.kubeconfig,
        ATLAS_TEST_KUBECTL: kubectl,
        ATLAS_TEST_ARGOCD_MANIFEST: path.join(work, 'argocd-install.yaml'),
        ATLAS_STUB_STATE: path.join(work, 'state'),
        ATLAS_STUB_ARGOCD_DEFAULTS: path.join(ANSIBLE_DIR, 'roles', 'argocd', 'defaults', 'main.yml'),
        ANSIBLE_NOCOLOR: '1',
      },
    })
    if (child.pid) trackProcessGroup(child.pid)
    const result = await child
    if (child.pid) untrackProcessGroup(child.pid)
    return {status: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr)}
  }

  const recap = (out: string) => {
    const m = /localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(out)
    expect(m, out).to.not.equal(null)
    return {ok: Number(m![1]), changed: Number(m![2]), failed: Number(m![4])}
  }

  it('runs site.yml to the end against the real API servers, changing things', () => {
    const [first] = runs
    expect(first.status, first.stdout.slice(-4000) + first.stderr).to.equal(0)
    expect(recap(first.stdout).changed).to.be.greaterThan(5)
    const calls = readFileSync(path.join(work, 'state', 'calls.log'), 'utf8')
    for (const c of plane.clusters)
      expect(calls).to.include(`kubectl --context ${c.context} wait --for=condition=Ready node --all`)
  })

  it('stores the CockroachDB certificates in every cluster, and they verify against their CA', async () => {
    for (const c of plane.clusters) {
      const node = await getObject(plane, c.region, ['secret', 'cockroachdb-node', '-n', 'atlas'])
      expect(node, c.name).to.exist
      expect(Object.keys(node.data).sort()).to.deep.equal(['ca.crt', 'node.crt', 'node.key'])
      for (const name of ['cockroachdb-client-root', 'cockroachdb-client-ledger', 'atlas-cloud-credentials']) {
        expect(await getObject(plane, c.region, ['secret', name, '-n', 'atlas']), `${c.name}: ${name}`).to.exist
      }

      // the same CA everywhere: nodes of different regions trust each other
      const local = readFileSync(path.join(work, 'home', 'cockroach-certs', 'ca.crt'), 'utf8')
      expect(Buffer.from(node.data['ca.crt'], 'base64').toString()).to.equal(local)
      // server-side apply: no key material in a last-applied annotation
      expect(node.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).to.equal(undefined)
    }
  })

  it('installs Argo CD (the pinned tag) in the hub cluster and waits for its workloads, which roll out', async () => {
    const hub = plane.cluster(HUB)
    const deployment = await getObject(plane, hub.region, ['deployment', 'argocd-server', '-n', 'argocd'])
    expect(deployment.spec.template.spec.containers[0].image).to.match(
      new RegExp(`:${ARGOCD_DEFAULTS.argocd_version}$`),
    )
    expect(deployment.status.readyReplicas).to.equal(1)
    const params = await getObject(plane, hub.region, ['configmap', 'argocd-cmd-params-cm', '-n', 'argocd'])
    expect(params.data['server.insecure']).to.equal('true')
    // the admin password reached the user's private file, and never the output
    const file = path.join(work, 'home', 'argocd-admin-password')
    expect(readFileSync(file, 'utf8')).to.equal(password)
    expect(statSync(file).mode & 0o777).to.equal(0o600)
    for (const run of runs) expect(run.stdout + run.stderr).to.not.include(password)
  })

  it('registers every cluster with Argo CD with credentials that really open that cluster', async () => {
    const hub = plane.cluster(HUB)
    const list = JSON.parse(
      (
        await plane.kubectl(hub.context, [
          'get',
          'secrets',
          '-n',
          'argocd',
          '-l',
          'argocd.argoproj.io/secret-type=cluster',
          '-o',
          'json',
        ])
      ).stdout,
    ).items as any[]
    expect(list.map((s) => s.metadata.name).sort()).to.deep.equal([
      'cluster-dc-eu',
      'cluster-dc-us',
      'cluster-dc-witness',
    ])
    for (const secret of list) {
      const cluster = plane.cluster(secret.metadata.labels['atlas.dev/cluster'])
      const config = JSON.parse(Buffer.from(secret.data.config, 'base64').toString()) as {
        bearerToken: string
        tlsClientConfig: {caData: string; certData?: string}
      }
      // Argo CD's bearer-token cluster format: the argocd-manager token, the cluster CA, no client certificate
      expect(Object.keys(config).sort()).to.deep.equal(['bearerToken', 'tlsClientConfig'])
      expect(config.tlsClientConfig.certData).to.equal(undefined)
      const b = (s: string) => Buffer.from(s, 'base64')
      // Argo CD would dial k3d-dc-REGION-server-0:6443 on the Docker network; here the same API server listens on loopback
      const get = (urlPath: string) =>
        new Promise<number>((resolve, reject) => {
          https
            .get(
              `${cluster.server}${urlPath}`,
              {
                ca: b(config.tlsClientConfig.caData),
                headers: {authorization: `Bearer ${config.bearerToken}`},
                servername: cluster.nodeName,
              },
              (res) => {
                res.resume()
                resolve(res.statusCode ?? 0)
              },
            )
            .on('error', reject)
        })
      expect(await get('/api/v1/namespaces/atlas'), cluster.name).to.equal(200)
      expect(await get('/apis/apps/v1/namespaces/atlas/statefulsets'), cluster.name).to.equal(200)
      // the token is the argocd-manager ServiceAccount's, and it is no cluster admin
      expect(await get('/api/v1/namespaces/kube-system/secrets'), cluster.name).to.equal(403)
      expect(await get('/api/v1/namespaces/atlas/secrets'), cluster.name).to.equal(403)
    }
  })

  it('a SubjectAccessReview shows argocd-manager may manage the atlas namespace, and neither read Secrets, create bare pods nor escalate or bind roles', async () => {
    const user = 'system:serviceaccount:kube-system:argocd-manager'
    const review = async (region: string, attributes: Record<string, string>) => {
      const sar = {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user,
          groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
          resourceAttributes: attributes,
        },
      }
      const out = await plane.kubectl(plane.cluster(region).context, ['create', '-f', '-', '-o', 'json'], {
        input: JSON.stringify(sar),
      })
      return JSON.parse(out.stdout).status.allowed === true
    }

    for (const c of plane.clusters) {
      const allowed: Array<Record<string, string>> = [
        {namespace: 'atlas', verb: 'create', group: 'apps', resource: 'statefulsets'},
        {namespace: 'atlas', verb: 'delete', group: 'apps', resource: 'deployments'},
        {namespace: 'atlas', verb: 'patch', group: 'batch', resource: 'jobs'},
        {namespace: 'atlas', verb: 'create', group: 'networking.k8s.io', resource: 'networkpolicies'},
        {namespace: 'atlas', verb: 'create', group: 'batch', resource: 'jobs'},
        {namespace: 'atlas', verb: 'create', group: 'policy', resource: 'poddisruptionbudgets'},
        {namespace: 'atlas', verb: 'create', group: '', resource: 'configmaps'},
        {namespace: 'atlas', verb: 'create', group: '', resource: 'services'},
        {namespace: 'atlas', verb: 'create', group: '', resource: 'serviceaccounts'},
        {namespace: 'atlas', verb: 'list', group: '', resource: 'pods'},
        {verb: 'create', group: '', resource: 'namespaces'},
        {verb: 'patch', group: '', resource: 'namespaces', name: 'atlas'},
      ]
      const denied: Array<Record<string, string>> = [
        {namespace: 'kube-system', verb: 'get', group: '', resource: 'secrets'},
        {namespace: 'kube-system', verb: 'list', group: '', resource: 'secrets'},
        {namespace: 'atlas', verb: 'get', group: '', resource: 'secrets'},
        {namespace: 'argocd', verb: 'get', group: '', resource: 'secrets'},
        {namespace: 'kube-system', verb: 'create', group: 'apps', resource: 'deployments'},
        {namespace: 'atlas', verb: 'create', group: '', resource: 'pods', subresource: 'exec'},
        // no Secrets in atlas, whichever verb
        {namespace: 'atlas', verb: 'list', group: '', resource: 'secrets'},
        {namespace: 'atlas', verb: 'watch', group: '', resource: 'secrets'},
        {namespace: 'atlas', verb: 'create', group: '', resource: 'secrets'},
        // no bare pods (which could mount a Secret by hand): the charts' controllers make them
        {namespace: 'atlas', verb: 'create', group: '', resource: 'pods'},
        {namespace: 'atlas', verb: 'patch', group: '', resource: 'pods'},
        {namespace: 'atlas', verb: 'delete', group: '', resource: 'pods'},
        // no RBAC in atlas: it can neither write itself a Role nor escalate or bind one
        {namespace: 'atlas', verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'roles'},
        {namespace: 'atlas', verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings'},
        {namespace: 'atlas', verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'roles'},
        {namespace: 'atlas', verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'roles'},
        {namespace: 'atlas', verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles'},
        {verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles'},
        {namespace: 'atlas', verb: 'create', group: '', resource: 'serviceaccounts', subresource: 'token'},
        {verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings'},
        {verb: 'delete', group: '', resource: 'nodes'},
      ]
      for (const a of allowed) expect(await review(c.region, a), `${c.name}: ${JSON.stringify(a)}`).to.equal(true)
      for (const a of denied) expect(await review(c.region, a), `${c.name}: ${JSON.stringify(a)}`).to.equal(false)
    }
  })

  it('changes nothing on a second run (changed=0)', async function () {
    this.timeout(300_000)
    const second = await play()
    runs.push(second)
    expect(second.status, second.stdout.slice(-4000) + second.stderr).to.equal(0)
    expect(recap(second.stdout), 'second run').to.include({changed: 0, failed: 0})
  })

  it('accepts the rendered Argo CD objects (AppProject, ApplicationSets) server-side in the hub', async () => {
    const {dir, files} = await renderedWorld()
    const {parseAllDocuments} = await import('yaml')
    const objects = files
      .filter((f) => f.startsWith('argocd/'))
      .flatMap((f) => parseAllDocuments(readFileSync(path.join(dir, f), 'utf8')).map((d) => d.toJS() as KubeObject))
    expect(objects.map((o) => o.kind).sort()).to.deep.equal(['AppProject', 'ApplicationSet', 'ApplicationSet'])
    const applied = await applyObjects(plane, HUB, objects)
    expect(applied.stdout.match(/serverside-applied/g)?.length).to.equal(3)
    const sets = JSON.parse(
      (await plane.kubectl(plane.cluster(HUB).context, ['get', 'applicationsets', '-n', 'argocd', '-o', 'json']))
        .stdout,
    ).items as any[]
    expect(sets.map((s) => s.metadata.name).sort()).to.deep.equal(
      objects
        .filter((o) => o.kind === 'ApplicationSet')
        .map((o) => o.metadata.name)
        .sort(),
    )
  })
})
