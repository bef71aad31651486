/**
 * Three real Kubernetes control planes on loopback, named as in the k3d world
 * (dc-us, dc-eu, dc-witness; kube contexts k3d-dc-REGION): per cluster its own etcd,
 * kube-apiserver (TLS, client-certificate auth, RBAC, Pod Security admission),
 * kube-controller-manager, kube-scheduler and a kwok process that plays the kubelet
 * of one node, k3d-dc-REGION-server-0. The binaries are built from source by
 * scripts/control-plane-binaries.sh.
 *
 * Real: API servers, storage, admission, controllers (StatefulSet, Job, PV binder,
 * service accounts, endpoints, ...), the scheduler. Simulated: the kubelet and the
 * containers (kwok moves pods through Pending -> Running/Ready -> Succeeded and
 * keeps the node's lease), volumes (static hostPath PVs of a `local-path`
 * StorageClass, as k3s ships one), and whatever runs in the pods.
 *
 * Every pod gets its node's IP, which is this host's own (non-loopback) address:
 * the API server's pod proxy refuses loopback targets, and with a real address the
 * tests can answer for a pod (e.g. CockroachDB's HTTP port) with a small server.
 *
 * One instance per test run: startControlPlane() starts it lazily and returns the
 * same promise afterwards; a root after() hook stops it, and the exit/signal hook of
 * test/helpers/postgres.ts SIGKILLs every process group it started if the test
 * process ends first.
 */
import {execFile} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {DEFAULT_CONFIG, parseConfigObject} from '../../src/lib/config/index.js'
import {k3dTopology} from '../../src/lib/gitops/topology.js'
import {PACKAGE_ROOT} from '../../src/lib/paths.js'
import {isGroupAlive, killProcessGroup, stopProcessGroup, waitForExit} from '../../src/lib/proc/index.js'
import {findExecutable} from '../../src/lib/tools/discovery.js'
import {CommandRunner} from '../../src/lib/tools/runner.js'
import {sleep} from '../../src/lib/wait.js'
import {trackProcessGroup, untrackProcessGroup} from './postgres.js'

const run = promisify(execFile)

export const CONTROL_PLANE_SCRIPT = path.join(PACKAGE_ROOT, 'scripts', 'control-plane-binaries.sh')
const KWOK_STAGES = path.join(PACKAGE_ROOT, 'test', 'fixtures', 'control-plane', 'kwok-stages.yaml')
const HOST = '127.0.0.1'
const ROOT_PREFIX = 'atlas-test-cp-'
const OWNER_FILE = 'owner.json'
/** ports per cluster: etcd client, etcd peer, API server, controller manager, scheduler, kwok */
const PORTS_PER_CLUSTER = 6

export interface Binaries {
  etcd: string
  k8s: string
  kwok: string
}

type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok'
const COMPONENTS: Component[] = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok']

export interface TestCluster {
  apiPort: number
  /** kube context: k3d-dc-us */
  context: string
  dir: string
  /** k3d cluster name: dc-us */
  name: string
  /** the simulated node: k3d-dc-us-server-0 */
  nodeName: string
  /** PID (= process group) of each running component */
  pids: Partial<Record<Component, number>>
  /** region name: us, eu, witness */
  region: string
  /** starts a component that was killed, with the same flags, and waits until it serves */
  restart(component: Component): Promise<void>
  server: string
  /** SIGKILL (default) or SIGSTOP one component; SIGCONT resumes a stopped one */
  signal(component: Component, signal: NodeJS.Signals): Promise<void>
}

export interface ControlPlane {
  binaries: Binaries
  cluster(region: string): TestCluster
  clusters: TestCluster[]
  /** one kubeconfig with the contexts k3d-dc-us, k3d-dc-eu, k3d-dc-witness (admin client certificates) */
  kubeconfig: string
  /** kubectl with the kubeconfig; rejects on a non-zero exit unless reject is false */
  kubectl(
    context: string,
    args: string[],
    options?: {input?: string; reject?: boolean; timeoutMs?: number},
  ): Promise<{exitCode: number; stderr: string; stdout: string}>
  /** the kubectl the tests use (scripts/setup.sh's, in .tools/bin, before any on PATH) */
  kubectlPath: string
  /** resident memory of every control-plane process, in MiB */
  memoryMiB(): Promise<{byComponent: Record<string, number>; total: number}>
  /** this host's address: every pod's IP */
  podAddress: string
  root: string
  /** seconds from the first process started to every node Ready */
  startSeconds: number
  stop(): Promise<void>
}

/** Why the control plane cannot run here, or undefined when it can (the tests skip, or fail in CI). */
export async function controlPlaneUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'the control-plane tests need Linux'
  try {
    await run('go', ['version'])
  } catch {
    return 'Go is not installed: the control-plane binaries are built from source (scripts/control-plane-binaries.sh)'
  }

  if (!hostAddress()) return 'this host has no non-loopback IPv4 address for the simulated pods'
  return undefined
}

/** The control plane, or a skipped test where it cannot run (a failure under CI). */
export async function controlPlaneOrSkip(ctx: Mocha.Context): Promise<ControlPlane> {
  const why = await controlPlaneUnavailable()
  if (why) {
    if (process.env.CI) throw new Error(why)
    ctx.skip()
  }

  // a cold Go cache builds the binaries first (tens of minutes on two cores)
  ctx.timeout(70 * 60_000)
  return startControlPlane()
}

let binariesPromise: Promise<Binaries> | undefined

/** Builds (first time: long) or finds the pinned binaries. */
export function controlPlaneBinaries(): Promise<Binaries> {
  binariesPromise ??= (async () => {
    const {stdout} = await run('bash', [CONTROL_PLANE_SCRIPT], {maxBuffer: 64 * 1024 * 1024, timeout: 60 * 60_000})
    const vars = Object.fromEntries(
      stdout
        .trim()
        .split('\n')
        .map((l) => l.split('=', 2) as [string, string]),
    )
    return {k8s: vars.K8S_BIN, kwok: vars.KWOK_BIN, etcd: vars.ETCD_BIN}
  })()
  return binariesPromise
}

/** kubectl from .tools/bin (scripts/setup.sh: a release build), else the first on PATH. */
export async function kubectlPath(): Promise<string> {
  const own = path.join(PACKAGE_ROOT, '.tools', 'bin', 'kubectl')
  const found = (await findExecutable(own)) ?? (await findExecutable('kubectl'))
  if (!found) throw new Error('kubectl not found: scripts/setup.sh puts it in .tools/bin')
  return found
}

/** The first non-internal IPv4 address of this host. */
export function hostAddress(): string | undefined {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const a of addresses ?? [])
      if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')) return a.address
  }

  return undefined
}

/** where freePortBlock draws its blocks of up to 100 ports */
const CONTROL_PLANE_PORTS = {from: 12_000, to: 20_000} as const

/** A block of consecutive free loopback ports (none of them bound by anyone when checked). */
export async function freePortBlock(count: number): Promise<number> {
  const canBind = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = net.createServer()
      server.once('error', () => resolve(false))
      server.listen(port, HOST, () => server.close(() => resolve(true)))
    })
  for (let attempt = 0; attempt < 50; attempt++) {
    // below the test worlds' blocks (test/helpers/world.ts: 20000-32040) and so below Linux's ephemeral range
    // (from 32768): a port there, checked free, can be taken by an outgoing connection before a component binds it
    const {from, to} = CONTROL_PLANE_PORTS
    const base = from + Math.floor(Math.random() * ((to - from - 100) / 10)) * 10
    let ok = true
    for (let p = base; p < base + count && ok; p++) ok = await canBind(p)
    if (ok) return base
  }

  throw new Error(`no block of ${count} free ports found`)
}

let instance: Promise<ControlPlane> | undefined

/** The control plane of this test run, started on first use. */
export function startControlPlane(): Promise<ControlPlane> {
  instance ??= launch().catch((error) => {
    instance = undefined
    throw error
  })
  return instance
}

// mocha: a root-level hook, registered when a test file imports this module
if (typeof after === 'function') {
  after(async function () {
    this.timeout(60_000)
    if (!instance) return
    const plane = await instance.catch(() => {})
    instance = undefined
    await plane?.stop()
  })
}

/** Which test process started the processes of a run directory, and their PIDs. */
function recordOwner(root: string, pids: Set<number>): void {
  writeFileSync(path.join(root, OWNER_FILE), JSON.stringify({owner: process.pid, pids: [...pids]}))
}

/**
 * A test process that was SIGKILLed (no exit hook runs) leaves its clusters running:
 * the next run ends them. Only PIDs recorded in a run directory whose owner is gone,
 * and whose command line still names that directory, are signalled.
 */
function reapStaleRuns(): void {
  const tmp = os.tmpdir()
  for (const entry of readdirSync(tmp)) {
    if (!entry.startsWith(ROOT_PREFIX)) continue
    const root = path.join(tmp, entry)
    let record: {owner: number; pids: number[]}
    try {
      record = JSON.parse(readFileSync(path.join(root, OWNER_FILE), 'utf8')) as {owner: number; pids: number[]}
    } catch {
      continue
    }

    if (isGroupAlive(record.owner) || existsSync(`/proc/${record.owner}`)) continue
    for (const pid of record.pids) {
      const cmdline = (() => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        } catch {
          return ''
        }
      })()
      if (cmdline.includes(root)) killProcessGroup(pid, 'SIGKILL')
    }

    rmSync(root, {recursive: true, force: true})
  }
}

async function launch(): Promise<ControlPlane> {
  const binaries = await controlPlaneBinaries()
  const podAddress = hostAddress()
  if (!podAddress) throw new Error('no non-loopback IPv4 address on this host')
  reapStaleRuns()
  const root = mkdtempSync(path.join(os.tmpdir(), ROOT_PREFIX))
  recordOwner(root, new Set())
  const topology = k3dTopology(parseConfigObject(DEFAULT_CONFIG))
  const config = parseConfigObject(DEFAULT_CONFIG)
  const base = await freePortBlock(PORTS_PER_CLUSTER * topology.regions.length)
  const runner = new CommandRunner()
  const kubectl = await kubectlPath()
  const started = Date.now()
  const allPids = new Set<number>()

  const clusters: TestCluster[] = topology.regions.map((r, i) => {
    const region = config.regions.find((x) => x.name === r.region)!
    const ports = Array.from({length: PORTS_PER_CLUSTER}, (_, k) => base + i * PORTS_PER_CLUSTER + k)
    const [etcdClient, etcdPeer, apiPort, cmPort, schedPort, kwokPort] = ports
    const dir = path.join(root, r.cluster)
    mkdirSync(path.join(dir, 'etcd'), {recursive: true, mode: 0o700})
    const pids: TestCluster['pids'] = {}
    const cert = (name: string) => path.join(dir, 'pki', `${name}.crt`)
    const key = (name: string) => path.join(dir, 'pki', `${name}.key`)
    const kubeconfigOf = (user: string) => path.join(dir, `${user}.kubeconfig`)
    const server = `https://${HOST}:${apiPort}`
    const serviceIp = firstServiceIp(r.serviceCidr)
    const args: Record<Component, string[]> = {
      etcd: [
        '--name',
        r.cluster,
        '--data-dir',
        path.join(dir, 'etcd'),
        '--listen-client-urls',
        `http://${HOST}:${etcdClient}`,
        '--advertise-client-urls',
        `http://${HOST}:${etcdClient}`,
        '--listen-peer-urls',
        `http://${HOST}:${etcdPeer}`,
        '--initial-advertise-peer-urls',
        `http://${HOST}:${etcdPeer}`,
        '--initial-cluster',
        `${r.cluster}=http://${HOST}:${etcdPeer}`,
        // test data: fsync buys nothing here and costs the shared disk
        '--unsafe-no-fsync',
        '--log-level',
        'warn',
        '--quota-backend-bytes',
        String(512 * 1024 * 1024),
      ],
      'kube-apiserver': [
        `--etcd-servers=http://${HOST}:${etcdClient}`,
        `--bind-address=${HOST}`,
        `--advertise-address=${HOST}`,
        `--secure-port=${apiPort}`,
        `--tls-cert-file=${cert('apiserver')}`,
        `--tls-private-key-file=${key('apiserver')}`,
        `--client-ca-file=${cert('ca')}`,
        '--authorization-mode=Node,RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${cert('sa')}`,
        `--service-account-signing-key-file=${key('sa')}`,
        `--service-cluster-ip-range=${r.serviceCidr}`,
        '--allow-privileged=true',
        '--enable-admission-plugins=NodeRestriction',
        '--profiling=false',
        '--v=1',
      ],
      'kube-controller-manager': [
        `--kubeconfig=${kubeconfigOf('controller-manager')}`,
        `--authentication-kubeconfig=${kubeconfigOf('controller-manager')}`,
        `--authorization-kubeconfig=${kubeconfigOf('controller-manager')}`,
        `--bind-address=${HOST}`,
        `--secure-port=${cmPort}`,
        `--service-account-private-key-file=${key('sa')}`,
        `--root-ca-file=${cert('ca')}`,
        '--use-service-account-credentials=true',
        `--cluster-signing-cert-file=${cert('ca')}`,
        `--cluster-signing-key-file=${key('ca')}`,
        `--service-cluster-ip-range=${r.serviceCidr}`,
        `--cluster-cidr=${r.podCidr}`,
        '--leader-elect=false',
        '--profiling=false',
        '--v=1',
      ],
      'kube-scheduler': [
        `--kubeconfig=${kubeconfigOf('scheduler')}`,
        `--authentication-kubeconfig=${kubeconfigOf('scheduler')}`,
        `--authorization-kubeconfig=${kubeconfigOf('scheduler')}`,
        `--bind-address=${HOST}`,
        `--secure-port=${schedPort}`,
        '--leader-elect=false',
        '--profiling=false',
        '--v=1',
      ],
      kwok: [
        `--kubeconfig=${kubeconfigOf('kwok')}`,
        `--config=${KWOK_STAGES}`,
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        `--node-ip=${podAddress}`,
        `--cidr=${r.podCidr}`,
        `--server-address=${HOST}:${kwokPort}`,
        '--node-lease-duration-seconds=40',
      ],
    }
    const binary = (c: Component) =>
      path.join(c === 'etcd' ? binaries.etcd : c === 'kwok' ? binaries.kwok : binaries.k8s, c)
    const startComponent = async (c: Component) => {
      const pid = await runner.start(binary(c), args[c], {
        logFile: path.join(dir, `${c}.log`),
        cwd: dir,
        env: {HOME: dir},
      })
      pids[c] = pid
      allPids.add(pid)
      trackProcessGroup(pid)
      recordOwner(root, allPids)
      return pid
    }

    const cluster: TestCluster = {
      region: r.region,
      name: r.cluster,
      context: r.context,
      nodeName: r.serverContainer,
      apiPort,
      server,
      dir,
      pids,
      async signal(component, signal) {
        const pid = pids[component]
        if (!pid) throw new Error(`${component} of ${r.cluster} is not running`)
        killProcessGroup(pid, signal)
        if (signal === 'SIGKILL' || signal === 'SIGTERM') {
          await waitForExit(pid, {timeoutMs: 15_000, group: true})
          untrackProcessGroup(pid)
          delete pids[component]
        }
      },
      async restart(component) {
        if (pids[component] && isGroupAlive(pids[component]!))
          throw new Error(`${component} of ${r.cluster} still runs`)
        const pid = await startComponent(component)
        if (component === 'kube-apiserver') await waitReadyz(cluster, pid)
        if (component === 'etcd') await waitTcp(etcdClient, pid, path.join(dir, 'etcd.log'))
      },
    }
    Object.assign(cluster, {
      _start: startComponent,
      _etcdClient: etcdClient,
      _serviceIp: serviceIp,
      _awsRegion: region.awsRegion,
    })
    return cluster
  })

  const kubeconfig = path.join(root, 'kubeconfig')
  const plane: ControlPlane = {
    clusters,
    cluster(region) {
      const c = clusters.find((x) => x.region === region || x.name === region || x.context === region)
      if (!c) throw new Error(`no cluster for region ${region}`)
      return c
    },
    kubeconfig,
    podAddress,
    binaries,
    root,
    kubectlPath: kubectl,
    startSeconds: 0,
    async memoryMiB() {
      const byComponent: Record<string, number> = {}
      let total = 0
      for (const c of clusters) {
        for (const [component, pid] of Object.entries(c.pids)) {
          const status = await import('node:fs/promises')
            .then((fs) => fs.readFile(`/proc/${pid}/status`, 'utf8'))
            .catch(() => '')
          const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
          byComponent[component] = (byComponent[component] ?? 0) + kb / 1024
          total += kb / 1024
        }
      }

      return {total, byComponent}
    },
    async kubectl(context, kubectlArgs, options = {}) {
      const result = await runner.run(kubectl, ['--kubeconfig', kubeconfig, '--context', context, ...kubectlArgs], {
        input: options.input,
        reject: false,
        timeoutMs: options.timeoutMs ?? 60_000,
      })
      if (result.exitCode !== 0 && options.reject !== false) {
        throw new Error(
          `kubectl --context ${context} ${kubectlArgs.join(' ')} exited ${result.exitCode}: ${result.stderr.trim()}`,
        )
      }

      return {exitCode: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr}
    },
    async stop() {
      // a component that ended on its own (not stopped by a test) says why before its logs go
      for (const c of clusters) {
        for (const [component, pid] of Object.entries(c.pids)) {
          if (!isGroupAlive(pid as number))
            process.stderr.write(
              `control plane: ${c.name}/${component} (pid ${pid}) had exited:\n${await tail(path.join(c.dir, `${component}.log`))}\n`,
            )
        }
      }

      for (const c of clusters) {
        // the reverse of the start order: nothing reconnects to what is already gone
        for (const component of [...COMPONENTS].reverse()) {
          const pid = c.pids[component]
          if (!pid) continue
          killProcessGroup(pid, 'SIGCONT')
          await stopProcessGroup(pid, 5000)
          untrackProcessGroup(pid)
          delete c.pids[component]
        }
      }

      for (const pid of allPids) if (isGroupAlive(pid)) killProcessGroup(pid, 'SIGKILL')
      rmSync(root, {recursive: true, force: true})
    },
  }

  try {
    writeOpensslConfig(root)
    await Promise.all(clusters.map((c) => issueCertificates(c, root)))
    writeKubeconfigs(clusters, kubeconfig)
    await Promise.all(clusters.map((c) => startCluster(c, plane)))
    plane.startSeconds = (Date.now() - started) / 1000
    return plane
  } catch (error) {
    await plane.stop().catch(() => {})
    throw error
  }
}

interface ClusterInternals {
  _awsRegion: string
  _etcdClient: number
  _serviceIp: string
  _start(c: Component): Promise<number>
}

async function startCluster(c: TestCluster, plane: ControlPlane): Promise<void> {
  const internals = c as ClusterInternals & TestCluster
  const etcdPid = await internals._start('etcd')
  await waitTcp(internals._etcdClient, etcdPid, path.join(c.dir, 'etcd.log'))
  const apiPid = await internals._start('kube-apiserver')
  await waitReadyz(c, apiPid)
  // the node kwok plays the kubelet of, and the storage k3s would bring (local-path)
  await plane.kubectl(c.context, ['apply', '--server-side', '--field-manager=atlas-test', '-f', '-'], {
    input: JSON.stringify(clusterObjects(c, internals._awsRegion)),
  })
  await Promise.all((['kube-controller-manager', 'kube-scheduler', 'kwok'] as const).map((x) => internals._start(x)))
  await plane.kubectl(c.context, ['wait', '--for=condition=Ready', `node/${c.nodeName}`, '--timeout=120s'], {
    timeoutMs: 130_000,
  })
  // the controller manager's service-account controller makes the default ServiceAccount pods need
  await plane.kubectl(
    c.context,
    ['wait', '--for=create', 'serviceaccount/default', '-n', 'default', '--timeout=120s'],
    {timeoutMs: 130_000},
  )
}

function clusterObjects(c: TestCluster, awsRegion: string): unknown {
  const pv = (i: number) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {name: `local-path-${i}`, labels: {'atlas.dev/test-storage': 'true'}},
    spec: {
      capacity: {storage: '20Gi'},
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: 'local-path',
      hostPath: {path: `/var/lib/rancher/k3s/storage/pv-${i}`, type: 'DirectoryOrCreate'},
    },
  })
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: c.nodeName,
          annotations: {'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0'},
          labels: {
            'kubernetes.io/hostname': c.nodeName,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            'node-role.kubernetes.io/control-plane': 'true',
            'topology.kubernetes.io/region': awsRegion,
            'atlas.dev/region': c.region,
            type: 'kwok',
          },
        },
      },
      {
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: {name: 'local-path', annotations: {'storageclass.kubernetes.io/is-default-class': 'true'}},
        provisioner: 'rancher.io/local-path',
        volumeBindingMode: 'WaitForFirstConsumer',
        reclaimPolicy: 'Delete',
      },
      ...Array.from({length: 8}, (_, i) => pv(i)),
    ],
  }
}

function firstServiceIp(cidr: string): string {
  const [address] = cidr.split('/')
  const parts = address.split('.').map(Number)
  parts[3] += 1
  return parts.join('.')
}

async function openssl(args: string[], env: Record<string, string> = {}): Promise<void> {
  await run('openssl', args, {env: {...process.env, SAN: 'DNS:unused', ...env}})
}

/** The OpenSSL config of every certificate (written once: the clusters' certificates are made in parallel). */
function writeOpensslConfig(root: string): void {
  const cnf = path.join(root, 'openssl.cnf')
  writeFileSync(
    cnf,
    [
      '[req]',
      'distinguished_name = dn',
      '[dn]',
      '[ca]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
      'subjectKeyIdentifier = hash',
      '[server]',
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = ${ENV::SAN}',
      '[client]',
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = clientAuth',
      '',
    ].join('\n'),
  )
}

/** A CA per cluster; server, client and service-account keys (ECDSA P-256: fast to make). */
async function issueCertificates(c: TestCluster, root: string): Promise<void> {
  const pki = path.join(c.dir, 'pki')
  mkdirSync(pki, {recursive: true, mode: 0o700})
  const cnf = path.join(root, 'openssl.cnf')
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2']
  const f = (name: string) => path.join(pki, name)
  await openssl([
    'req',
    '-x509',
    '-config',
    cnf,
    '-extensions',
    'ca',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-subj',
    `/CN=${c.name}-ca`,
  ])
  const internals = c as ClusterInternals & TestCluster
  const sans = [
    `IP:${HOST}`,
    'DNS:localhost',
    `IP:${internals._serviceIp}`,
    `DNS:${c.nodeName}`,
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
  ].join(',')
  const leaf = (name: string, subject: string, ext: 'client' | 'server', env: Record<string, string> = {}) =>
    openssl(
      [
        'req',
        '-x509',
        '-config',
        cnf,
        '-extensions',
        ext,
        ...ec,
        '-keyout',
        f(`${name}.key`),
        '-out',
        f(`${name}.crt`),
        '-subj',
        subject,
        '-CA',
        f('ca.crt'),
        '-CAkey',
        f('ca.key'),
      ],
      env,
    )
  await Promise.all([
    leaf('apiserver', '/CN=kube-apiserver', 'server', {SAN: sans}),
    // k3d's kubeconfig user is a member of system:masters as well
    leaf('admin', '/O=system:masters/CN=admin', 'client'),
    leaf('controller-manager', '/CN=system:kube-controller-manager', 'client'),
    leaf('scheduler', '/CN=system:kube-scheduler', 'client'),
    // kwok writes node and pod status for every node it plays: the kubelet's rights and more
    leaf('kwok', '/O=system:masters/CN=kwok', 'client'),
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('sa.key')]),
  ])
  await openssl(['ec', '-in', f('sa.key'), '-pubout', '-out', f('sa.crt')])
}

function kubeconfigYaml(
  entries: Array<{certName: string; cluster: TestCluster; context: string; user: string}>,
): string {
  const b64 = (file: string) => readFileSync(file).toString('base64')
  const pki = (c: TestCluster, name: string) => path.join(c.dir, 'pki', name)
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: entries.map((e) => ({
      name: e.context,
      cluster: {server: e.cluster.server, 'certificate-authority-data': b64(pki(e.cluster, 'ca.crt'))},
    })),
    users: entries.map((e) => ({
      name: e.user,
      user: {
        'client-certificate-data': b64(pki(e.cluster, `${e.certName}.crt`)),
        'client-key-data': b64(pki(e.cluster, `${e.certName}.key`)),
      },
    })),
    contexts: entries.map((e) => ({name: e.context, context: {cluster: e.context, user: e.user}})),
    'current-context': entries[0].context,
  })
}

function writeKubeconfigs(clusters: TestCluster[], file: string): void {
  // the user's kubeconfig, as k3d writes it: context and cluster k3d-dc-REGION, user admin@k3d-dc-REGION
  writeFileSync(
    file,
    kubeconfigYaml(
      clusters.map((c) => ({cluster: c, user: `admin@${c.context}`, context: c.context, certName: 'admin'})),
    ),
    {mode: 0o600},
  )
  for (const c of clusters) {
    for (const user of ['controller-manager', 'scheduler', 'kwok']) {
      writeFileSync(
        path.join(c.dir, `${user}.kubeconfig`),
        kubeconfigYaml([{cluster: c, user, context: c.context, certName: user}]),
        {mode: 0o600},
      )
    }
  }
}

async function tail(file: string): Promise<string> {
  const {readFile} = await import('node:fs/promises')
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n')
}

async function waitTcp(port: number, pid: number, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (!isGroupAlive(pid)) break
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, HOST)
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await sleep(100)
  }

  throw new Error(`nothing listens on ${HOST}:${port} (pid ${pid}):\n${await tail(logFile)}`)
}

/** /readyz of the API server with the admin client certificate: 200 once every post-start hook ran. */
async function waitReadyz(c: TestCluster, pid: number): Promise<void> {
  const pki = (name: string) => readFileSync(path.join(c.dir, 'pki', name))
  const agent = new https.Agent({ca: pki('ca.crt'), cert: pki('admin.crt'), key: pki('admin.key')})
  const deadline = Date.now() + 120_000
  try {
    while (Date.now() < deadline) {
      if (!isGroupAlive(pid)) break
      const status = await new Promise<number>((resolve) => {
        const req = https.get(`${c.server}/readyz`, {agent, timeout: 2000}, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('timeout', () => req.destroy())
        req.on('error', () => resolve(0))
      })
      if (status === 200) return
      await sleep(250)
    }
  } finally {
    agent.destroy()
  }

  throw new Error(
    `kube-apiserver of ${c.name} (pid ${pid}) did not become ready:\n${await tail(path.join(c.dir, 'kube-apiserver.log'))}`,
  )
}
