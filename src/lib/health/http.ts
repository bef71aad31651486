import type {Agent} from 'node:https'

/** A client certificate and the CA to verify the server with (PEM contents), for a TLS endpoint that requires both. */
export interface ClientTls {
  ca: string
  cert: string
  key: string
}

/** A non-2xx answer, with its status: a caller can tell a refusal (401, 409) from an outage. */
export class HttpStatusError extends Error {
  readonly status: number
  readonly url: string

  constructor(url: string, status: number) {
    super(`${url}: HTTP ${status}`)
    this.name = 'HttpStatusError'
    this.url = url
    this.status = status
  }
}

// one keep-alive agent per credential set: a probe every 250 ms reuses its TLS connections
const agents = new WeakMap<ClientTls, Agent>()

/**
 * A JSON request with a hard deadline. A SIGSTOPped process still accepts TCP
 * connections (the kernel does) but never answers, so every probe needs one.
 * With `tls`, an https URL is reached with that client certificate, and the
 * server must present a certificate of that CA for the URL's host.
 */
export async function fetchJson<T>(
  url: string,
  options: {
    body?: unknown
    /** extra request headers (an authorization) */
    headers?: Record<string, string>
    method?: string
    timeoutMs?: number
    tls?: ClientTls
  } = {},
): Promise<T> {
  // only 2xx is an answer: etcd reports "no leader" inside a 200 status; its gateway's 503 means the member is
  // stopping or cannot reach its own gRPC server, which a probe must count as unreachable, not alive
  const accepted = (status: number) => status >= 200 && status < 300
  const method = options.method ?? (options.body === undefined ? 'GET' : 'POST')
  const body = options.body === undefined ? undefined : JSON.stringify(options.body)
  const headers: Record<string, string> | undefined =
    body === undefined && !options.headers
      ? undefined
      : {...(body === undefined ? {} : {'content-type': 'application/json'}), ...options.headers}
  const signal = AbortSignal.timeout(options.timeoutMs ?? 500)
  if (options.tls && url.startsWith('https:'))
    return httpsJson<T>(url, {method, body, headers, signal, tls: options.tls, accepted})
  const response = await fetch(url, {method, body, headers, signal})
  const text = await response.text()
  if (!accepted(response.status)) throw new HttpStatusError(url, response.status)
  return JSON.parse(text) as T
}

async function httpsJson<T>(
  url: string,
  o: {
    accepted: (status: number) => boolean
    body?: string
    headers?: Record<string, string>
    method: string
    signal: AbortSignal
    tls: ClientTls
  },
): Promise<T> {
  const https = await import('node:https')
  let agent = agents.get(o.tls)
  if (!agent) {
    // free sockets are unref'd by the agent: an idle connection never keeps a command alive
    agent = new https.Agent({keepAlive: true, maxSockets: 4, ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key})
    agents.set(o.tls, agent)
  }

  return new Promise<T>((resolve, reject) => {
    const request = https.request(url, {method: o.method, headers: o.headers, agent, signal: o.signal}, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('error', reject)
      response.on('end', () => {
        const status = response.statusCode ?? 0
        if (!o.accepted(status)) return reject(new HttpStatusError(url, status))
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T)
        } catch (error) {
          reject(error)
        }
      })
    })
    request.on('error', reject)
    request.end(o.body)
  })
}
