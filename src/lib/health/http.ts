/**
 * A JSON request with a hard deadline. A SIGSTOPped process still accepts TCP
 * connections (the kernel does) but never answers, so every probe needs one.
 */
export async function fetchJson<T>(url: string, options: {method?: string; body?: unknown; timeoutMs?: number} = {}): Promise<T> {
  const response = await fetch(url, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    headers: options.body === undefined ? undefined : {'content-type': 'application/json'},
    signal: AbortSignal.timeout(options.timeoutMs ?? 500),
  })
  const text = await response.text()
  if (!response.ok && response.status !== 503) throw new Error(`${url}: HTTP ${response.status}`)
  return JSON.parse(text) as T
}
