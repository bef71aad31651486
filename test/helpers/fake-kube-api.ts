import type {AddressInfo, Socket} from 'node:net'

/**
 * A FAKE Kubernetes API server for tests: just enough of the real API for the
 * CockroachDB health probe, on 127.0.0.1 with real object shapes.
 *
 *   GET /api/v1/namespaces/NS/pods?labelSelector=…            PodList
 *   GET /api/v1/namespaces/NS/pods?watch=true&resourceVersion=…  newline-delimited {type, object} events
 *   GET /api/v1/namespaces/NS/pods/[https:]NAME:PORT/proxy/PATH  what the pod's port would answer
 *
 * Tests drive it: change pods (events go to open watches), set what a pod's
 * /_status/vars and /health?ready=1 return, drop watches mid-stream, freeze
 * (accept but never answer, like a paused API server) or stop it (refused).
 */
import http from 'node:http'

export interface FakePod {
  apiVersion: 'v1'
  kind: 'Pod'
  metadata: {
    creationTimestamp: string
    deletionTimestamp?: string
    labels: Record<string, string>
    name: string
    namespace: string
    resourceVersion: string
    uid: string
  }
  spec: {containers: Array<{image: string; name: string}>; nodeName: string}
  status: {
    conditions: Array<{lastTransitionTime: string; status: 'False' | 'True'; type: string}>
    containerStatuses: Array<{
      image: string
      name: string
      ready: boolean
      restartCount: number
      started: boolean
      state: Record<string, unknown>
    }>
    phase: string
    podIP?: string
  }
}

export interface ProxyAnswer {
  body: string
  contentType?: string
  status: number
}

interface OpenWatch {
  namespace: string
  res: http.ServerResponse
  selector: Record<string, string>
}

const NOW = '2026-01-01T00:00:00Z'

export class FakeKubeApi {
  listRequests = 0
  port = 0
  /** every request path seen (for assertions) */
  readonly requests: string[] = []
  watchRequests = 0
  private frozen = false
  private readonly pods = new Map<string, FakePod>()
  private readonly proxy = new Map<string, ProxyAnswer>()
  private resourceVersion = 1000
  private server?: http.Server
  private readonly sockets = new Set<Socket>()
  private readonly watches = new Set<OpenWatch>()

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  addPod(options: {
    labels: Record<string, string>
    name: string
    namespace: string
    nodeName: string
    podIP?: string
    ready?: boolean
  }): FakePod {
    const pod: FakePod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: options.name,
        namespace: options.namespace,
        uid: `uid-${options.namespace}-${options.name}`,
        resourceVersion: this.nextVersion(),
        creationTimestamp: NOW,
        labels: options.labels,
      },
      spec: {nodeName: options.nodeName, containers: [{name: 'cockroachdb', image: 'cockroachdb/cockroach:v24.3.5'}]},
      status: {
        phase: 'Running',
        podIP: options.podIP,
        conditions: [],
        containerStatuses: [
          {
            name: 'cockroachdb',
            ready: false,
            restartCount: 0,
            image: 'cockroachdb/cockroach:v24.3.5',
            started: true,
            state: {running: {startedAt: NOW}},
          },
        ],
      },
    }
    this.applyReady(pod, options.ready ?? true)
    this.pods.set(this.key(options.namespace, options.name), pod)
    this.emit('ADDED', pod)
    return pod
  }

  deletePod(namespace: string, name: string): void {
    const pod = this.mustGet(namespace, name)
    this.pods.delete(this.key(namespace, name))
    pod.metadata.resourceVersion = this.nextVersion()
    this.emit('DELETED', pod)
  }

  /** Cuts every open watch mid-stream (no clean end of the HTTP response). */
  dropWatches(): void {
    for (const w of this.watches) w.res.socket?.destroy()
    this.watches.clear()
  }

  /** Like a paused container: connections are accepted, nothing is ever answered. */
  freeze(): void {
    this.frozen = true
  }

  openWatches(): number {
    return this.watches.size
  }

  pod(namespace: string, name: string): FakePod | undefined {
    return this.pods.get(this.key(namespace, name))
  }

  /** Back on the same port (a restarted region). */
  async restart(): Promise<void> {
    await this.start(this.port)
  }

  restartPod(namespace: string, name: string): void {
    const pod = this.mustGet(namespace, name)
    pod.status.containerStatuses[0].restartCount++
    pod.metadata.resourceVersion = this.nextVersion()
    this.emit('MODIFIED', pod)
  }

  setPodReady(namespace: string, name: string, ready: boolean): void {
    const pod = this.mustGet(namespace, name)
    this.applyReady(pod, ready)
    pod.metadata.resourceVersion = this.nextVersion()
    this.emit('MODIFIED', pod)
  }

  /** What GET PATH on the pod's port answers through the proxy (PATH with its query, e.g. "health?ready=1"). */
  setProxyAnswer(namespace: string, name: string, port: number, path: string, answer: ProxyAnswer): void {
    this.proxy.set(`${namespace}/${name}:${port}/${path.replace(/^\//, '')}`, answer)
  }

  async start(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res))
    this.server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    // a port taken meanwhile (restart) must fail the test, not hang it
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject)
      this.server!.listen(port, '127.0.0.1', () => {
        this.server!.off('error', reject)
        resolve()
      })
    })
    this.port = (this.server!.address() as AddressInfo).port
  }

  /** The API server is gone: connections are cut and refused from now on. */
  async stop(): Promise<void> {
    for (const w of this.watches) w.res.destroy()
    this.watches.clear()
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    this.server = undefined
  }

  thaw(): void {
    this.frozen = false
  }

  private applyReady(pod: FakePod, ready: boolean): void {
    const status = ready ? 'True' : 'False'
    pod.status.conditions = [
      {type: 'Initialized', status: 'True', lastTransitionTime: NOW},
      {type: 'Ready', status, lastTransitionTime: NOW},
      {type: 'ContainersReady', status, lastTransitionTime: NOW},
      {type: 'PodScheduled', status: 'True', lastTransitionTime: NOW},
    ]
    pod.status.containerStatuses[0].ready = ready
  }

  private emit(type: 'ADDED' | 'DELETED' | 'MODIFIED', pod: FakePod): void {
    for (const w of this.watches) {
      if (w.namespace === pod.metadata.namespace && matches(pod, w.selector))
        w.res.write(`${JSON.stringify({type, object: pod})}\n`)
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.frozen) return // never answered
    const url = new URL(req.url ?? '/', 'http://fake')
    this.requests.push(`${url.pathname}${url.search}`)
    const podsMatch = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname)
    if (req.method === 'GET' && podsMatch) {
      const namespace = decodeURIComponent(podsMatch[1])
      const selector = parseSelector(url.searchParams.get('labelSelector') ?? '')
      if (url.searchParams.get('watch') === 'true') return this.watch(namespace, selector, url, res)
      this.listRequests++
      return this.json(res, 200, {
        kind: 'PodList',
        apiVersion: 'v1',
        metadata: {resourceVersion: String(this.resourceVersion)},
        items: this.matching(namespace, selector),
      })
    }

    const proxyMatch = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/(?:(https?):)?([^/:]+):(\d+)\/proxy\/(.*)$/.exec(
      url.pathname,
    )
    if (req.method === 'GET' && proxyMatch) {
      const [, namespace, , name, port, path] = proxyMatch
      const pod = this.pods.get(this.key(namespace, name))
      if (!pod) return this.status(res, 404, 'NotFound', `pods "${name}" not found`)
      const answer = this.proxy.get(`${namespace}/${name}:${port}/${path}${url.search}`)
      // what the real API server says when the pod's port does not answer
      if (!answer)
        return this.status(
          res,
          503,
          'ServiceUnavailable',
          `error trying to reach service: dial tcp ${pod.status.podIP ?? '10.42.0.9'}:${port}: connect: connection refused`,
        )
      res.writeHead(answer.status, {'Content-Type': answer.contentType ?? 'text/plain; version=0.0.4; charset=utf-8'})
      res.end(answer.body)
      return
    }

    this.status(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`)
  }

  private json(res: http.ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, {'Content-Type': 'application/json'})
    res.end(JSON.stringify(body))
  }

  private key(namespace: string, name: string): string {
    return `${namespace}/${name}`
  }

  private matching(namespace: string, selector: Record<string, string>): FakePod[] {
    return [...this.pods.values()]
      .filter((p) => p.metadata.namespace === namespace && matches(p, selector))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
  }

  private mustGet(namespace: string, name: string): FakePod {
    const pod = this.pods.get(this.key(namespace, name))
    if (!pod) throw new Error(`fake: no pod ${namespace}/${name}`)
    return pod
  }

  private nextVersion(): string {
    this.resourceVersion++
    return String(this.resourceVersion)
  }

  private status(res: http.ServerResponse, code: number, reason: string, message: string): void {
    this.json(res, code, {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code})
  }

  private watch(namespace: string, selector: Record<string, string>, url: URL, res: http.ServerResponse): void {
    this.watchRequests++
    res.writeHead(200, {'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked'})
    res.flushHeaders()
    const since = Number(url.searchParams.get('resourceVersion') ?? '0')
    // a watch from an older version first replays what changed since (pods newer than it)
    for (const pod of this.matching(namespace, selector)) {
      if (Number(pod.metadata.resourceVersion) > since)
        res.write(`${JSON.stringify({type: 'MODIFIED', object: pod})}\n`)
    }

    const watch: OpenWatch = {namespace, selector, res}
    this.watches.add(watch)
    res.on('close', () => this.watches.delete(watch))
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '0')
    if (timeoutSeconds > 0) {
      const timer = setTimeout(() => res.end(), timeoutSeconds * 1000)
      res.on('close', () => clearTimeout(timer))
    }
  }
}

function parseSelector(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split(',')
      .filter(Boolean)
      .map((term) => term.split('=') as [string, string]),
  )
}

function matches(pod: FakePod, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => pod.metadata.labels[k] === v)
}

/**
 * A kubeconfig with one context per fake API server: plain HTTP on loopback, no
 * credentials (client-node only allows http:// servers with insecure-skip-tls-verify).
 */
export function fakeKubeconfig(servers: Record<string, string>): string {
  const names = Object.keys(servers).sort()
  const lines = ['apiVersion: v1', 'kind: Config', 'preferences: {}', 'clusters:']
  for (const n of names)
    lines.push(`  - name: ${n}`, '    cluster:', `      server: ${servers[n]}`, '      insecure-skip-tls-verify: true')
  lines.push('users:', '  - name: tester', '    user: {}', 'contexts:')
  for (const n of names) lines.push(`  - name: ${n}`, '    context:', `      cluster: ${n}`, '      user: tester')
  lines.push(`current-context: ${names[0]}`)
  return `${lines.join('\n')}\n`
}
