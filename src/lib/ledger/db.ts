import type {Sql} from 'postgres'
import {UsageError} from '../errors.js'
import {registerSecret} from '../redact.js'

export type LedgerSql = Sql<Record<string, never>>

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
 * A pool on the ledger database. With several hosts, only a writable node is
 * accepted (target_session_attrs=read-write) and a lost connection reconnects to
 * whichever host is writable now. Heavy import, so loaded lazily.
 */
export async function connectLedger(input: string | string[], options: ConnectOptions = {}): Promise<LedgerSql> {
  const {url, hosts} = combineDatabaseUrls(input)
  const {default: postgres} = await import('postgres')
  return postgres(url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    idle_timeout: 30,
    onnotice: () => {},
    fetch_types: false,
    ...(hosts.length > 1 ? {target_session_attrs: 'read-write' as const} : {}),
    connection: {application_name: options.applicationName ?? 'atlas'},
  }) as unknown as LedgerSql
}

/** The URL with its password masked, for messages and --json. */
export function describeDatabase(input: string | string[]): string {
  try {
    return combineDatabaseUrls(input).url.replace(/(\/\/[^:@/]+):[^@/]*@/, '$1:***@')
  } catch {
    return '<invalid>'
  }
}
