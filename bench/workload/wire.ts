/**
 * A minimal PostgreSQL wire-protocol client for the driver spike (driver-spike.ts): how little CPU
 * per transfer can Node spend with protocol code of its own? One TCP connection, SSLRequest, TLS
 * with the caller's verification options (the bench passes what connectLedger gives postgres.js:
 * sslrootcert as CA, the URL's host checked against the certificate), a StartupMessage with
 * `options=-c default_transaction_isolation=serializable`, trust or SCRAM-SHA-256 authentication,
 * one named statement parsed once, then per execution one write of Bind/Execute/Sync built into a
 * buffer the connection keeps, and an answer parsed in place from the bytes received (BindComplete,
 * DataRow counted, CommandComplete, ErrorResponse with its SQLSTATE, ReadyForQuery).
 *
 * Not a driver: text parameters only, rows counted and not decoded, statements answered in the
 * order they were written (several may be in flight: a FIFO of waiters), no cancel, no COPY, no
 * notifications; a lost connection rejects every statement in flight with CONNECTION_CLOSED
 * (ambiguous) and the connection is not reused.
 *
 * `userBuffer`: decrypted bytes are read into one buffer per connection, as net.Socket's `onread`
 * option does. Node 20's tls.connect ignores `onread` when it is given a socket to upgrade (as
 * PostgreSQL's SSLRequest needs: `onread: !socket ? tlsOptions.onread : null` in _tls_wrap.js),
 * so this sets the same internal fields net.Socket sets for `onread` on the TLS socket (found by
 * their symbols' names) and asks its TLSWrap handle for the user buffer: no Buffer and no stream
 * `push` per read. A private interface of Node's: a spike's measurement, not something to ship.
 */
import {createHash, createHmac, pbkdf2, randomBytes} from 'node:crypto'
import net from 'node:net'
import tls, {type ConnectionOptions} from 'node:tls'

export interface WireOptions {
  database: string
  host: string
  /** startup `options` (e.g. `-c default_transaction_isolation=serializable`) */
  options?: string
  /** for SCRAM-SHA-256 (or cleartext) when the server asks */
  password?: string
  port: number
  /** TLS after SSLRequest; undefined: plain TCP */
  tls?: ConnectionOptions
  user: string
  /** read decrypted bytes into one buffer per connection instead of a Buffer per read (see above) */
  userBuffer?: boolean
  /**
   * write each Bind/Execute/Sync to the socket's handle (TLSWrap) as net.Socket's own write does
   * at its end, without the Writable stream in front of it (another private interface of Node's)
   */
  writeToHandle?: boolean
}

/** an ErrorResponse (code: its SQLSTATE), or CONNECTION_CLOSED when the connection was lost */
export class WireError extends Error {
  code: string
  severity?: string

  constructor(message: string, code: string, severity?: string) {
    super(message)
    this.code = code
    this.severity = severity
  }
}

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
/** Execute of the unnamed portal (all rows) and Sync: the same 15 bytes after every Bind */
const EXECUTE_SYNC = Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0x53, 0, 0, 0, 4])
const SYNC = Buffer.from([0x53, 0, 0, 0, 4])
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4])

type Waiter = {reject(error: Error): void; resolve(rows: number): void}

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

/** node's private symbols that net.Socket's `onread` option sets, by their names */
function symbolNamed(object: object, name: string): symbol {
  const found = Object.getOwnPropertySymbols(object).find((s) => s.description === name)
  if (!found) throw new Error(`no ${name} on the socket (not Node 20's net.Socket?)`)
  return found
}

export class WireConnection {
  /** the first ErrorResponse of the statement being answered */
  private answerError: undefined | WireError
  /** rows (DataRow messages) of the statement being answered */
  private answerRows = 0
  /** the Bind prefix of the prepared statement: type, length (filled per Bind), portal, name, formats, count */
  private bindPrefix = Buffer.alloc(0)
  private closedError: undefined | WireError
  /** what the server sent during startup (auth requests...) before ReadyForQuery, for connect() */
  private onStartup?: (type: number, body: Buffer, start: number, end: number) => void
  private out = Buffer.allocUnsafe(512)
  /** bytes of an incomplete message carried over to the next read */
  private pending = Buffer.allocUnsafe(64 * 1024)
  private pendingLength = 0
  private socket!: net.Socket | tls.TLSSocket
  private readonly waiters: Waiter[] = []
  private waitersHead = 0
  private writeToHandle?: (data: Buffer) => void

  private constructor() {}

  static async connect(o: WireOptions): Promise<WireConnection> {
    const c = new WireConnection()
    await c.open(o)
    return c
  }

  /** Terminate and close */
  async end(): Promise<void> {
    if (this.closedError) return
    this.socket.write(TERMINATE)
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve())
      this.socket.end()
    })
  }

  /**
   * One execution of the prepared statement: Bind (text parameters), Execute, Sync in one write.
   * Resolves with the number of rows once ReadyForQuery arrives; rejects with the statement's
   * ErrorResponse (its SQLSTATE as `code`) or a lost connection.
   */
  execute(parameters: ReadonlyArray<number | string>): Promise<number> {
    if (this.closedError) return Promise.reject(this.closedError)
    let b = this.out
    // the previous write may still hold our buffer (a socket that could not take it at once): take a fresh one
    if (this.socket.writableLength > 0) {
      b = Buffer.allocUnsafe(b.length)
      this.out = b
    }

    this.bindPrefix.copy(b, 0)
    let o = this.bindPrefix.length
    for (const p of parameters) {
      if (b.length - o < 64) throw new Error('parameters too long for the spike')
      const at = o
      o += 4
      o += typeof p === 'number' ? writeInteger(b, o, p) : b.write(p, o, 'latin1')
      b.writeInt32BE(o - at - 4, at)
    }

    b[o++] = 0 // result format codes: none (all text)
    b[o++] = 0
    b.writeInt32BE(o - 1, 1)
    EXECUTE_SYNC.copy(b, o)
    o += EXECUTE_SYNC.length
    if (this.writeToHandle) this.writeToHandle(b.subarray(0, o))
    else this.socket.write(b.subarray(0, o))
    return new Promise<number>((resolve, reject) => {
      this.waiters.push({resolve, reject})
    })
  }

  /** Parse of a named statement (parameter types inferred by the server) and Sync, once */
  async prepare(name: string, text: string): Promise<void> {
    const parse = message('P', Buffer.concat([cstrings(name, text), Buffer.from([0, 0])]))
    this.socket.write(Buffer.concat([parse, SYNC]))
    await new Promise<number>((resolve, reject) => this.waiters.push({resolve, reject}))
    this.bindPrefix = Buffer.concat([Buffer.from([0x42, 0, 0, 0, 0, 0]), cstrings(name), Buffer.from([0, 0, 0, 0])])
    // the parameter count, filled per Bind from the parameters given
    this.bindPrefix.writeInt16BE(
      text.match(/\$\d+/g)?.reduce((n, p) => Math.max(n, Number(p.slice(1))), 0) ?? 0,
      this.bindPrefix.length - 2,
    )
  }

  private async authenticate(
    o: WireOptions,
    code: number,
    data: Buffer,
    scram: undefined | {clientFirstBare: string; nonce: string; serverSignature?: Buffer},
    keep: (s: {clientFirstBare: string; nonce: string; serverSignature?: Buffer}) => void,
  ): Promise<void> {
    switch (code) {
      case 0: {
        // AuthenticationOk
        return
      }

      case 3: {
        // cleartext password
        this.socket.write(message('p', cstrings(o.password ?? '')))
        return
      }

      case 10: {
        // SASL: the mechanisms, each a C string
        if (!data.toString('utf8').split('\0').includes('SCRAM-SHA-256'))
          throw new Error(`no SCRAM-SHA-256 among ${data.toString('utf8')}`)
        const nonce = randomBytes(18).toString('base64')
        const clientFirstBare = `n=*,r=${nonce}`
        const first = Buffer.from(`n,,${clientFirstBare}`)
        const length = Buffer.allocUnsafe(4)
        length.writeInt32BE(first.length)
        this.socket.write(message('p', Buffer.concat([cstrings('SCRAM-SHA-256'), length, first])))
        keep({nonce, clientFirstBare})
        return
      }

      case 11: {
        // SASLContinue: server-first-message
        if (!scram || o.password === undefined) throw new Error('SCRAM without a password')
        const serverFirst = data.toString('utf8')
        const attrs = Object.fromEntries(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)]))
        if (!attrs.r?.startsWith(scram.nonce)) throw new Error('SCRAM: the server nonce does not extend ours')
        const salted = await new Promise<Buffer>((resolve, reject) =>
          pbkdf2(
            o.password!.normalize('NFKC'),
            Buffer.from(attrs.s, 'base64'),
            Number(attrs.i),
            32,
            'sha256',
            (e, k) => (e ? reject(e) : resolve(k)),
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
        this.socket.write(message('p', Buffer.from(`${clientFinalBare},p=${proof.toString('base64')}`)))
        return
      }

      case 12: {
        // SASLFinal: the server proves it knows the password too
        const v = /(?:^|,)v=([^,]+)/.exec(data.toString('utf8'))?.[1]
        if (!scram?.serverSignature || !v || !Buffer.from(v, 'base64').equals(scram.serverSignature))
          throw new Error('SCRAM: wrong server signature')
        return
      }

      default: {
        throw new Error(`authentication method ${code} not supported by the spike`)
      }
    }
  }

  /** a whole server message, from its type byte at `at` (body from at + 5 to end) */
  private handle(b: Buffer, at: number, end: number): void {
    const type = b[at]
    switch (type) {
      // ParseComplete, BindComplete, NotificationResponse, CommandComplete, BackendKeyData,
      // NoticeResponse, ParameterStatus, NoData
      case 0x31:
      case 0x32:
      case 0x41:
      case 0x43:
      case 0x4b:
      case 0x4e:
      case 0x53:
      case 0x6e: {
        return
      }

      case 0x44: {
        // DataRow
        this.answerRows++
        return
      }

      case 0x45: {
        // ErrorResponse: the first of a statement is its answer
        this.answerError ??= errorResponse(b, at + 5, end)
        if (this.onStartup) this.onStartup(type, b, at + 5, end)
        return
      }

      case 0x5a: {
        // ReadyForQuery: the statement's answer is complete
        if (this.onStartup) {
          this.onStartup(type, b, at + 5, end)
          return
        }

        const waiter = this.waiters[this.waitersHead++]
        if (this.waitersHead === this.waiters.length) {
          this.waiters.length = 0
          this.waitersHead = 0
        }

        const error = this.answerError
        const rows = this.answerRows
        this.answerError = undefined
        this.answerRows = 0
        if (!waiter) throw new Error('ReadyForQuery with no statement in flight')
        if (error) waiter.reject(error)
        else waiter.resolve(rows)
        return
      }

      default: {
        if (this.onStartup) this.onStartup(type, b, at + 5, end)
      }
    }
  }

  private lost(error: Error): void {
    if (this.closedError) return
    this.closedError = new WireError(`connection lost: ${error.message}`, 'CONNECTION_CLOSED')
    const waiting = this.waiters.slice(this.waitersHead)
    this.waiters.length = 0
    this.waitersHead = 0
    for (const w of waiting) w.reject(this.closedError)
  }

  private async open(o: WireOptions): Promise<void> {
    const raw = net.connect({host: o.host, port: o.port, noDelay: true})
    await new Promise<void>((resolve, reject) => {
      raw.once('connect', resolve)
      raw.once('error', reject)
    })
    if (o.tls) {
      raw.write(SSL_REQUEST)
      const answer = await new Promise<Buffer>((resolve, reject) => {
        raw.once('data', resolve)
        raw.once('error', reject)
      })
      if (answer[0] !== 0x53) throw new Error(`the server refused TLS (${String.fromCodePoint(answer[0])})`)
      raw.removeAllListeners('error')
      const secure = tls.connect({
        ...o.tls,
        socket: raw,
        host: o.host,
        // no SNI for an IP address (as libpq); the certificate is still checked against the host
        ...(net.isIP(o.host) ? {} : {servername: o.host}),
      })
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve)
        secure.once('error', reject)
      })
      secure.removeAllListeners('error')
      this.socket = secure
    } else {
      this.socket = raw
    }

    this.socket.on('error', (error) => this.lost(error))
    this.socket.on('close', () => this.lost(new Error('socket closed')))
    if (o.writeToHandle) this.writeToHandle = handleWriter(this.socket, (error) => this.lost(error))
    if (o.userBuffer) this.readIntoOwnBuffer()
    else this.socket.on('data', (chunk: Buffer) => this.received(chunk, chunk.length))

    await this.startup(o)
  }

  /** see the module's comment: net.Socket's `onread` on a TLS socket that upgraded an existing one */
  private readIntoOwnBuffer(): void {
    const socket = this.socket as tls.TLSSocket & {_handle: {useUserBuffer(b: Uint8Array): void}}
    const buffer = Buffer.allocUnsafe(64 * 1024)
    const fields = socket as unknown as Record<symbol, unknown>
    fields[symbolNamed(socket, 'kBuffer')] = buffer
    fields[symbolNamed(socket, 'kBufferCb')] = (n: number, b: Buffer) => {
      this.received(b, n)
    }

    socket._handle.useUserBuffer(buffer)
  }

  /** bytes from the server: every whole message handled where it lies, an incomplete one kept */
  private received(chunk: Buffer, length: number): void {
    let b = chunk
    let end = length
    if (this.pendingLength > 0) {
      if (this.pending.length < this.pendingLength + length) {
        const bigger = Buffer.allocUnsafe(2 * (this.pendingLength + length))
        this.pending.copy(bigger, 0, 0, this.pendingLength)
        this.pending = bigger
      }

      chunk.copy(this.pending, this.pendingLength, 0, length)
      b = this.pending
      end = this.pendingLength + length
      this.pendingLength = 0
    }

    let at = 0
    while (end - at >= 5) {
      const next = at + 1 + b.readInt32BE(at + 1)
      if (next > end) break
      this.handle(b, at, next)
      at = next
    }

    if (at < end) {
      if (this.pending.length < end - at) this.pending = Buffer.allocUnsafe(2 * (end - at))
      b.copy(this.pending, 0, at, end)
      this.pendingLength = end - at
    }
  }

  /** StartupMessage, authentication (trust, cleartext, SCRAM-SHA-256), up to the first ReadyForQuery */
  private async startup(o: WireOptions): Promise<void> {
    const params = cstrings('user', o.user, 'database', o.database, ...(o.options ? ['options', o.options] : []))
    const startup = Buffer.allocUnsafe(8 + params.length + 1)
    startup.writeInt32BE(startup.length, 0)
    startup.writeInt32BE(196_608, 4) // protocol 3.0
    params.copy(startup, 8)
    startup[startup.length - 1] = 0
    let scram: undefined | {clientFirstBare: string; nonce: string; serverSignature?: Buffer}
    await new Promise<void>((resolve, reject) => {
      this.onStartup = (type, b, start, end) => {
        switch (type) {
          // ErrorResponse
          case 0x45: {
            reject(errorResponse(b, start, end))
            break
          }

          // Authentication*
          case 0x52: {
            const code = b.readInt32BE(start)
            this.authenticate(o, code, b.subarray(start + 4, end), scram, (s) => (scram = s)).catch(reject)
            break
          }

          // ReadyForQuery
          case 0x5a: {
            this.onStartup = undefined
            resolve()
            break
          }
        }
      }

      this.socket.once('close', () => reject(this.closedError ?? new Error('closed during startup')))
      this.socket.write(startup)
    })
  }
}

/**
 * What net.Socket's write does once the Writable stream has decided to write: a WriteWrap request
 * to the handle's writeBuffer (process.binding('stream_wrap'), deprecated but still there in Node
 * 20). TLSWrap encrypts the bytes at once and completes even a write the kernel took at once in a
 * later setImmediate, and takes one write at a time: enough for one statement in flight per
 * connection (the spike), not for pipelining, which would need the queue the Writable stream is.
 */
function handleWriter(socket: net.Socket, fail: (error: Error) => void): (data: Buffer) => void {
  type Req = {async: boolean; buffer?: Buffer; handle: unknown; oncomplete(status: number): void}
  // eslint-disable-next-line n/no-deprecated-api -- the spike measures Node's write without its Writable stream
  const binding = (process as unknown as {binding(name: string): {WriteWrap: new () => Req}}).binding('stream_wrap')
  const handle = (socket as unknown as {_handle: {writeBuffer(req: Req, data: Buffer): number}})._handle
  const oncomplete = (status: number) => {
    if (status < 0) fail(new Error(`write failed: ${status}`))
  }

  return (data) => {
    const req = new binding.WriteWrap()
    req.handle = handle
    req.oncomplete = oncomplete
    req.async = false
    req.buffer = data
    const status = handle.writeBuffer(req, data)
    if (status < 0) fail(new Error(`write failed: ${status}`))
  }
}

/** the fields of an ErrorResponse body (S, C, M...) as a WireError */
function errorResponse(b: Buffer, start: number, end: number): WireError {
  let code = ''
  let text = ''
  let severity: string | undefined
  let i = start
  while (i < end && b[i] !== 0) {
    const field = b[i]
    const stop = b.indexOf(0, i + 1)
    const value = b.toString('utf8', i + 1, stop)
    switch (field) {
      case 0x43: {
        code = value
        break
      }

      case 0x4d: {
        text = value
        break
      }

      case 0x56: {
        severity = value
        break
      }
    }

    i = stop + 1
  }

  return new WireError(text, code, severity)
}

/** the decimal digits of a non-negative safe integer, without making a string */
function writeInteger(b: Buffer, at: number, n: number): number {
  if (n < 10) {
    b[at] = 0x30 + n
    return 1
  }

  let digits = 0
  for (let m = n; m > 0; m = Math.floor(m / 10)) digits++
  for (let i = digits - 1, m = n; i >= 0; i--, m = Math.floor(m / 10)) b[at + i] = 0x30 + (m % 10)
  return digits
}
