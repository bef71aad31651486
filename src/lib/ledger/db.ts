import type {Sql} from 'postgres'

import {readFileSync} from 'node:fs'
import {checkServerIdentity, type ConnectionOptions} from 'node:tls'

import {PreconditionError, UsageError} from '../errors.js'
import {registerSecret} from '../redact.js'
import {SentWatchers} from './sent-watchers.js'

/**
 * A postgres.js pool that can be renewed after a lost connection (see
 * connectLedger). Used exactly like postgres.js's Sql.
 */
export type LedgerSql = Sql<Record<string, never>> & {
  /** increases each time the pool is renewed */
  readonly generation?: number
  /**
   * Calls `listener` with the id of each connection of the pool (of any generation) that closes.
   * A statement written to a connection that closes before the statement settled has no trustworthy
   * answer, whatever postgres.js later resolves it with (see connectLedger).
   */
  onConnectionClosed?: (listener: (connection: number) => void) => void
  /** replaces the pool when `generation` is still the current one; returns the new generation */
  renew?: (generation: number) => void
  /**
   * Calls `onSent` with the connection's id each time a statement whose first parameter is `key` is
   * written to a connection (of any generation of the pool), until the returned function stops the
   * watching. A statement never written cannot have committed.
   */
  watchSent?: (key: string, onSent: (connection: number) => void) => () => void
}

export interface ConnectOptions {
  applicationName?: string
  /** seconds to wait for a TCP connection to one host */
  connectTimeoutSeconds?: number
  /**
   * seconds after which an idle connection is closed (default 30); 0: never. postgres.js arms
   * this timer each time a connection goes idle, so a pool busy with one statement after
   * another sets and clears a timer per statement.
   */
  idleTimeoutSeconds?: number
  /** pool size */
  max?: number
}

/**
 * Turns what --db / ATLAS_DATABASE_URL / the world give us into one connection
 * string. Accepted: one URL, a multi-host URL (postgres://h1:p1,h2:p2/db), or
 * several full URLs separated by commas (the world's per-node URLs), which are
 * merged into one multi-host URL using the first URL's user, database and options.
 */
export function combineDatabaseUrls(input: string | string[]): {hosts: string[]; url: string} {
  const pieces = (Array.isArray(input) ? input : [input])
    .flatMap((item) => item.split(/,(?=\s*postgres(?:ql)?:\/\/)/))
    .map((s) => s.trim())
    .filter(Boolean)
  if (pieces.length === 0)
    throw new UsageError('no database URL given', {
      hint: 'pass --db postgres://user@host:port/db or set ATLAS_DATABASE_URL',
    })
  const parsed = pieces.map(parseOne)
  const first = parsed[0]
  const hosts = parsed.flatMap((p) => p.hosts)
  const auth = first.auth ? `${first.auth}@` : ''
  const url = `${first.scheme}://${auth}${hosts.join(',')}/${first.database}${first.query ? `?${first.query}` : ''}`
  return {url, hosts}
}

function parseOne(text: string): {auth: string; database: string; hosts: string[]; query: string; scheme: string} {
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

type SslOption = 'allow' | 'prefer' | 'require' | 'verify-full' | ConnectionOptions | false

/**
 * libpq's TLS parameters of a URL as postgres.js's `ssl` option, and the URL
 * without them. postgres.js reads only `sslmode` (and `sslrootcert=system`);
 * it would send sslrootcert/sslcert/sslkey to the server as startup parameters
 * and verify against Node's public CAs. libpq meanings:
 *   verify-full  chain against sslrootcert and the host name (or IP) in the certificate
 *   verify-ca    chain against sslrootcert only
 *   require      encryption only; with sslrootcert given, as verify-ca (as libpq does)
 *   sslcert/sslkey  the client certificate presented (for `cert` authentication)
 */
export function tlsOptions(url: string): {ssl: SslOption | undefined; url: string} {
  const q = url.indexOf('?')
  if (q === -1) return {url, ssl: undefined}
  const params = new URLSearchParams(url.slice(q + 1))
  const mode = params.get('sslmode') ?? undefined
  const rootcert = params.get('sslrootcert') ?? undefined
  const cert = params.get('sslcert') ?? undefined
  const key = params.get('sslkey') ?? undefined
  if (!mode && !rootcert && !cert && !key) return {url, ssl: undefined}
  for (const name of ['sslmode', 'sslrootcert', 'sslcert', 'sslkey']) params.delete(name)
  const rest = params.toString()
  const bare = `${url.slice(0, q)}${rest ? `?${rest}` : ''}`
  if (mode === 'disable') return {url: bare, ssl: false}
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError('sslcert and sslkey go together', {
      hint: 'pass both the client certificate and its key, or neither',
    })
  }

  // sslrootcert=system: Node's public CAs and the host name, as postgres.js and libpq do
  if (rootcert === 'system' && cert === undefined) return {url: bare, ssl: 'verify-full'}
  const verify =
    mode === 'verify-full' ||
    mode === 'verify-ca' ||
    ((mode === undefined || mode === 'require') && rootcert !== undefined && rootcert !== 'system')
  if (!verify && cert === undefined) return {url: bare, ssl: mode === undefined ? 'prefer' : (mode as SslOption)}
  if (mode === 'allow' || mode === 'prefer') {
    throw new UsageError(`sslmode=${mode} cannot present a client certificate here`, {
      hint: 'use sslmode=verify-full (or verify-ca, require) with sslcert/sslkey',
    })
  }

  const options: ConnectionOptions = {rejectUnauthorized: verify}
  if (rootcert && rootcert !== 'system') options.ca = readTlsFile(rootcert, 'sslrootcert')
  if (cert && key) {
    options.cert = readTlsFile(cert, 'sslcert')
    options.key = readTlsFile(key, 'sslkey')
  }

  // verify-ca checks the chain only; verify-full also the name. postgres.js upgrades its socket
  // without telling TLS the host, so Node's default check would compare the certificate with
  // "localhost": compare it with the URL's hosts instead (with several, the check cannot know
  // which one this connection went to, so the certificate must name one of them)
  if (verify && mode !== 'verify-full') options.checkServerIdentity = () => {}
  const hosts = urlHosts(url)
  if (verify && mode === 'verify-full' && hosts.length > 0) {
    options.checkServerIdentity = (_servername, certificate) => {
      const errors = hosts.map((h) => checkServerIdentity(h, certificate))
      return errors.includes(undefined) ? undefined : errors[0]
    }
  }

  return {url: bare, ssl: options}
}

/** The host names or addresses of a (multi-host) URL, without ports or IPv6 brackets. */
export function urlHosts(url: string): string[] {
  const authority = /^[a-z]+:\/\/(?:[^@/]*@)?([^/?]*)/i.exec(url)?.[1] ?? ''
  return authority
    .split(',')
    .map((h) => /^\[([^\]]+)\]/.exec(h)?.[1] ?? h.replace(/:\d+$/, ''))
    .filter((h) => h.length > 0)
}

function readTlsFile(file: string, param: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    throw new PreconditionError(
      `cannot read ${param}=${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      {
        code: 'TLS_FILE_MISSING',
        hint: `${param} must name a readable PEM file`,
      },
    )
  }
}

// Node's codes for a server certificate that does not verify, and TLS alerts from the server
const TLS_REJECTED =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_[A-Z_]+|ERR_TLS_CERT_ALTNAME_INVALID|INVALID_PURPOSE|ERR_SSL_[A-Z0-9_]+)$/

/**
 * TLS and login failures are never transient: they become a precondition error
 * (exit 3) with a hint, instead of surfacing later as retried connection errors.
 */
export function connectionRefusal(error: unknown): PreconditionError | undefined {
  const e = error as {code?: string; message?: string}
  if (typeof e?.code !== 'string') return undefined
  if (TLS_REJECTED.test(e.code)) {
    return new PreconditionError(`TLS with the database failed: ${e.message ?? e.code} (${e.code})`, {
      code: 'DATABASE_TLS_REJECTED',
      hint: "sslrootcert must be the CA that signed the server's certificate (and, for verify-full, the URL's host must be in it); a client certificate must be signed by the CA the server trusts",
    })
  }

  // the server answered the SSLRequest with 'N' while the URL's sslmode requires TLS (transfer pool, wire/connection.ts)
  if (e.code === 'TLS_NOT_OFFERED') {
    return new PreconditionError('the database does not accept TLS connections, and the URL requires TLS', {
      code: 'DATABASE_TLS_REJECTED',
      hint: 'turn ssl on in the server, or lower sslmode in the URL (prefer, or disable)',
    })
  }

  if (e.code === '28000' || e.code === '28P01') {
    return new PreconditionError(`the database refused the login: ${e.message ?? e.code}`, {
      code: 'DATABASE_LOGIN_REFUSED',
      hint: "pass the user's client certificate (sslcert/sslkey, CN = the user name, signed by the server's CA) or its password",
    })
  }

  return undefined
}

const RESET = new Set(['ECONNRESET', 'EPIPE', 'CONNECTION_CLOSED'])

/**
 * Connects once. With TLS 1.3 a server that rejects the client certificate
 * says so after the handshake: the alert (unknown ca) can lose the race with
 * the reset of the connection, so a reset right after presenting a client
 * certificate is tried again, and a reset every time is a refusal too. Any
 * other failure (a node down, a timeout) is left to the caller's retries.
 */
export async function firstConnectionRefusal(
  probe: () => Promise<unknown>,
  clientCert: boolean,
): Promise<PreconditionError | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      await probe()
      return undefined
    } catch (error) {
      const refusal = connectionRefusal(error)
      if (refusal) return refusal
      const code = (error as {code?: string}).code ?? ''
      if (!clientCert || !RESET.has(code)) return undefined
      if (attempt === 3) {
        return new PreconditionError(
          `the database closed the connection right after the TLS handshake, ${attempt} times (${code})`,
          {
            code: 'DATABASE_TLS_REJECTED',
            hint: 'the server does not accept the client certificate (sslcert): it must be signed by the CA the server trusts',
          },
        )
      }
    }
  }
}

/**
 * A pool on the ledger database. With several hosts, only the primary is
 * accepted (target_session_attrs=primary) and a lost connection reconnects to
 * whichever host is primary now. Heavy import, so loaded lazily.
 */
export async function connectLedger(input: string | string[], options: ConnectOptions = {}): Promise<LedgerSql> {
  const combined = combineDatabaseUrls(input)
  const {url, ssl} = tlsOptions(combined.url)
  const {hosts} = combined
  // one host fails on its own with a precise error (ECONNREFUSED...); several would be retried in turn forever
  if (hosts.length > 1) await requireListeningHost(hosts, (options.connectTimeoutSeconds ?? 5) * 1000)
  const {default: postgres} = await import('postgres')
  // statements being watched as they are written to connections (see watchSent)
  const sent = new SentWatchers()
  const closeListeners: Array<(connection: number) => void> = []
  // postgres.js calls `debug` as it builds a statement for one connection, before any byte of it is written
  // (with it set, postgres.js also makes an error's query and parameters enumerable: ledger ids and amounts, no secrets)
  const onStatementBuilt = (connection: number, _text: string, parameters: unknown[]) =>
    sent.notify(parameters[0], connection)
  const watchSent = (key: string, onSent: (connection: number) => void) => sent.watch(key, onSent)

  const open = (generation: number) =>
    withoutOriginCapture(
      postgres(rotateHosts(url, hosts, generation), {
        ...(ssl === undefined ? {} : {ssl}),
        max: options.max ?? 10,
        connect_timeout: options.connectTimeoutSeconds ?? 5,
        idle_timeout: options.idleTimeoutSeconds ?? 30,
        // reconnect quickly: postgres.js's default grows to 20 s between attempts, while queries
        // wait in its queue; the transfer function has its own bounded backoff
        backoff: () => 0.05 + Math.random() * 0.1,
        onnotice() {},
        fetch_types: false,
        debug: onStatementBuilt,
        // postgres.js 3.4.9 does not reject the statement in flight on a connection that closes while
        // it is still establishing itself with several hosts (the first statement after a (re)connect):
        // the error is swallowed (porsager/postgres#1174), and the next connection's first ReadyForQuery
        // resolves that statement with what the closed server had sent, e.g. a transfer's rows without
        // its commit. The transfer function treats statements on a closed connection as unanswered.
        onclose(connection: number) {
          for (const listener of closeListeners) listener(connection)
        },
        // 'primary', not 'read-write': postgres.js decides read-write from default_transaction_read_only, which is off on a hot standby
        ...(hosts.length > 1 ? {target_session_attrs: 'primary' as const} : {}),
        connection: {
          application_name: options.applicationName ?? 'atlas',
          // every statement is its own SERIALIZABLE transaction unless a BEGIN says otherwise
          default_transaction_isolation: 'serializable',
        },
      }) as unknown as Sql<Record<string, never>>,
    )

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

  const onConnectionClosed = (listener: (connection: number) => void) => {
    closeListeners.push(listener)
  }

  const end = async (opts?: {timeout?: number}) => current.end(opts)
  // a TLS or login refusal is known at the first connection: say so now, with a hint
  const refusal = await firstConnectionRefusal(
    () => current`select 1`,
    typeof ssl === 'object' && ssl.cert !== undefined,
  )
  if (refusal) {
    await current.end({timeout: 0}).catch(() => {})
    throw refusal
  }

  const target = function () {} as unknown as LedgerSql
  // methods bound to the current pool, made once per pool (not once per call: sql.unsafe runs per transfer)
  let bound = new Map<string | symbol, unknown>()
  let boundTo = current
  return new Proxy(target, {
    apply: (_t, _this, args) => (current as unknown as (...a: unknown[]) => unknown)(...args),
    get(_t, prop) {
      if (prop === 'renew') return renew
      if (prop === 'generation') return generation
      if (prop === 'watchSent') return watchSent
      if (prop === 'onConnectionClosed') return onConnectionClosed
      if (prop === 'end') return end
      if (boundTo !== current) {
        bound = new Map()
        boundTo = current
      }

      let method = bound.get(prop)
      if (method !== undefined) return method
      const value = Reflect.get(current as object, prop)
      if (typeof value !== 'function') return value
      method = value.bind(current)
      bound.set(prop, method)
      return method
    },
  }) as LedgerSql
}

/**
 * postgres.js keeps its `debug` option in two places: the connections call it as they build a
 * statement (the hook connectLedger needs), and the query handler, when it is set, captures a
 * `new Error()` in every query it makes, for a stack trace in that query's error. That capture
 * was the largest item of postgres.js's own code in the workload's CPU profile (about 6% of the
 * samples at 8 clients: one stack walk per transfer). The handler is reached through a query that
 * is never run; errors then carry postgres.js's own stack, as without `debug`. postgres.js is pinned
 * (package.json); a version without this shape is left as it is.
 */
export function withoutOriginCapture<T extends Sql<Record<string, never>>>(sql: T): T {
  const {handler} = sql.unsafe('') as unknown as {handler?: {debug?: unknown}}
  if (handler && typeof handler.debug === 'function') handler.debug = false
  return sql
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

/** One host of a (multi-host) URL, `host[:port]` or `[v6]:port`, as an address (port 5432 by default). */
export function hostAddress(h: string): {host: string; port: number} {
  const match = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(h)!
  return {host: match[1] || '127.0.0.1', port: Number(match[2] ?? 5432)}
}

/**
 * Fails fast (exit 3, naming the addresses) when no host accepts TCP connections:
 * postgres.js would otherwise keep trying several hosts in turn forever.
 */
export async function requireListeningHost(hosts: string[], timeoutMs: number): Promise<void> {
  const {isListening} = await import('../proc/ports.js')
  const addresses = hosts.map((h) => hostAddress(h))
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
