import type {Sql} from 'postgres'
import {PreconditionError, UsageError} from '../errors.js'
import {registerSecret} from '../redact.js'

/**
 * A postgres.js pool that can be renewed after a lost connection (see
 * connectLedger). Used exactly like postgres.js's Sql.
 */
export type LedgerSql = Sql<Record<string, never>> & {
  /** replaces the pool when `generation` is still the current one; returns the new generation */
  renew?: (generation: number) => void
  /** increases each time the pool is renewed */
  readonly generation?: number
}

export interface ConnectOptions {
  /** pool size */
  max?: number
  applicationName?: string
  /** seconds to wait for a TCP connection to one host */
  connectTimeoutSeconds?: number
}

/**
 * Turns what --db / ATLAS_DATABASE_URL / the world give us into one connection
 * string. Accepted: one URL, a multi-host URL (postgres://h1:p1,h2:p2/db), or
 * several full URLs separated by commas (the world's per-node URLs), which are
 * merged into one multi-host URL using the first URL's user, database and options.
 */
export function combineDatabaseUrls(input: string | string[]): {url: string; hosts: string[]} {
  const pieces = (Array.isArray(input) ? input : [input])
    .flatMap((item) => item.split(/,(?=\s*postgres(?:ql)?:\/\/)/))
    .map((s) => s.trim())
    .filter(Boolean)
  if (pieces.length === 0) throw new UsageError('no database URL given', {hint: 'pass --db postgres://user@host:port/db or set ATLAS_DATABASE_URL'})
  const parsed = pieces.map(parseOne)
  const first = parsed[0]
  const hosts = parsed.flatMap((p) => p.hosts)
  const auth = first.auth ? `${first.auth}@` : ''
  const url = `${first.scheme}://${auth}${hosts.join(',')}/${first.database}${first.query ? `?${first.query}` : ''}`
  return {url, hosts}
}

function parseOne(text: string): {scheme: string; auth: string; hosts: string[]; database: string; query: string} {
  const match = /^(postgres(?:ql)?):\/\/(?:([^@/]*)@)?([^/?]*)(?:\/([^?]*))?(?:\?(.*))?$/.exec(text)
  if (!match || !match[3]) {
    throw new UsageError(`not a PostgreSQL/CockroachDB URL: "${text.replace(/:[^:@/]*@/, ':***@')}"`, {
      hint: 'expected postgres://user[:password]@host:port[,host2:port2]/database',
    })
  }
  const [, scheme, auth = '', hostPart, database = '', query = ''] = match
  const password = auth.includes(':') ? decodeURIComponent(auth.slice(auth.indexOf(':') + 1)) : undefined
  registerSecret(password)
  return {scheme, auth, hosts: hostPart.split(',').filter(Boolean), database: database || 'postgres', query}
}

/**
 * A pool on the ledger database. With several hosts, only the primary is
 * accepted (target_session_attrs=primary) and a lost connection reconnects to
 * whichever host is primary now. Heavy import, so loaded lazily.
 */
export async function connectLedger(input: string | string[], options: ConnectOptions = {}): Promise<LedgerSql> {
  const {url, hosts} = combineDatabaseUrls(input)
  // one host fails on its own with a precise error (ECONNREFUSED...); several would be retried in turn forever
  if (hosts.length > 1) await requireListeningHost(hosts, (options.connectTimeoutSeconds ?? 5) * 1000)
  const {default: postgres} = await import('postgres')
  const open = (generation: number) =>
    postgres(rotateHosts(url, hosts, generation), {
      max: options.max ?? 10,
      connect_timeout: options.connectTimeoutSeconds ?? 5,
      idle_timeout: 30,
      // reconnect quickly: postgres.js's default grows to 20 s between attempts, while queries
      // wait in its queue; the transfer function has its own bounded backoff
      backoff: () => 0.05 + Math.random() * 0.1,
      onnotice: () => {},
      fetch_types: false,
      // 'primary', not 'read-write': postgres.js decides read-write from default_transaction_read_only, which is off on a hot standby
      ...(hosts.length > 1 ? {target_session_attrs: 'primary' as const} : {}),
      connection: {
        application_name: options.applicationName ?? 'atlas',
        // every statement is its own SERIALIZABLE transaction unless a BEGIN says otherwise
        default_transaction_isolation: 'serializable',
      },
    }) as unknown as Sql<Record<string, never>>

  // postgres.js 3.4.9 can poison a connection object whose socket dies with a write
  // buffered (porsager/postgres#1208, LanternOps/breeze#3225: it never flushes again).
  // After a lost connection we therefore swap in a fresh pool and let the old one drain.
  let current = open(0)
  let generation = 0
  let renewedAt = performance.now()
  const renew = (seen: number) => {
    if (seen !== generation || performance.now() - renewedAt < 100) return
    const old = current
    generation++
    current = open(generation)
    renewedAt = performance.now()
    // statements still queued or stuck on the old pool are rejected after this grace period
    void old.end({timeout: 1}).catch(() => {})
  }
  const end = async (opts?: {timeout?: number}) => current.end(opts)
  const target = function () {} as unknown as LedgerSql
  return new Proxy(target, {
    apply: (_t, _this, args) => (current as unknown as (...a: unknown[]) => unknown)(...args),
    get: (_t, prop) => {
      if (prop === 'renew') return renew
      if (prop === 'generation') return generation
      if (prop === 'end') return end
      const value = Reflect.get(current as object, prop)
      return typeof value === 'function' ? value.bind(current) : value
    },
  }) as LedgerSql
}

/**
 * The multi-host URL with its host list rotated by `by` places. postgres.js tries hosts
 * in order, and a frozen host accepts TCP connections it never answers: a pool renewed
 * after a lost connection starts from the next host, so it does not wait out the
 * connect timeout on the host that just failed before reaching the new primary.
 */
export function rotateHosts(url: string, hosts: string[], by: number): string {
  if (hosts.length < 2 || by % hosts.length === 0) return url
  const k = by % hosts.length
  return url.replace(hosts.join(','), [...hosts.slice(k), ...hosts.slice(0, k)].join(','))
}

/**
 * Fails fast (exit 3, naming the addresses) when no host accepts TCP connections:
 * postgres.js would otherwise keep trying several hosts in turn forever.
 */
async function requireListeningHost(hosts: string[], timeoutMs: number): Promise<void> {
  const {isListening} = await import('../proc/ports.js')
  const addresses = hosts.map((h) => {
    const match = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(h)!
    return {host: match[1] || '127.0.0.1', port: Number(match[2] ?? 5432)}
  })
  const listening = await Promise.all(addresses.map((a) => isListening(a.port, a.host, timeoutMs)))
  if (listening.some(Boolean)) return
  const where = addresses.map((a) => `${a.host}:${a.port}`).join(', ')
  throw new PreconditionError(`cannot reach ${where} (nothing accepts connections there)`, {
    code: 'UNREACHABLE',
    hint: 'is the world up? `atlas status` shows it and `atlas up` starts it; or point --db at a running database',
    details: {address: where},
  })
}

/** The URL with its password masked, for messages and --json. */
export function describeDatabase(input: string | string[]): string {
  try {
    return combineDatabaseUrls(input).url.replace(/(\/\/[^:@/]+):[^@/]*@/, '$1:***@')
  } catch {
    return '<invalid>'
  }
}
