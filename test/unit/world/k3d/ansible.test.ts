import type {AddressInfo} from 'node:net'

// ansible/: syntax, lint, structure, and a real run of site.yml against stub
// docker/k3d/kubectl (test/fixtures/k3d/ansible-stubs) to prove it is
// idempotent and never prints the Argo CD admin password or cluster keys.
import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {parse as parseYaml} from 'yaml'

import {DEFAULT_CONFIG} from '../../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../../src/lib/config/load.js'
import {DEFAULT_RENDER_INPUTS, renderWorld, writeRendered} from '../../../../src/lib/gitops/index.js'
import {K3D_NETWORK_SUBNET, POD_SECURITY_LABELS} from '../../../../src/lib/gitops/topology.js'
import {PACKAGE_ROOT} from '../../../../src/lib/paths.js'
import {ansibleExtraVars} from '../../../../src/lib/world/k3d/ansible-vars.js'
import {VERIFY_USER} from '../../../../src/lib/world/k3d/ddl.js'
import {FIXTURES} from '../../../fixtures/k3d/stubs.js'

const ANSIBLE_DIR = path.join(PACKAGE_ROOT, 'ansible')
const ROLES_DIR = path.join(ANSIBLE_DIR, 'roles')
const has = (tool: string) => !spawnSync(tool, ['--version'], {encoding: 'utf8'}).error

type Task = Record<string, any>

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, {recursive: true, encoding: 'utf8'})
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile())
}

/** Every task of every role's tasks/ and handlers/, with where it comes from. */
function allTasks(): Array<{file: string; role: string; task: Task}> {
  const out: Array<{file: string; role: string; task: Task}> = []
  for (const role of readdirSync(ROLES_DIR)) {
    for (const sub of ['tasks', 'handlers']) {
      const file = path.join(ROLES_DIR, role, sub, 'main.yml')
      if (!existsSync(file)) continue
      for (const task of (parseYaml(readFileSync(file, 'utf8')) as Task[]) ?? [])
        out.push({role, file: `${role}/${sub}/main.yml`, task})
    }
  }

  return out
}

const moduleOf = (task: Task) => Object.keys(task).find((k) => k.includes('.'))

describe('ansible/', function () {
  this.timeout(120_000)

  it('passes ansible-playbook --syntax-check', function () {
    if (!has('ansible-playbook')) this.skip() // CI installs it (apt-get install ansible)
    const result = spawnSync('ansible-playbook', ['--syntax-check', 'site.yml'], {cwd: ANSIBLE_DIR, encoding: 'utf8'})
    expect(result.status, result.stderr).to.equal(0)
  })

  it('passes ansible-lint with the production profile', function () {
    if (!has('ansible-lint')) this.skip() // CI installs it (apt-get install ansible-lint)
    const config = parseYaml(readFileSync(path.join(ANSIBLE_DIR, '.ansible-lint'), 'utf8')) as {profile: string}
    expect(config.profile).to.equal('production')
    const result = spawnSync('ansible-lint', ['--nocolor', '--strict'], {cwd: ANSIBLE_DIR, encoding: 'utf8'})
    expect(result.status, `${result.stdout}\n${result.stderr}`).to.equal(0)
    expect(`${result.stdout}\n${result.stderr}`).to.match(/Passed with production profile/)
  })

  it('passes yamllint in strict mode', function () {
    if (!has('yamllint')) this.skip() // CI installs it (apt-get install yamllint)
    const result = spawnSync('yamllint', ['--strict', '.'], {cwd: ANSIBLE_DIR, encoding: 'utf8'})
    expect(result.status, result.stdout).to.equal(0)
  })

  it('has the roles the k3d world needs, each with defaults, tasks and meta', () => {
    const roles = readdirSync(ROLES_DIR).sort()
    expect(roles).to.deep.equal([
      'argocd',
      'cluster_registration',
      'cluster_secrets',
      'k3d',
      'localstack',
      'network',
      'prerequisites',
    ])
    for (const role of roles) {
      for (const sub of ['defaults', 'tasks', 'meta'])
        expect(existsSync(path.join(ROLES_DIR, role, sub, 'main.yml')), `${role}/${sub}`).to.equal(true)
    }

    const plays = parseYaml(readFileSync(path.join(ANSIBLE_DIR, 'site.yml'), 'utf8')) as Array<{
      hosts: string
      roles: Array<{role: string}>
      tags: string[]
    }>
    expect(plays.map((p) => p.tags)).to.deep.equal([['foundation'], ['clusters']])
    expect(plays.flatMap((p) => p.roles.map((r) => r.role))).to.deep.equal([
      'prerequisites',
      'network',
      'localstack',
      'prerequisites',
      'k3d',
      'cluster_secrets',
      'argocd',
      'cluster_registration',
    ])
    for (const play of plays) expect(play.hosts).to.equal('localhost')
  })

  it('uses only ansible.builtin modules, and every command says when it changed something', () => {
    const tasks = allTasks()
    expect(tasks.length).to.be.greaterThan(20)
    for (const {file, task} of tasks) {
      const mod = moduleOf(task)
      expect(mod, `${file}: "${task.name}" module`).to.match(/^ansible\.builtin\./)
      expect(task.name, `${file}: every task is named`).to.be.a('string')
      if (mod === 'ansible.builtin.command' || mod === 'ansible.builtin.shell') {
        // `creates:` makes a command idempotent by itself; anything else must say when it changed something
        const idempotentByCreates = typeof task[mod]?.creates === 'string'
        if (!idempotentByCreates)
          expect(task, `${file}: "${task.name}" needs changed_when`).to.have.property('changed_when')
        expect(mod, `${file}: "${task.name}" uses shell`).to.equal('ansible.builtin.command')
      }
    }
  })

  it("issues the verify user's client certificate for the user name the CLI connects as", () => {
    const defaults = parseYaml(
      readFileSync(path.join(ROLES_DIR, 'cluster_secrets', 'defaults', 'main.yml'), 'utf8'),
    ) as {
      cluster_secrets_certificates: Array<{cn: string; name: string; usage: string}>
      cluster_secrets_verify_user: string
    }
    expect(defaults.cluster_secrets_verify_user).to.equal(VERIFY_USER)
    expect(defaults.cluster_secrets_certificates).to.deep.include({
      name: 'client.{{ cluster_secrets_verify_user }}',
      cn: '{{ cluster_secrets_verify_user }}',
      usage: 'clientAuth',
      sans: [],
    })
  })

  it('prefixes every role default with the role name', () => {
    for (const role of readdirSync(ROLES_DIR)) {
      const defaults = parseYaml(readFileSync(path.join(ROLES_DIR, role, 'defaults', 'main.yml'), 'utf8')) as Record<
        string,
        unknown
      >
      for (const name of Object.keys(defaults)) expect(name, `${role} default`).to.match(new RegExp(`^${role}_`))
    }
  })

  it('never logs credentials: tasks that read or send them have no_log', () => {
    const secretTasks = allTasks().filter(
      ({task}) => /password|credential|secret|keys/i.test(task.name) && !/^(Show|Restrict) /.test(task.name),
    )
    expect(secretTasks.map((t) => t.task.name)).to.include.members([
      'Read the initial ArgoCD admin password',
      'Store the ArgoCD admin password for the user',
      'Read the argocd-manager token Secret of every cluster',
      'Render the ArgoCD cluster Secrets',
      'Compare the cluster Secrets with the live ones',
      'Apply the cluster Secrets',
      'Render the certificate and credential Secrets',
      'Compare the Secrets of every cluster with the live ones',
      'Apply the Secrets where they differ',
    ])
    for (const {file, task} of secretTasks) expect(task.no_log, `${file}: "${task.name}"`).to.equal(true)
  })

  it('pins the Argo CD install manifest to a release tag', () => {
    const defaults = parseYaml(readFileSync(path.join(ROLES_DIR, 'argocd', 'defaults', 'main.yml'), 'utf8')) as Record<
      string,
      string
    >
    expect(defaults.argocd_version).to.match(/^v\d+\.\d+\.\d+$/)
    expect(defaults.argocd_install_manifest_url).to.equal(
      'https://raw.githubusercontent.com/argoproj/argo-cd/{{ argocd_version }}/manifests/install.yaml',
    )
    const localstack = parseYaml(
      readFileSync(path.join(ROLES_DIR, 'localstack', 'defaults', 'main.yml'), 'utf8'),
    ) as Record<string, string>
    expect(localstack.localstack_image).to.match(/:\d+\.\d+\.\d+$/)
    expect(localstack.localstack_bind_address).to.equal('127.0.0.1')
  })

  it('keeps every YAML file of ansible/ parseable', () => {
    for (const file of yamlFiles(ANSIBLE_DIR)) expect(() => parseYaml(readFileSync(file, 'utf8')), file).to.not.throw()
  })

  describe('site.yml against stub docker, k3d and kubectl', () => {
    let server: http.Server
    let port: number
    let work: string
    let extraVarsFile: string

    before(async function () {
      if (!has('ansible-playbook')) this.skip() // CI installs it (apt-get install ansible)
      // LocalStack's health endpoint, as the localstack role polls it
      server = http.createServer((_req, res) => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({services: {s3: 'running', sqs: 'available', iam: 'available', sts: 'running'}}))
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      port = (server.address() as AddressInfo).port
      work = mkdtempSync(path.join(tmpdir(), 'atlas-ansible-'))
      mkdirSync(path.join(work, 'state'))
      // the k3d configs exactly as Atlas renders them, so the k3d role's checks run on the real thing
      const config = parseConfigObject(DEFAULT_CONFIG)
      const rendered = await renderWorld(config, {
        ...DEFAULT_RENDER_INPUTS,
        git: {...DEFAULT_RENDER_INPUTS.git, renderedPath: 'deploy'},
      })
      await writeRendered(rendered, path.join(work, 'rendered'))
      const vars = ansibleExtraVars(config, {
        renderedDir: path.join(work, 'rendered'),
        stateDir: path.join(work, 'home'),
        endpoint: `http://127.0.0.1:${port}`,
      })
      extraVarsFile = path.join(work, 'extra-vars.json')
      // a broken health endpoint must fail the test quickly, not after LocalStack's real patience
      writeFileSync(
        extraVarsFile,
        JSON.stringify({...vars, localstack_health_retries: 5, localstack_health_delay_seconds: 1}),
      )
    })

    after(() => {
      server?.close()
      if (work) rmSync(work, {recursive: true, force: true})
    })

    // asynchronous on purpose: the fake health endpoint lives in this process and
    // must keep answering while the playbook runs
    const play = async (options: {args?: string[]; state?: string} = {}) => {
      const {execa} = await import('execa')
      const result = await execa(
        'ansible-playbook',
        ['-i', 'inventory/hosts.yml', 'site.yml', '-e', `@${extraVarsFile}`, ...(options.args ?? [])],
        {
          cwd: ANSIBLE_DIR,
          reject: false,
          timeout: 180_000,
          stdin: 'ignore',
          env: {
            PATH: `${path.join(FIXTURES, 'ansible-stubs')}:${process.env.PATH}`,
            ATLAS_STUB_STATE: options.state ?? path.join(work, 'state'),
            ATLAS_STUB_ARGOCD_DEFAULTS: path.join(ROLES_DIR, 'argocd', 'defaults', 'main.yml'),
            ANSIBLE_NOCOLOR: '1',
          },
        },
      )
      return {status: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr)}
    }

    const recap = (out: string) => {
      const m = /localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(out)
      expect(m, out).to.not.equal(null)
      return {ok: Number(m![1]), changed: Number(m![2]), failed: Number(m![4])}
    }

    it('builds everything on the first run and changes nothing on the second', async function () {
      // two whole playbook runs: on a loaded machine each takes over a minute
      this.timeout(300_000)
      const first = await play()
      expect(first.status, first.stdout + first.stderr).to.equal(0)
      expect(recap(first.stdout).changed).to.be.greaterThan(5)
      const calls = readFileSync(path.join(work, 'state', 'calls.log'), 'utf8')
      for (const cluster of ['dc-us', 'dc-eu', 'dc-witness']) {
        expect(calls).to.include(
          `k3d cluster create --config ${path.join(work, 'rendered', 'k3d', `${cluster}.yaml`)} --wait`,
        )
      }

      expect(calls).to.match(
        /docker run --detach --name atlas-localstack --network atlas --publish 127\.0\.0\.1:\d+:4566/,
      )
      expect(calls).to.include(
        'docker network create --driver bridge --subnet 172.28.0.0/16 --label atlas.managed=true atlas',
      )
      // every k3s server is asked whether it really encrypts Secrets (the flag applies only to a new cluster)
      for (const cluster of ['dc-us', 'dc-eu', 'dc-witness'])
        expect(calls).to.include(`docker exec k3d-${cluster}-server-0 k3s secrets-encrypt status`)
      // k3s encrypts Secrets at rest: the rendered configs carry the server flag the k3d role checks for
      for (const cluster of ['dc-us', 'dc-eu', 'dc-witness']) {
        const k3dConfig = parseYaml(readFileSync(path.join(work, 'rendered', 'k3d', `${cluster}.yaml`), 'utf8')) as {
          options: {k3s: {extraArgs: Array<{arg: string; nodeFilters: string[]}>}}
        }
        expect(k3dConfig.options.k3s.extraArgs).to.deep.include({
          arg: '--secrets-encryption',
          nodeFilters: ['server:*'],
        })
      }

      const second = await play()
      expect(second.status, second.stdout + second.stderr).to.equal(0)
      expect(recap(second.stdout), 'second run').to.include({changed: 0, failed: 0})

      // credentials never reach the output
      for (const out of [first.stdout + first.stderr, second.stdout + second.stderr]) {
        expect(out).to.not.include('stub-admin-password-7f3a')
        expect(out).to.not.include('U1RVQi1QUklWQVRFLUtFWS1NQVRFUklBTA==')
      }

      // but the user can read the password from a private file
      const passwordFile = path.join(work, 'home', 'argocd-admin-password')
      expect(readFileSync(passwordFile, 'utf8')).to.equal('stub-admin-password-7f3a')
      expect(statSync(passwordFile).mode & 0o777).to.equal(0o600)
    })

    it('fails clearly when the Docker network exists with a subnet other than the one the NetworkPolicies admit', async function () {
      this.timeout(180_000)
      const vars = JSON.parse(readFileSync(extraVarsFile, 'utf8')) as {
        atlas_network_name: string
        atlas_network_subnet: string
      }
      // one value: what the role creates is what the rendered policies admit
      expect(vars.atlas_network_subnet).to.equal(K3D_NETWORK_SUBNET)
      const state = mkdtempSync(path.join(work, 'other-subnet-'))
      // a network of that name left by something else, on Docker's default pool
      writeFileSync(path.join(state, `network-${vars.atlas_network_name}`), '192.168.240.0/20')
      const run = await play({state, args: ['--tags', 'foundation']})
      expect(run.status, run.stdout + run.stderr).to.not.equal(0)
      expect(run.stdout).to.include('Check that an existing network has the subnet the NetworkPolicies admit')
      expect(run.stdout).to.include(
        `The Docker network ${vars.atlas_network_name} exists with subnet(s) 192.168.240.0/20`,
      )
      expect(run.stdout).to.include(`admit only ${K3D_NETWORK_SUBNET}`)
      const calls = readFileSync(path.join(state, 'calls.log'), 'utf8')
      expect(calls).to.not.include('docker network create')
      expect(calls, 'LocalStack is not started on a network the policies do not admit').to.not.include('docker run')
    })

    it('fails, naming the cluster, when a k3s server does not encrypt its datastore (a cluster made before --secrets-encryption)', async function () {
      this.timeout(180_000)
      const state = mkdtempSync(path.join(work, 'plaintext-'))
      // three clusters that exist already (so nothing is created), dc-eu from before the flag
      for (const cluster of ['dc-us', 'dc-eu', 'dc-witness']) writeFileSync(path.join(state, `cluster-${cluster}`), '')
      writeFileSync(path.join(state, 'plaintext-k3d-dc-eu-server-0'), '')
      const run = await play({state, args: ['--tags', 'clusters']})
      expect(run.status, run.stdout + run.stderr).to.not.equal(0)
      expect(run.stdout).to.include('Cluster dc-eu does not encrypt Secrets at rest')
      expect(run.stdout).to.include('`atlas down --purge`, then `atlas up`')
      expect(run.stdout).to.not.include('Cluster dc-us does not encrypt')
      const calls = readFileSync(path.join(state, 'calls.log'), 'utf8')
      for (const cluster of ['dc-us', 'dc-eu', 'dc-witness'])
        expect(calls).to.include(`docker exec k3d-${cluster}-server-0 k3s secrets-encrypt status`)
      expect(calls).to.not.include('k3d cluster create')
      // it stops there: no certificates, no Argo CD on a cluster that would keep them in plain text
      expect(calls).to.not.match(/kubectl .* apply/)
    })

    it("issues one CockroachDB node certificate with the topology's SANs and stores it in every cluster", () => {
      const certs = path.join(work, 'home', 'cockroach-certs')
      const sans = spawnSync(
        'openssl',
        ['x509', '-noout', '-ext', 'subjectAltName', '-in', path.join(certs, 'node.crt')],
        {encoding: 'utf8'},
      ).stdout
      for (const san of [
        'DNS:k3d-dc-us-server-0',
        'DNS:k3d-dc-eu-server-0',
        'DNS:k3d-dc-witness-server-0',
        'DNS:cockroachdb-public',
        'IP Address:127.0.0.1',
      ]) {
        expect(sans).to.include(san)
      }

      const verify = spawnSync(
        'openssl',
        [
          'verify',
          '-CAfile',
          path.join(certs, 'ca.crt'),
          path.join(certs, 'node.crt'),
          path.join(certs, 'client.root.crt'),
        ],
        {encoding: 'utf8'},
      )
      expect(verify.status, verify.stderr).to.equal(0)
      const subject = spawnSync('openssl', ['x509', '-noout', '-subject', '-in', path.join(certs, 'client.root.crt')], {
        encoding: 'utf8',
      }).stdout
      expect(subject).to.match(/CN\s*=\s*root/)
      // the ledger service's client certificate, for the user charts/ledger connects as
      const ledger = spawnSync(
        'openssl',
        ['x509', '-noout', '-subject', '-in', path.join(certs, 'client.ledger.crt')],
        {encoding: 'utf8'},
      ).stdout
      expect(ledger).to.match(/CN\s*=\s*ledger/)
      // the read-only user atlas verify logs in as from the host, with the name the CLI uses
      const verifyCert = path.join(certs, `client.${VERIFY_USER}.crt`)
      expect(
        spawnSync('openssl', ['x509', '-noout', '-subject', '-in', verifyCert], {encoding: 'utf8'}).stdout,
      ).to.match(new RegExp(`CN\\s*=\\s*${VERIFY_USER}\\b`))
      expect(
        spawnSync('openssl', ['x509', '-noout', '-ext', 'extendedKeyUsage', '-in', verifyCert], {encoding: 'utf8'})
          .stdout,
      ).to.match(/TLS Web Client Authentication/)
      expect(
        spawnSync('openssl', ['verify', '-CAfile', path.join(certs, 'ca.crt'), verifyCert], {encoding: 'utf8'}).status,
      ).to.equal(0)
      expect(statSync(path.join(certs, `client.${VERIFY_USER}.key`)).mode & 0o777).to.equal(0o600)
      // the Secrets the charts mount, with the names their values use
      const state = path.join(work, 'state')
      const lists = readdirSync(state)
        .filter((f) => f.startsWith('applied-'))
        .map((f) => JSON.parse(readFileSync(path.join(state, f), 'utf8')))
      const secrets = lists
        .filter((b) => b.kind === 'List')
        .flatMap((b) => b.items)
        .filter((i: any) => i.kind === 'Secret')
        .map((i: any) => i.metadata.name)
      const chartValues =
        readFileSync(path.join(PACKAGE_ROOT, 'templates', 'values', 'ledger.yaml'), 'utf8') +
        readFileSync(path.join(PACKAGE_ROOT, 'templates', 'values', 'cockroachdb.yaml'), 'utf8')
      for (const name of [
        'cockroachdb-node',
        'cockroachdb-client-root',
        'cockroachdb-client-ledger',
        'atlas-cloud-credentials',
      ]) {
        expect(secrets, name).to.include(name)
        expect(chartValues, `${name} is what the chart values name`).to.include(name)
      }

      // the verify user's key stays on the host: no Secret in any cluster carries it
      const secretKeys = lists
        .filter((b) => b.kind === 'List')
        .flatMap((b) => b.items)
        .filter((i: any) => i.kind === 'Secret')
        .flatMap((i: any) => Object.keys(i.data ?? {}))
      expect(secretKeys.filter((k: string) => k.includes(VERIFY_USER))).to.deep.equal([])
      expect(statSync(path.join(certs, 'ca.key')).mode & 0o777).to.equal(0o600)
      // the namespace is created enforcing Pod Security restricted, with the labels the ApplicationSets keep
      const namespaces = lists.filter((b) => b.kind === 'Namespace' && b.metadata.name === 'atlas')
      expect(namespaces, 'the atlas Namespace').to.have.length.greaterThan(0)
      expect(namespaces[0].metadata.labels).to.deep.equal(POD_SECURITY_LABELS)
      const calls = readFileSync(path.join(work, 'state', 'calls.log'), 'utf8')
      for (const cluster of ['dc-us', 'dc-eu', 'dc-witness'])
        expect(calls).to.include(`kubectl --context k3d-${cluster} apply --server-side --field-manager=atlas -f -`)
    })

    it('registers every cluster with Argo CD by its container name, labelled with world, region and role', () => {
      const state = path.join(work, 'state')
      const bodies = readdirSync(state)
        .filter((f) => f.startsWith('applied-'))
        .map((f) => JSON.parse(readFileSync(path.join(state, f), 'utf8')))
      const list = bodies.find(
        (b) =>
          b.kind === 'List' &&
          b.items.some((i: any) => i.metadata.labels?.['argocd.argoproj.io/secret-type'] === 'cluster'),
      )
      expect(list, 'the applied list of cluster Secrets').to.exist
      const secrets = list.items as Array<{
        data: Record<string, string>
        metadata: {labels: Record<string, string>; name: string}
      }>
      const decoded = secrets.map((s) => ({
        name: s.metadata.name,
        labels: s.metadata.labels,
        server: Buffer.from(s.data.server, 'base64').toString(),
        config: JSON.parse(Buffer.from(s.data.config, 'base64').toString()),
      }))
      expect(
        decoded.map((d) => [d.name, d.server, d.labels['atlas.dev/region'], d.labels['atlas.dev/role']]),
      ).to.deep.equal([
        ['cluster-dc-us', 'https://k3d-dc-us-server-0:6443', 'us', 'primary'],
        ['cluster-dc-eu', 'https://k3d-dc-eu-server-0:6443', 'eu', 'secondary'],
        ['cluster-dc-witness', 'https://k3d-dc-witness-server-0:6443', 'witness', 'witness'],
      ])
      for (const d of decoded) {
        expect(d.labels['argocd.argoproj.io/secret-type']).to.equal('cluster')
        // the ApplicationSets (templates/argocd) select on this label
        expect(d.labels['atlas.dev/world']).to.equal('atlas')
        // the argocd-manager ServiceAccount's token and the cluster CA from its token Secret, never the admin certificate
        expect(d.config).to.deep.equal({
          bearerToken: 'stub-sa-token-91c2',
          tlsClientConfig: {insecure: false, caData: 'Q0EtREFUQS0kMw=='},
        })
      }

      // Argo CD manages the atlas namespace only (and may create that Namespace)
      for (const s of secrets) {
        expect(Buffer.from(s.data.namespaces, 'base64').toString()).to.equal('atlas')
        expect(Buffer.from(s.data.clusterResources, 'base64').toString()).to.equal('true')
      }

      // the admin credentials are not even read any more
      const calls = readFileSync(path.join(state, 'calls.log'), 'utf8')
      expect(calls).to.not.include('k3d kubeconfig get')
      // the ServiceAccount, its token Secret and its RBAC went to every cluster
      const manager = bodies.find(
        (b) =>
          b.kind === 'List' &&
          b.items.some((i: any) => i.kind === 'ServiceAccount' && i.metadata.name === 'argocd-manager'),
      )
      expect(manager, 'the argocd-manager objects').to.exist
      const kinds = (manager.items as Array<{kind: string; metadata: {name: string; namespace?: string}}>).map(
        (i) => `${i.kind}/${i.metadata.namespace ?? ''}/${i.metadata.name}`,
      )
      expect(kinds).to.deep.equal([
        'ServiceAccount/kube-system/argocd-manager',
        'Secret/kube-system/argocd-manager-token',
        'ClusterRole//argocd-manager-namespaces',
        'ClusterRoleBinding//argocd-manager-namespaces',
        'Role/atlas/argocd-manager',
        'RoleBinding/atlas/argocd-manager',
      ])
      const role = manager.items.find((i: any) => i.kind === 'Role')
      // no Secrets in the managed namespace: the CockroachDB keys live there
      expect(role.rules.flatMap((r: any) => r.resources)).to.not.include('secrets')
      const clusterRole = manager.items.find((i: any) => i.kind === 'ClusterRole')
      expect(clusterRole.rules).to.deep.equal([
        {apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch']},
      ])
      for (const cluster of ['dc-us', 'dc-eu', 'dc-witness'])
        expect(calls).to.include(
          `kubectl --context k3d-${cluster} --namespace kube-system get secret argocd-manager-token --output jsonpath={.data}`,
        )
      // Argo CD skips the kinds those credentials may not list
      expect(calls).to.include(
        'patch configmap argocd-cm --type merge --patch {"data": {"resource.respectRBAC": "normal"}}',
      )
      const appset = readFileSync(
        path.join(PACKAGE_ROOT, 'templates', 'argocd', 'applicationset-cockroachdb.yaml'),
        'utf8',
      )
      expect(appset).to.include('atlas.dev/world')
      expect(appset).to.include('atlas.dev/region')
    })
  })
})
