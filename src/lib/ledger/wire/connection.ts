/**
 * One PostgreSQL connection speaking the extended query protocol itself, for the transfer path
 * (see pool.ts for why). What it does: TCP, SSLRequest and TLS with the caller's options, the
 * StartupMessage, trust / cleartext / MD5 / SCRAM-SHA-256 authentication, and named statements
 * parsed once per connection (Parse + Describe + Sync the first time), then Bind/Execute/Sync per
 * execution. Answers are parsed where they lie in the received bytes and settled in the order the
 * statements were written (several may be in flight).
 *
 * Statements go out in batches: a statement given while earlier ones on the connection are still
 * unanswered waits, and all that waited leave in one write (one TLS record, one write(2)) when the
 * last of those is answered, at the end of that event-loop turn, when the workers whose answers
 * just arrived have given their next statements. Pipelined workers would otherwise drift apart and
 * each pay a round trip of its own, and Node's CPU per round trip on a TLS socket is a large part
 * of the client's cost, which bounds the workload on two cores shared with the server
 * (bench/workload/RESULTS.md, 2026-12-02: 0.94 against 0.81 of pgbench at 8 clients, four in
 * flight per connection in batches against two written at once).
 *
 * What settles a statement: only its own ReadyForQuery on its own connection. A statement whose
 * connection closes first (or sends a FATAL error) is rejected with CONNECTION_CLOSED: it may or
 * may not have committed. A closed connection is never reused.
 *
 * Not a general driver: text parameters and text results (values are strings or null), no
 * COPY, no cancel, no notifications.
 */
import {createHash, createHmac, pbkdf2, randomBytes} from 'node:crypto'
import net from 'node:net'
import tls, {type ConnectionOptions} from 'node:tls'

/** how the connection uses TLS: none, TLS if the server offers it (no verification), or TLS with these options */
export type WireTls = 'prefer' | ConnectionOptions | false

export interface WireConnectOptions {
  /** the whole of TCP, TLS and startup must finish within this (then CONNECT_TIMEOUT) */
  connectTimeoutMs: number
  host: string
  /** for cleartext, MD5 or SCRAM-SHA-256 when the server asks */
  password?: string
  port: number
  /** startup parameters besides user (database, application_name, GUCs) */
  startup: Record<string, string>
  tls: WireTls
  user: string
}

/** An ErrorResponse (code: its SQLSTATE), or a connection error with one of Node's or our codes. */
export class WireError extends Error {
  readonly code: string
  readonly severity?: string

  constructor(message: string, code: string, severity?: string) {
    super(message)
    this.code = code
    this.severity = severity
  }
}

export type WireRow = Record<string, null | string>

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
/** Execute of the unnamed portal (all rows), then Sync: the same 15 bytes after every Bind */
const EXECUTE_SYNC = Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0x53, 0, 0, 0, 4])
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4])
const SYNC = Buffer.from([0x53, 0, 0, 0, 4])

/** a statement parsed on this connection: its name and result columns */
interface Prepared {
  /** the Bind message up to the parameters: type, length (filled per Bind), portal, name, formats, count */
  readonly bindPrefix: Buffer
  columns: string[]
  /** why its Parse failed (then every Bind of it fails too, and this is the answer) */
  error?: WireError
  name: string
}

/** one Sync's answer awaited: a statement's execution, or the Parse/Describe of a new one */
interface Waiter {
  prepared: Prepared
  /** the Parse/Describe of `prepared` (no caller waits on it) */
  preparing: boolean
  reject(error: Error): void
  resolve(rows: WireRow[]): void
}

let nextConnectionId = 1
/** what a ping waits for: no statement, no rows */
const PING: Prepared = {name: '', columns: [], bindPrefix: Buffer.alloc(0)}

export class WireConnection {
  /** unique in the process: reported to whoever watches writes and closes */
  readonly id = nextConnectionId++
  /** the server said in_hot_standby = on (PostgreSQL 14 and later report it at startup and when it changes) */
  inHotStandby = false
  /** called once, when the connection is lost or closed (its statements in flight are rejected first) */
  onClose?: (connection: WireConnection) => void
  /** called each time a statement of this connection is settled by its ReadyForQuery */
  onSettled?: () => void
  private answerError: undefined | WireError
  private answerRows: WireRow[] = []
  private closedError: undefined | WireError
  private fatal: undefined | WireError
  private flushScheduled = false
  private onStartup?: (type: number, b: Buffer, start: number, end: number) => void
  /** statements waiting to be written: their bytes from 0 to outLength, their onWrite callbacks, their waiters */
  private out = Buffer.allocUnsafe(1024)
  private outLength = 0
  private outWaiters = 0
  private outWrites: Array<() => void> = []
  private pending = Buffer.allocUnsafe(16 * 1024)
  private pendingLength = 0
  private readonly prepared = new Map<string, Prepared>()
  private socket!: net.Socket | tls.TLSSocket
  /** statements named so far on this connection (names are never reused) */
  private statements = 0
  private readonly waiters: Waiter[] = []
  private waitersHead = 0

  private constructor() {}

  /** Connects, authenticates and waits for the first ReadyForQuery. */
  static async connect(o: WireConnectOptions): Promise<WireConnection> {
    const c = new WireConnection()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new WireError(
          `connecting to ${o.host}:${o.port} took over ${o.connectTimeoutMs} ms`,
          'CONNECT_TIMEOUT',
        )
        c.destroy(error)
        reject(error)
      }, o.connectTimeoutMs)
    })
    try {
      await Promise.race([c.open(o), timeout])
      return c
    } catch (error) {
      c.destroy(error as Error)
      throw error
    } finally {
      clearTimeout(timer)
    }
  }

  get closed(): boolean {
    return this.closedError !== undefined
  }

  /** statements given and not yet answered (written, or waiting in the output buffer for their batch) */
  get inFlight(): number {
    return this.waiters.length - this.waitersHead
  }

  /** Closes the socket now; statements in flight are rejected with CONNECTION_CLOSED. */
  destroy(reason?: Error): void {
    this.lost(reason ?? new Error('destroyed'))
    this.socket?.destroy()
  }

  /**
   * Terminate, then close (statements in flight are rejected as the socket closes). A server that
   * does not close its side within 1 s (a frozen node: its kernel still acknowledges, so TCP keepalive
   * never ends it) has the socket destroyed, so that no half-closed socket outlives the pool.
   */
  end(): void {
    if (this.closedError) return
    this.socket.end(TERMINATE)
    setTimeout(() => this.destroy(new Error('the server did not close the connection after Terminate')), 1000).unref()
  }

  /**
   * One execution of `text` with text parameters: Bind, Execute, Sync (after its Parse/Describe
   * the first time on this connection), written with the batch it joins (see the top of this
   * file). `onWrite` runs right before the bytes are handed to the socket. Resolves with the rows
   * (column name to text value) at ReadyForQuery; rejects with the statement's ErrorResponse, or
   * CONNECTION_CLOSED when the connection is lost first.
   */
  execute(text: string, parameters: ReadonlyArray<null | number | string>, onWrite?: () => void): Promise<WireRow[]> {
    if (this.closedError) return Promise.reject(this.closedError)
    const known = this.prepared.get(text)
    const prepared = known ?? newPrepared(`atlas_${++this.statements}`)
    let o = this.outLength
    if (!known) o = this.writeParse(prepared.name, text, o)
    // the bytes first: a parameter that cannot be encoded throws here, and nothing is recorded for it
    o = this.writeBind(prepared, parameters, o)
    EXECUTE_SYNC.copy(this.out, o)
    this.outLength = o + EXECUTE_SYNC.length
    if (!known) {
      this.prepared.set(text, prepared)
      this.waiters.push({prepared, preparing: true, resolve() {}, reject() {}})
      this.outWaiters++
    }

    if (onWrite) this.outWrites.push(onWrite)
    const answer = new Promise<WireRow[]>((resolve, reject) => {
      this.waiters.push({prepared, preparing: false, resolve, reject})
    })
    this.outWaiters++
    this.scheduleFlush()
    return answer
  }

  /** Sync alone: resolves at its ReadyForQuery, before which the server reports a changed in_hot_standby */
  ping(): Promise<void> {
    if (this.closedError) return Promise.reject(this.closedError)
    const answer = new Promise<void>((resolve, reject) => {
      this.waiters.push({prepared: PING, preparing: false, resolve: () => resolve(), reject})
    })
    SYNC.copy(this.ensureOut(this.outLength, SYNC.length), this.outLength)
    this.outLength += SYNC.length
    this.outWaiters++
    this.scheduleFlush()
    return answer
  }

  private async authenticate(o: WireConnectOptions, code: number, data: Buffer, scram: Scram): Promise<void> {
    switch (code) {
      // AuthenticationOk
      case 0: {
        return
      }

      // cleartext password: in the clear unless the connection is TLS (as libpq and postgres.js do without require_auth)
      case 3: {
        this.socket.write(message('p', cstrings(requirePassword(o))))
        return
      }

      // MD5: md5(md5(password + user) + salt), hex, prefixed
      case 5: {
        const inner = createHash('md5').update(requirePassword(o)).update(o.user).digest('hex')
        const outer = createHash('md5').update(inner).update(data.subarray(0, 4)).digest('hex')
        this.socket.write(message('p', cstrings(`md5${outer}`)))
        return
      }

      // SASL: the mechanisms offered
      case 10: {
        if (!data.toString('utf8').split('\0').includes('SCRAM-SHA-256'))
          throw new WireError(`no SCRAM-SHA-256 among the server's SASL mechanisms`, '28000')
        requirePassword(o)
        // from here the server must prove it knows the password (SASLFinal) before the login counts:
        // an AuthenticationOk right after our first message is refused at ReadyForQuery
        scram.expected = true
        scram.nonce = randomBytes(18).toString('base64')
        scram.clientFirstBare = `n=*,r=${scram.nonce}`
        const first = Buffer.from(`n,,${scram.clientFirstBare}`)
        const length = Buffer.allocUnsafe(4)
        length.writeInt32BE(first.length)
        this.socket.write(message('p', Buffer.concat([cstrings('SCRAM-SHA-256'), length, first])))
        return
      }

      // SASLContinue: the server-first-message
      case 11: {
        const serverFirst = data.toString('utf8')
        const proof = await scramClientFinal(requirePassword(o), serverFirst, scram)
        this.socket.write(message('p', Buffer.from(proof)))
        return
      }

      // SASLFinal: the server proves it knows the password too
      case 12: {
        const v = /(?:^|,)v=([^,]+)/.exec(data.toString('utf8'))?.[1]
        if (!scram.serverSignature || !v || !Buffer.from(v, 'base64').equals(scram.serverSignature))
          throw new WireError('SCRAM: the server signature is wrong', '28000')
        scram.verified = true
        return
      }

      default: {
        throw new WireError(`the server asks for authentication method ${code}, which is not supported`, '28000')
      }
    }
  }

  /** the room for `n` more bytes at `o` in the output buffer, keeping what is before `o` */
  private ensureOut(o: number, n: number): Buffer {
    if (this.out.length - o >= n) return this.out
    const bigger = Buffer.allocUnsafe(Math.max(2 * this.out.length, o + n))
    this.out.copy(bigger, 0, 0, o)
    this.out = bigger
    return bigger
  }

  /** writes the statements waiting, each one's onWrite first (a statement reported written may have committed) */
  private flush(): void {
    this.flushScheduled = false
    // a socket already destroyed takes no bytes: its statements are rejected unreported when it closes
    if (this.closedError || this.socket.destroyed || this.outLength === 0) return
    const writes = this.outWrites
    const bytes = this.out.subarray(0, this.outLength)
    // the socket keeps `bytes` until it has sent them: the next batch goes into a buffer of its own
    this.out = Buffer.allocUnsafe(this.out.length)
    this.outWrites = []
    this.outLength = 0
    this.outWaiters = 0
    try {
      for (const onWrite of writes) onWrite()
    } finally {
      this.socket.write(bytes)
    }
  }

  /** a whole server message after startup, its type byte at `at`, its body from at + 5 to `end` */
  private handle(b: Buffer, at: number, end: number): void {
    const type = b[at]
    switch (type) {
      // ParseComplete, BindComplete, CloseComplete, CommandComplete, NotificationResponse, NoticeResponse,
      // EmptyQueryResponse, NoData, PortalSuspended, ParameterDescription, BackendKeyData
      case 0x31:
      case 0x32:
      case 0x33:
      case 0x41:
      case 0x43:
      case 0x49:
      case 0x4b:
      case 0x4e:
      case 0x6e:
      case 0x73:
      case 0x74: {
        return
      }

      // DataRow: one row of the statement being answered
      case 0x44: {
        this.answerRows.push(decodeRow(b, at + 5, this.waiters[this.waitersHead]?.prepared.columns ?? []))
        return
      }

      // ErrorResponse: the first of a Sync is its answer; FATAL or PANIC ends the connection
      case 0x45: {
        const error = errorResponse(b, at + 5, end)
        this.answerError ??= error
        if (error.severity === 'FATAL' || error.severity === 'PANIC') this.fatal = error
        return
      }

      // ParameterStatus
      case 0x53: {
        this.parameterStatus(b, at + 5, end)
        return
      }

      // RowDescription: the result columns of the statement being prepared
      case 0x54: {
        const head = this.waiters[this.waitersHead]
        if (head?.preparing) head.prepared.columns = rowDescription(b, at + 5)
        return
      }

      // ReadyForQuery: the answer of the oldest Sync is complete
      case 0x5a: {
        this.settle()
        return
      }

      default: {
        throw new WireError(`unexpected message type ${type} from the server`, 'PROTOCOL_VIOLATION')
      }
    }
  }

  /** the first loss wins: every statement in flight is rejected, and onClose runs once */
  private lost(reason: Error): void {
    if (this.closedError) return
    const cause = this.fatal ?? reason
    this.closedError = new WireError(`the connection was lost: ${cause.message}`, 'CONNECTION_CLOSED')
    const waiting = this.waiters.slice(this.waitersHead)
    this.waiters.length = 0
    this.waitersHead = 0
    // never written: their onWrite is not called, so their callers know they cannot have committed
    this.outLength = 0
    this.outWaiters = 0
    this.outWrites = []
    for (const w of waiting) w.reject(this.closedError)
    this.onClose?.(this)
  }

  private async open(o: WireConnectOptions): Promise<void> {
    const raw = net.connect({host: o.host, port: o.port, noDelay: true})
    this.socket = raw
    raw.setKeepAlive(true, 60_000)
    // an error during connect/startup ends open() through the promises below; afterwards, through lost()
    raw.on('error', (error) => this.lost(error))
    raw.on('close', () => this.lost(new Error('the socket closed')))
    await once(raw, 'connect')
    if (o.tls !== false) {
      raw.write(SSL_REQUEST)
      const answer = await once<Buffer>(raw, 'data')
      // more than one byte: someone in the middle stuffed plaintext before the handshake (CVE-2021-23222)
      if (answer.length !== 1 || (answer[0] !== 0x53 && answer[0] !== 0x4e))
        throw new WireError('the server answered the SSL request with something else', 'PROTOCOL_VIOLATION')
      if (answer[0] === 0x53) {
        const options = o.tls === 'prefer' ? {rejectUnauthorized: false} : o.tls
        const secure = tls.connect({
          ...options,
          socket: raw,
          // the name the certificate is checked against when the options do not check it themselves
          host: o.host,
          // no SNI for an IP address (as libpq); the certificate is still checked against the host
          ...(net.isIP(o.host) ? {} : {servername: o.host}),
        })
        this.socket = secure
        secure.on('error', (error) => this.lost(error))
        secure.on('close', () => this.lost(new Error('the socket closed')))
        await once(secure, 'secureConnect')
      } else if (o.tls !== 'prefer') {
        throw new WireError('the server does not accept TLS connections', 'TLS_NOT_OFFERED')
      }
    }

    this.socket.on('data', (chunk: Buffer) => this.received(chunk))
    await this.startup(o)
  }

  private parameterStatus(b: Buffer, start: number, end: number): void {
    const nameEnd = b.indexOf(0, start)
    if (nameEnd === -1 || nameEnd >= end) return
    if (b.toString('latin1', start, nameEnd) !== 'in_hot_standby') return
    this.inHotStandby = b.toString('latin1', nameEnd + 1, b.indexOf(0, nameEnd + 1)) === 'on'
  }

  /** bytes from the server: every whole message handled where it lies, an incomplete one kept for the next read */
  private received(chunk: Buffer): void {
    let b = chunk
    let end = chunk.length
    if (this.pendingLength > 0) {
      if (this.pending.length < this.pendingLength + chunk.length) {
        const bigger = Buffer.allocUnsafe(2 * (this.pendingLength + chunk.length))
        this.pending.copy(bigger, 0, 0, this.pendingLength)
        this.pending = bigger
      }

      chunk.copy(this.pending, this.pendingLength)
      b = this.pending
      end = this.pendingLength + chunk.length
      this.pendingLength = 0
    }

    let at = 0
    try {
      while (end - at >= 5) {
        const length = b.readInt32BE(at + 1)
        if (length < 4) throw new WireError(`a message of length ${length} from the server`, 'PROTOCOL_VIOLATION')
        const next = at + 1 + length
        if (next > end) break
        if (this.onStartup) this.onStartup(b[at], b, at + 5, next)
        else this.handle(b, at, next)
        at = next
      }
    } catch (error) {
      this.destroy(error as Error)
      return
    }

    if (at < end) {
      const rest = end - at
      if (b === this.pending) {
        b.copy(b, 0, at, end)
      } else {
        if (this.pending.length < rest) this.pending = Buffer.allocUnsafe(2 * rest)
        b.copy(this.pending, 0, at, end)
      }

      this.pendingLength = rest
    }
  }

  /** the statements waiting leave once none written before them is unanswered, after this turn's microtasks */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.outLength === 0 || this.inFlight > this.outWaiters) return
    this.flushScheduled = true
    // a tick queued from a microtask runs once the microtask queue is empty: by then the workers
    // whose answers were settled in this turn have given their next statements
    queueMicrotask(() => process.nextTick(() => this.flush()))
  }

  /** ReadyForQuery: the oldest waiter gets the rows or the first error of its Sync */
  private settle(): void {
    // a statement still waiting for its batch cannot have been answered
    if (this.inFlight <= this.outWaiters)
      throw new WireError('ReadyForQuery with no statement in flight', 'PROTOCOL_VIOLATION')
    const waiter = this.waiters[this.waitersHead++]
    if (this.waitersHead === this.waiters.length) {
      this.waiters.length = 0
      this.waitersHead = 0
    }

    const error = this.answerError
    const rows = this.answerRows
    this.answerError = undefined
    this.answerRows = []
    if (waiter.preparing) {
      // a statement that failed to parse is parsed again by the next execution (after this one fails)
      if (error) {
        waiter.prepared.error = error
        for (const [text, p] of this.prepared) if (p === waiter.prepared) this.prepared.delete(text)
      }

      return
    }

    if (waiter.prepared.error) waiter.reject(waiter.prepared.error)
    else if (error) waiter.reject(error)
    else waiter.resolve(rows)
    this.scheduleFlush()
    this.onSettled?.()
  }

  /** StartupMessage, authentication, up to the first ReadyForQuery */
  private async startup(o: WireConnectOptions): Promise<void> {
    const pairs = Object.entries({user: o.user, ...o.startup}).flatMap(([k, v]) => [k, v])
    const params = cstrings(...pairs)
    const message = Buffer.allocUnsafe(8 + params.length + 1)
    message.writeInt32BE(message.length, 0)
    message.writeInt32BE(196_608, 4) // protocol 3.0
    params.copy(message, 8)
    message[message.length - 1] = 0
    const scram: Scram = {}
    await new Promise<void>((resolve, reject) => {
      this.onStartup = (type, b, start, end) => {
        switch (type) {
          // ErrorResponse: the server refused us (a wrong password, not accepting connections yet...)
          case 0x45: {
            reject(errorResponse(b, start, end))
            break
          }

          // Authentication*
          case 0x52: {
            try {
              this.authenticate(o, b.readInt32BE(start), b.subarray(start + 4, end), scram).catch(reject)
            } catch (error) {
              reject(error)
            }

            break
          }

          // ParameterStatus
          case 0x53: {
            this.parameterStatus(b, start, end)
            break
          }

          // ReadyForQuery
          case 0x5a: {
            this.onStartup = undefined
            if (scram.expected && !scram.verified)
              reject(new WireError('SCRAM: the server never proved it knows the password', '28000'))
            else resolve()
            break
          }

          // BackendKeyData, NoticeResponse, NegotiateProtocolVersion
          default:
        }
      }

      // the socket's own error first (a TLS alert after the handshake says why a client certificate was refused)
      this.socket.once('error', reject)
      this.socket.once('close', () =>
        reject(this.closedError ?? new WireError('closed during startup', 'CONNECTION_CLOSED')),
      )
      this.socket.write(message)
    })
  }

  /** Bind of `prepared` with the parameters as text, at `o` in the output buffer; returns the end */
  private writeBind(prepared: Prepared, parameters: ReadonlyArray<null | number | string>, start: number): number {
    let b = this.ensureOut(start, prepared.bindPrefix.length + 4)
    prepared.bindPrefix.copy(b, start)
    let o = start + prepared.bindPrefix.length
    b.writeInt16BE(parameters.length, o - 2)
    for (const p of parameters) {
      if (p === null) {
        b = this.ensureOut(o, 4)
        b.writeInt32BE(-1, o)
        o += 4
        continue
      }

      const text = typeof p === 'number' ? String(p) : p
      b = this.ensureOut(o, 4 + Buffer.byteLength(text) + 2 + EXECUTE_SYNC.length)
      const n = b.write(text, o + 4, 'utf8')
      b.writeInt32BE(n, o)
      o += 4 + n
    }

    b = this.ensureOut(o, 2 + EXECUTE_SYNC.length)
    b.writeInt16BE(0, o) // result format codes: none (all text)
    o += 2
    b.writeInt32BE(o - start - 1, start + 1)
    return o
  }

  /** Parse (parameter types inferred by the server), Describe of the statement and Sync, at `start` in the output buffer; returns the end */
  private writeParse(name: string, text: string, start: number): number {
    const body = Buffer.concat([cstrings(name, text), Buffer.from([0, 0])])
    const parse = message('P', body)
    const describe = message('D', Buffer.concat([Buffer.from('S'), cstrings(name)]))
    const all = Buffer.concat([parse, describe, SYNC])
    const b = this.ensureOut(start, all.length + 64)
    all.copy(b, start)
    return start + all.length
  }
}

interface Scram {
  clientFirstBare?: string
  /** SCRAM was started (our first message sent): the server must prove itself before ReadyForQuery */
  expected?: boolean
  nonce?: string
  serverSignature?: Buffer
  verified?: boolean
}

/** the client-final-message of SCRAM-SHA-256 (RFC 5802, 7677), and the server signature to expect */
export async function scramClientFinal(password: string, serverFirst: string, scram: Scram): Promise<string> {
  if (!scram.nonce || !scram.clientFirstBare) throw new WireError('SCRAM: continue before start', '28000')
  const attrs = Object.fromEntries(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)]))
  if (!attrs.r?.startsWith(scram.nonce) || attrs.r.length === scram.nonce.length)
    throw new WireError('SCRAM: the server nonce does not extend ours', '28000')
  const iterations = Number(attrs.i)
  if (!attrs.s || !Number.isSafeInteger(iterations) || iterations < 1)
    throw new WireError('SCRAM: no salt or iteration count from the server', '28000')
  const salted = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(password.normalize('NFKC'), Buffer.from(attrs.s, 'base64'), iterations, 32, 'sha256', (e, k) =>
      e ? reject(e) : resolve(k),
    ),
  )
  const clientFinalBare = `c=biws,r=${attrs.r}`
  const authMessage = `${scram.clientFirstBare},${serverFirst},${clientFinalBare}`
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const signature = createHmac('sha256', storedKey).update(authMessage).digest()
  const proof = Buffer.from(clientKey.map((x, i) => x ^ signature[i]))
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  scram.serverSignature = createHmac('sha256', serverKey).update(authMessage).digest()
  return `${clientFinalBare},p=${proof.toString('base64')}`
}

function requirePassword(o: WireConnectOptions): string {
  if (o.password === undefined) throw new WireError('the server asks for a password and none was given', '28P01')
  return o.password
}

function newPrepared(name: string): Prepared {
  const prefix = Buffer.concat([Buffer.from([0x42, 0, 0, 0, 0, 0]), cstrings(name), Buffer.from([0, 0, 0, 0])])
  return {name, columns: [], bindPrefix: prefix}
}

function cstrings(...parts: string[]): Buffer {
  return Buffer.from(parts.map((p) => `${p}\0`).join(''), 'utf8')
}

function message(type: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length)
  out[0] = type.codePointAt(0)!
  out.writeInt32BE(4 + body.length, 1)
  body.copy(out, 5)
  return out
}

function once<T = void>(emitter: net.Socket, event: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onError = (error: Error) => {
      emitter.off(event, onEvent)
      reject(error)
    }

    const onClose = () => {
      emitter.off(event, onEvent)
      emitter.off('error', onError)
      reject(new WireError('the connection closed while it was being set up', 'CONNECTION_CLOSED'))
    }

    const onEvent = (value: T) => {
      emitter.off('error', onError)
      emitter.off('close', onClose)
      resolve(value)
    }

    emitter.once(event, onEvent)
    emitter.once('error', onError)
    emitter.once('close', onClose)
  })
}

/** the column names of a RowDescription body */
export function rowDescription(b: Buffer, start: number): string[] {
  const count = b.readInt16BE(start)
  const columns: string[] = []
  let i = start + 2
  for (let c = 0; c < count; c++) {
    const stop = b.indexOf(0, i)
    columns.push(b.toString('utf8', i, stop))
    i = stop + 1 + 18 // table oid, column, type oid, size, modifier, format
  }

  return columns
}

/** a DataRow body as column name to text value (null for SQL NULL) */
export function decodeRow(b: Buffer, start: number, columns: string[]): WireRow {
  const count = b.readInt16BE(start)
  const row: WireRow = {}
  let i = start + 2
  for (let c = 0; c < count; c++) {
    const length = b.readInt32BE(i)
    i += 4
    const name = columns[c] ?? `column${c + 1}`
    if (length < 0) {
      row[name] = null
    } else {
      row[name] = b.toString('utf8', i, i + length)
      i += length
    }
  }

  return row
}

/** the fields of an ErrorResponse body (S/V severity, C code, M message) as a WireError */
export function errorResponse(b: Buffer, start: number, end: number): WireError {
  let code = ''
  let text = ''
  let severity: string | undefined
  let i = start
  while (i < end && b[i] !== 0) {
    const field = b[i]
    const stop = b.indexOf(0, i + 1)
    if (stop === -1 || stop >= end) break
    const value = b.toString('utf8', i + 1, stop)
    if (field === 0x43) code = value
    else if (field === 0x4d) text = value
    else if (field === 0x56 || (field === 0x53 && severity === undefined)) severity = value
    i = stop + 1
  }

  return new WireError(text, code, severity)
}
