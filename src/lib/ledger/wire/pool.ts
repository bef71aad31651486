import type {ConnectionOptions} from 'node:tls'

/**
 * The pool the transfer path runs on: connections of our own (connection.ts) to the primary of a
 * (multi-host) ledger URL. Why not postgres.js here: a transfer is one round trip, and at that size
 * the driver's own work was most of the client's CPU (bench/workload/RESULTS.md: 139–258 µs per
 * transfer with postgres.js, about half that with this protocol code), and two of postgres.js's
 * failures on lost connections (porsager/postgres#1174, #1208) had to be worked around in the
 * transfer path. Here they cannot happen: each connection parses only its own bytes, a statement is
 * settled only by its own connection's ReadyForQuery, and a closed connection is never reused.
 * The workload and `ledger serve` send their transfers through it; everything else (verify, init,
 * backup, the mint) stays on postgres.js.
 *
 * What transfer() needs of a pool (TransferSql) is all here: `unsafe` for its two statements,
 * `watchSent` (a statement's key is reported right before its bytes go to a socket: a statement
 * never written cannot have committed), `onConnectionClosed`, and `renew`/`generation` for its
 * watchdog.
 */
import {userInfo} from 'node:os'

import {sleep} from '../../wait.js'
import {
  combineDatabaseUrls,
  connectionRefusal,
  type ConnectOptions,
  firstConnectionRefusal,
  hostAddress,
  requireListeningHost,
  tlsOptions,
} from '../db.js'
import {SentWatchers} from '../sent-watchers.js'
import {WireConnection, type WireConnectOptions, WireError, type WireRow, type WireTls} from './connection.js'

interface Queued {
  parameters: ReadonlyArray<null | number | string>
  reject(error: Error): void
  resolve(rows: WireRow[]): void
  text: string
}

interface Target {
  host: string
  port: number
}

/**
 * postgres.js's URL options (its `defaults`, connection.js 3.4.9): the rest of a URL's query string
 * goes to the server as startup parameters, as postgres.js sends it, and a server refuses a name it
 * does not know (FATAL 42704), so these are left out
 */
const NOT_STARTUP = new Set([
  'backoff',
  'connect_timeout',
  'debug',
  'fetch_types',
  'idle_timeout',
  'keep_alive',
  'max',
  'max_lifetime',
  'max_pipeline',
  'prepare',
  'publications',
  'ssl',
  'sslnegotiation',
  'target_session_attrs',
])

export class TransferPool {
  /** increases each time the pool is renewed */
  generation = 0
  private readonly closeListeners: Array<(connection: number) => void> = []
  /** ready connections of the current generation */
  private connections: WireConnection[] = []
  private ended = false
  private readonly max: number
  /** connections being opened for the current generation */
  private opening = 0
  private readonly options: Omit<WireConnectOptions, 'host' | 'port'>
  /** the host tried first by the next connection: the last that gave a primary, moved on by renew() */
  private preferred = 0
  private queue: Queued[] = []
  private queueHead = 0
  private renewedAt = Number.NEGATIVE_INFINITY
  private readonly sent = new SentWatchers()
  private readonly targets: Target[]

  constructor(targets: Target[], options: Omit<WireConnectOptions, 'host' | 'port'>, max: number) {
    this.targets = targets
    this.options = options
    this.max = max
  }

  /** Closes the pool: queued statements are rejected, statements in flight get `timeout` seconds to finish. */
  async end(options: {timeout?: number} = {}): Promise<void> {
    this.ended = true
    this.rejectQueue(new WireError('the pool was closed', 'CONNECTION_ENDED'))
    const all = this.connections
    this.connections = []
    const deadline = performance.now() + (options.timeout ?? 5) * 1000
    while (all.some((c) => c.inFlight > 0 && !c.closed) && performance.now() < deadline) await sleep(20)
    await Promise.all(all.map((c) => closed(c)))
  }

  onConnectionClosed(listener: (connection: number) => void): void {
    this.closeListeners.push(listener)
  }

  /** a connection for the first connect: a TLS or login refusal is known there, and reported as such */
  async probe(): Promise<void> {
    const {connection} = await this.connectAnyHost(true)
    if (connection) this.adopt(connection)
  }

  /**
   * A new generation: the connections in use are closed once their statements in flight are
   * answered (or after 1 s), statements waiting for a connection are rejected (never written: not
   * ambiguous), and new connections try the next host first (a frozen node accepts TCP connections
   * it never answers). At most once per 100 ms, and only from the generation the caller saw.
   */
  renew(seen: number): void {
    if (seen !== this.generation || performance.now() - this.renewedAt < 100) return
    this.generation++
    this.renewedAt = performance.now()
    this.preferred = (this.preferred + 1) % this.targets.length
    this.opening = 0
    const old = this.connections
    this.connections = []
    for (const c of old) retire(c)
    this.rejectQueue(new WireError('the pool was renewed before a connection was free', 'CONNECTION_ENDED'))
  }

  /** One execution of `text` (a named prepared statement per connection), on the connection least busy. */
  unsafe(
    text: string,
    parameters: ReadonlyArray<null | number | string>,
    _options?: {prepare: true},
  ): Promise<WireRow[]> {
    if (this.ended) return Promise.reject(new WireError('the pool was closed', 'CONNECTION_ENDED'))
    const c = this.pick()
    if (c) return this.send(c, text, parameters)
    return new Promise<WireRow[]>((resolve, reject) => {
      this.queue.push({text, parameters, resolve, reject})
      this.grow()
    })
  }

  watchSent(key: string, onSent: (connection: number) => void): () => void {
    return this.sent.watch(key, onSent)
  }

  /** a new connection takes its place in the pool and serves the statements waiting */
  private adopt(c: WireConnection): void {
    c.onClose = () => {
      const i = this.connections.indexOf(c)
      if (i !== -1) this.connections.splice(i, 1)
      for (const listener of this.closeListeners) listener(c.id)
      if (this.queueLength() > 0) this.grow()
    }

    c.onSettled = () => {
      if (this.queueHead < this.queue.length) this.drain()
    }

    this.connections.push(c)
    this.drain()
  }

  /**
   * One connection to a primary: the hosts in turn from the preferred one, each within the connect
   * timeout; with several hosts a hot standby (in_hot_standby = on at startup) is passed over, as
   * libpq's target_session_attrs=primary. When no host is primary (a failover under way), the
   * standbys' connections are watched for a promotion for a while (see promoted) before they are
   * closed. `rethrow`: the last error instead of undefined. `watched`: whether standbys were watched
   * (then the caller need not pause before the next round).
   */
  private async connectAnyHost(rethrow = false): Promise<{connection?: WireConnection; watched: boolean}> {
    let last: unknown
    const n = this.targets.length
    const standbys: Array<{connection: WireConnection; index: number}> = []
    const closeStandbys = (except?: WireConnection) => {
      // one still waiting for its ping (a frozen server) would never close on Terminate
      for (const s of standbys)
        if (s.connection !== except)
          if (s.connection.inFlight > 0) s.connection.destroy()
          else s.connection.end()
    }

    for (let i = 0; i < n; i++) {
      const index = (this.preferred + i) % n
      let c: WireConnection
      try {
        c = await WireConnection.connect({...this.options, ...this.targets[index]})
      } catch (error) {
        last = error
        // a TLS or login refusal does not get better by trying again: the statements waiting fail with it
        if (connectionRefusal(error)) {
          closeStandbys()
          throw error
        }

        continue
      }

      if (n > 1 && c.inHotStandby) {
        standbys.push({connection: c, index})
        last = new WireError(`${this.targets[index].host}:${this.targets[index].port} is a standby`, '25006')
        continue
      }

      closeStandbys()
      this.preferred = index
      return {connection: c, watched: false}
    }

    const found = await promoted(standbys, PROMOTION_WATCH_MS)
    closeStandbys(found?.connection)
    if (found) {
      this.preferred = found.index
      return {connection: found.connection, watched: true}
    }

    if (rethrow) throw last
    return {watched: standbys.length > 0}
  }

  /** sends queued statements while a connection can take one */
  private drain(): void {
    while (this.queueHead < this.queue.length) {
      const c = this.pick()
      if (!c) return
      const q = this.queue[this.queueHead]
      this.queue[this.queueHead++] = undefined as unknown as Queued
      if (this.queueHead === this.queue.length) {
        this.queue = []
        this.queueHead = 0
      }

      this.send(c, q.text, q.parameters).then(q.resolve, q.reject)
    }
  }

  /** opens connections (up to the pool's size) for the statements waiting */
  private grow(): void {
    const wanted = Math.min(this.max, this.connections.length + this.queueLength())
    while (!this.ended && this.connections.length + this.opening < wanted) void this.openOne()
  }

  /** one connection for the current generation; tries every host again (50–150 ms apart) while statements wait */
  private async openOne(): Promise<void> {
    const {generation} = this
    this.opening++
    let c: undefined | WireConnection
    try {
      while (!c && !this.ended && generation === this.generation && this.queueLength() > 0) {
        let watched = false
        try {
          ;({connection: c, watched} = await this.connectAnyHost())
        } catch (error) {
          this.rejectQueue(error as Error)
          return
        }

        if (!c && !watched) await sleep(50 + Math.random() * 100)
      }
    } finally {
      if (generation === this.generation) this.opening--
    }

    if (!c) return
    if (this.ended || generation !== this.generation) c.end()
    else this.adopt(c)
  }

  /**
   * The least busy connection, if it is idle, or if the pool cannot grow (then statements are
   * pipelined behind the ones in flight). Undefined: wait for a new connection.
   */
  private pick(): undefined | WireConnection {
    const {connections} = this
    let best: undefined | WireConnection
    for (const c of connections) {
      if (c.inFlight === 0) return c
      if (!best || c.inFlight < best.inFlight) best = c
    }

    if (best && connections.length + this.opening >= this.max) return best
    return undefined
  }

  private queueLength(): number {
    return this.queue.length - this.queueHead
  }

  private rejectQueue(error: Error): void {
    const waiting = this.queue.slice(this.queueHead)
    this.queue = []
    this.queueHead = 0
    for (const q of waiting) q.reject(error)
  }

  private send(c: WireConnection, text: string, parameters: ReadonlyArray<null | number | string>): Promise<WireRow[]> {
    return c.execute(text, parameters, () => this.sent.notify(parameters[0], c.id))
  }
}

/** how long a connection that found a standby watches it for a promotion before trying the next host */
const PROMOTION_WATCH_MS = 150
/** how often it asks meanwhile (a Sync: one small round trip) */
const PROMOTION_POLL_MS = 15

/**
 * The first of the standbys' connections to see its server promoted within `ms`, if any. The
 * server reports in_hot_standby = off to an existing session at its next ReadyForQuery after the
 * promotion, so a Sync every PROMOTION_POLL_MS finds a failover's new primary within a poll, not
 * at the next round of new connections (each a TLS handshake and a login).
 */
export async function promoted<T extends {connection: WireConnection}>(
  standbys: T[],
  ms: number,
): Promise<T | undefined> {
  const until = performance.now() + ms
  let watching = standbys
  while (watching.length > 0 && performance.now() < until) {
    await sleep(PROMOTION_POLL_MS)
    // a connection that fails its ping is left out (and closed with the others)
    const pings = Promise.all(
      watching.map((s) =>
        s.connection.ping().then(
          () => s,
          () => {},
        ),
      ),
    )
    // a frozen standby never answers: the watch ends on time regardless (its connection is destroyed)
    const answered = await Promise.race([pings, sleep(Math.max(0, until - performance.now())).then(() => {})])
    if (!answered) return undefined
    const found = answered.find((s) => s !== undefined && !s.connection.inHotStandby)
    if (found) return found
    watching = answered.filter((s) => s !== undefined)
  }

  return undefined
}

/** closes a connection of an older generation once its statements are answered, or after 1 s */
function retire(c: WireConnection): void {
  if (c.inFlight === 0) {
    c.end()
    return
  }

  const timer = setTimeout(() => c.destroy(new Error('the pool was renewed')), 1000)
  timer.unref()
  c.onSettled = () => {
    if (c.inFlight > 0) return
    clearTimeout(timer)
    c.end()
  }
}

/** ends a connection and waits (at most 1 s) for its socket to close */
function closed(c: WireConnection): Promise<void> {
  if (c.closed) return Promise.resolve()
  return new Promise<void>((resolve) => {
    const previous = c.onClose
    const timer = setTimeout(() => {
      c.destroy(new Error('the pool was closed'))
      resolve()
    }, 1000)
    c.onClose = (self) => {
      clearTimeout(timer)
      previous?.(self)
      resolve()
    }

    if (c.inFlight > 0) c.destroy(new Error('the pool was closed'))
    else c.end()
  })
}

/**
 * A transfer pool on the ledger database: the URL(s) as connectLedger takes them (multi-host, TLS
 * parameters, user and password), the primary only when there are several hosts. Fails like
 * connectLedger: nothing listening (exit 3), a TLS or login refusal at the first connection (exit 3).
 */
export async function connectTransferPool(
  input: string | string[],
  options: ConnectOptions = {},
): Promise<TransferPool> {
  const combined = combineDatabaseUrls(input)
  const {url, ssl} = tlsOptions(combined.url)
  const connectTimeoutMs = (options.connectTimeoutSeconds ?? 5) * 1000
  if (combined.hosts.length > 1) await requireListeningHost(combined.hosts, connectTimeoutMs)
  const {user, password, startup} = loginOf(url, options.applicationName)
  const pool = new TransferPool(
    combined.hosts.map((h) => hostAddress(h)),
    {user, password, startup, connectTimeoutMs, tls: wireTls(ssl)},
    options.max ?? 10,
  )
  const refusal = await firstConnectionRefusal(() => pool.probe(), typeof ssl === 'object' && ssl.cert !== undefined)
  if (refusal) {
    await pool.end({timeout: 0})
    throw refusal
  }

  return pool
}

/**
 * The user, password and startup parameters of a URL without its TLS parameters (tlsOptions), as
 * postgres.js reads them: the URL's user or PGUSER or the OS user, its password or PGPASSWORD, its
 * database, and the rest of its query string except postgres.js's own options.
 */
export function loginOf(
  url: string,
  applicationName = 'atlas',
): {password?: string; startup: Record<string, string>; user: string} {
  const parts = /^[a-z]+:\/\/(?:([^@/]*)@)?[^/?]*(?:\/([^?]*))?(?:\?(.*))?$/i.exec(url)
  const [, auth = '', database = '', query = ''] = parts ?? []
  const colon = auth.indexOf(':')
  const user =
    decodeURIComponent(colon === -1 ? auth : auth.slice(0, colon)) || process.env.PGUSER || userInfo().username
  const password = colon === -1 ? process.env.PGPASSWORD : decodeURIComponent(auth.slice(colon + 1))
  const startup: Record<string, string> = {
    database: decodeURIComponent(database) || 'postgres',
    application_name: applicationName,
    // eslint-disable-next-line unicorn/text-encoding-identifier-case -- PostgreSQL's name for it
    client_encoding: 'UTF8',
    // every statement is its own SERIALIZABLE transaction (transfer.ts)
    default_transaction_isolation: 'serializable',
  }
  for (const [k, v] of new URLSearchParams(query)) if (!NOT_STARTUP.has(k)) startup[k] = v
  return {user, password, startup}
}

/** connectLedger's TLS option (postgres.js's `ssl`) as the connection's */
function wireTls(ssl: ReturnType<typeof tlsOptions>['ssl']): WireTls {
  if (ssl === undefined || ssl === false) return false
  if (ssl === 'allow' || ssl === 'prefer') return 'prefer'
  if (ssl === 'require') return {rejectUnauthorized: false}
  // sslrootcert=system: Node's public CAs, and the host name checked (tls.connect's defaults)
  if (ssl === 'verify-full') return {}
  return ssl as ConnectionOptions
}
