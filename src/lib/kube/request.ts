import type {KubeConfig} from '@kubernetes/client-node'

import http from 'node:http'
import https from 'node:https'

/**
 * One GET against a cluster's API server with the kubeconfig's credentials and
 * a hard deadline. Node's http client is used (not fetch) because the TLS client
 * certificate k3d puts in kubeconfigs travels in the agent client-node builds.
 */
export interface KubeResponse {
  body: string
  status: number
}

/** The API server could not be reached at all (refused, reset, timed out): not an HTTP answer. */
export class KubeUnreachableError extends Error {
  readonly code?: string

  constructor(message: string, code?: string) {
    super(message)
    this.code = code
  }
}

export interface KubeGetOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

export async function kubeGet(kc: KubeConfig, apiPath: string, options: KubeGetOptions = {}): Promise<KubeResponse> {
  const cluster = kc.getCurrentCluster()
  if (!cluster) throw new KubeUnreachableError('the kubeconfig context has no cluster')
  const url = new URL(cluster.server.replace(/\/+$/, '') + apiPath)
  const opts: https.RequestOptions = {method: 'GET', headers: {Accept: 'application/json, text/plain, */*'}}
  await kc.applyToHTTPSOptions(opts)
  const timeoutMs = options.timeoutMs ?? 5000
  const transport = url.protocol === 'https:' ? https : http
  return new Promise<KubeResponse>((resolve, reject) => {
    let settled = false
    const finish = (fn: () => void) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', onAbort)
      fn()
    }

    const req = transport.request(url, opts, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        finish(() => resolve({status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8')})),
      )
      res.on('error', (e) =>
        finish(() =>
          reject(
            new KubeUnreachableError(`${url.host}: response broken: ${e.message}`, (e as NodeJS.ErrnoException).code),
          ),
        ),
      )
    })
    // a paused API server accepts nothing and answers nothing: only a deadline notices
    const timer = setTimeout(() => {
      req.destroy()
      finish(() => reject(new KubeUnreachableError(`${url.host}: no answer within ${timeoutMs} ms`, 'ETIMEDOUT')))
    }, timeoutMs)
    const onAbort = () => {
      req.destroy()
      finish(() => reject(new KubeUnreachableError(`${url.host}: request aborted`, 'ABORT_ERR')))
    }

    options.signal?.addEventListener('abort', onAbort, {once: true})
    req.on('error', (e: NodeJS.ErrnoException) =>
      finish(() => reject(new KubeUnreachableError(`${url.host}: ${e.code ?? e.message}`, e.code))),
    )
    req.end()
  })
}

/**
 * Path of the API server's proxy to a pod's port. The scheme prefix makes the
 * API server speak HTTPS to the pod (CockroachDB's HTTP port in secure mode).
 */
export function podProxyPath(
  namespace: string,
  pod: string,
  port: number,
  path: string,
  scheme: 'http' | 'https' = 'http',
): string {
  const target = scheme === 'https' ? `https:${pod}:${port}` : `${pod}:${port}`
  const rest = path.startsWith('/') ? path.slice(1) : path
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${target}/proxy/${rest}`
}
