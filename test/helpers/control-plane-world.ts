/**
 * The k3d world's workloads on the test control plane (test/helpers/control-plane.ts):
 * what `atlas render` writes, templated with the charts as Argo CD would (helm
 * template, per region), applied server-side into each region's cluster.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import {parseAllDocuments, parse as parseYaml} from 'yaml'

import type {ControlPlane} from './control-plane.js'

import {DEFAULT_CONFIG, parseConfigObject} from '../../src/lib/config/index.js'
import {DEFAULT_RENDER_INPUTS, renderWorld, writeRendered} from '../../src/lib/gitops/index.js'
import {ATLAS_NAMESPACE} from '../../src/lib/gitops/topology.js'
import {PACKAGE_ROOT} from '../../src/lib/paths.js'
import {CommandRunner} from '../../src/lib/tools/runner.js'
import {sleep} from '../../src/lib/wait.js'

export const CONFIG = parseConfigObject(DEFAULT_CONFIG)
export const FIELD_MANAGER = 'atlas'

let rendered: undefined | {dir: string; files: string[]}

/** `atlas render` of the default config into a temp dir (once per run; removed at exit). */
export async function renderedWorld(): Promise<{dir: string; files: string[]}> {
  if (rendered) return rendered
  const dir = mkdtempSync(path.join(os.tmpdir(), 'atlas-test-rendered-'))
  process.once('exit', () => rmSync(dir, {recursive: true, force: true}))
  const files = await renderWorld(CONFIG, {
    ...DEFAULT_RENDER_INPUTS,
    git: {...DEFAULT_RENDER_INPUTS.git, renderedPath: 'deploy'},
  })
  const written = await writeRendered(files, dir)
  rendered = {dir, files: written.map((f) => f.path)}
  return rendered
}

export interface KubeObject {
  [key: string]: unknown
  apiVersion: string
  kind: string
  metadata: {labels?: Record<string, string>; name: string; namespace?: string}
}

/** helm template of a chart with one region's rendered values, as Argo CD renders it. */
export async function templateChart(chart: 'cockroachdb' | 'ledger', region: string): Promise<KubeObject[]> {
  const {dir} = await renderedWorld()
  const result = await new CommandRunner().run(
    'helm',
    [
      'template',
      chart,
      path.join(PACKAGE_ROOT, 'charts', chart),
      '--namespace',
      ATLAS_NAMESPACE,
      '-f',
      path.join(dir, 'values', chart, `${region}.yaml`),
    ],
    {timeoutMs: 60_000},
  )
  return parseAllDocuments(result.stdout)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((d): d is KubeObject => d !== null)
}

/** The charts each region runs: CockroachDB everywhere, the ledger in the data regions. */
export function chartsOf(region: string): Array<'cockroachdb' | 'ledger'> {
  const {role} = CONFIG.regions.find((r) => r.name === region)!
  return role === 'witness' ? ['cockroachdb'] : ['cockroachdb', 'ledger']
}

/**
 * The atlas namespace exactly as the world creates it: ansible/roles/cluster_secrets
 * applies it with its `cluster_secrets_namespace_labels` (Pod Security `restricted`).
 */
export function atlasNamespace(): KubeObject {
  const defaults = parseYaml(
    readFileSync(path.join(PACKAGE_ROOT, 'ansible', 'roles', 'cluster_secrets', 'defaults', 'main.yml'), 'utf8'),
  ) as {
    cluster_secrets_namespace_labels: Record<string, string>
  }
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {name: ATLAS_NAMESPACE, labels: defaults.cluster_secrets_namespace_labels},
  }
}

export interface Applied {
  objects: KubeObject[]
  stdout: string
  /** kubectl's warnings, e.g. `would violate PodSecurity "restricted:latest"` */
  warnings: string[]
}

/**
 * Server-side apply of objects into a region's cluster; objects without a namespace
 * go to `namespace` (the Argo CD Application's destination namespace: atlas).
 */
export async function applyObjects(
  plane: ControlPlane,
  region: string,
  objects: KubeObject[],
  options: {fieldManager?: string; namespace?: string} = {},
): Promise<Applied> {
  const {context} = plane.cluster(region)
  const list = {apiVersion: 'v1', kind: 'List', items: objects}
  const ns = options.namespace ? ['--namespace', options.namespace] : []
  const result = await plane.kubectl(
    context,
    [
      ...ns,
      'apply',
      '--server-side',
      `--field-manager=${options.fieldManager ?? FIELD_MANAGER}`,
      '--force-conflicts',
      '-f',
      '-',
    ],
    {
      input: JSON.stringify(list),
    },
  )
  const warnings = result.stderr.split('\n').filter((l) => l.startsWith('Warning:'))
  return {objects, stdout: result.stdout, warnings}
}

const deployed = new Map<string, Promise<Applied>>()

/** Every rendered workload of a region, applied into its cluster (once per run). */
export function deployRegion(plane: ControlPlane, region: string): Promise<Applied> {
  let p = deployed.get(region)
  if (!p) {
    p = (async () => {
      // the namespace as ansible/roles/cluster_secrets creates it, with its Pod Security labels
      await applyObjects(plane, region, [atlasNamespace()])
      const objects = (await Promise.all(chartsOf(region).map((chart) => templateChart(chart, region)))).flat()
      return applyObjects(plane, region, objects, {namespace: ATLAS_NAMESPACE})
    })()
    p.catch(() => deployed.delete(region))
    deployed.set(region, p)
  }

  return p
}

/** JSON of `kubectl get`; undefined when not found. */
export async function getObject<T = any>(plane: ControlPlane, region: string, args: string[]): Promise<T | undefined> {
  const result = await plane.kubectl(plane.cluster(region).context, ['get', ...args, '-o', 'json'], {reject: false})
  if (result.exitCode !== 0) {
    if (/NotFound|not found/.test(result.stderr)) return undefined
    throw new Error(`kubectl get ${args.join(' ')}: ${result.stderr.trim()}`)
  }

  return JSON.parse(result.stdout) as T
}

export async function until<T>(
  what: string,
  check: () => false | Promise<false | T | undefined> | T | undefined,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value) return value
    } catch (error) {
      last = error
    }

    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs / 1000} s waiting for: ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`,
      )
    await sleep(everyMs)
  }
}

export const podReady = (pod: any): boolean =>
  pod?.status?.phase === 'Running' &&
  (pod.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')

/**
 * What a CockroachDB node answers on its HTTP port, for the API server's pod proxy:
 * /health?ready=1 (200 or 503, as CockroachDB) and /_status/vars (the metric text of
 * test/fixtures/cockroach). TLS with a throwaway certificate (secure mode); the API
 * server does not verify the certificates of pods it proxies to.
 */
export class FakeCockroachNode {
  port = 0
  ready = true
  requests: string[] = []
  vars: string
  private server?: https.Server

  constructor(
    readonly host: string,
    varsFixture: string,
    private readonly tls: {cert: Buffer; key: Buffer},
  ) {
    this.vars = FakeCockroachNode.fixture(varsFixture)
  }

  static fixture(name: string): string {
    return readFileSync(path.join(PACKAGE_ROOT, 'test', 'fixtures', 'cockroach', `${name}.prom`), 'utf8')
  }

  async start(port = 0): Promise<number> {
    this.server = https.createServer({cert: this.tls.cert, key: this.tls.key}, (req, res) => {
      this.requests.push(req.url ?? '')
      if (req.url?.startsWith('/health')) {
        res.writeHead(this.ready ? 200 : 503, {'content-type': 'application/json'})
        res.end(this.ready ? '{}' : '{"error":"node is not healthy","code":14}')
      } else if (req.url?.startsWith('/_status/vars')) {
        res.writeHead(200, {'content-type': 'text/plain; version=0.0.4'})
        res.end(this.vars)
      } else {
        res.writeHead(404)
        res.end()
      }
    })
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject)
      this.server!.listen(port, this.host, () => resolve())
    })
    this.port = (this.server.address() as {port: number}).port
    return this.port
  }

  async stop(): Promise<void> {
    if (!this.server) return
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server!.close(() => resolve()))
  }
}

/** The serving certificate of a cluster's API server: good enough for the fakes (nobody verifies it). */
export function fakeNodeTls(plane: ControlPlane): {cert: Buffer; key: Buffer} {
  const dir = path.join(plane.cluster('us').dir, 'pki')
  return {cert: readFileSync(path.join(dir, 'apiserver.crt')), key: readFileSync(path.join(dir, 'apiserver.key'))}
}
