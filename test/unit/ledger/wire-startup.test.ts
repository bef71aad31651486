import {expect} from 'chai'
import net from 'node:net'

import {WireConnection} from '../../../src/lib/ledger/wire/connection.js'
import {listenOnLoopback} from '../../helpers/tcp.js'

/** one server message: its type, then its length and body */
function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head[0] = type.codePointAt(0)!
  head.writeInt32BE(4 + body.length, 1)
  return Buffer.concat([head, body])
}

function authentication(code: number, data = Buffer.alloc(0)): Buffer {
  const body = Buffer.alloc(4)
  body.writeInt32BE(code)
  return message('R', Buffer.concat([body, data]))
}

/**
 * A server that is not the database (what a man in the middle without the password can do): it
 * offers SCRAM-SHA-256, takes the client's first SCRAM message, and then says the login is done
 * without ever proving it knows the password.
 */
async function scramSkippingServer(): Promise<{close(): Promise<void>; port: number}> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    let answered = 0
    socket.on('data', () => {
      // the StartupMessage, then the SASLInitialResponse
      answered++
      if (answered === 1) socket.write(authentication(10, Buffer.from('SCRAM-SHA-256\0\0')))
      if (answered === 2) socket.write(Buffer.concat([authentication(0), message('Z', Buffer.from('I'))]))
    })
  })
  return listenOnLoopback(server, sockets)
}

/** an ErrorResponse body: severity (S and V), SQLSTATE, message */
function errorResponse(severity: string, code: string, text: string): Buffer {
  return message('E', Buffer.from(`S${severity}\0V${severity}\0C${code}\0M${text}\0\0`))
}

/**
 * A server that lets the client in (trust), then counts the Syncs the client sends and, once it has
 * `syncs` of them, answers with `answer(socket)` (which may end the connection mid-answer).
 */
async function scriptedServer(
  syncs: number,
  answer: (socket: net.Socket) => void,
): Promise<{close(): Promise<void>; port: number}> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    let bytes = Buffer.alloc(0)
    let started = false
    let seen = 0
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk])
      if (!started) {
        if (bytes.length < 4 || bytes.length < bytes.readInt32BE(0)) return
        bytes = bytes.subarray(bytes.readInt32BE(0))
        started = true
        socket.write(Buffer.concat([authentication(0), message('Z', Buffer.from('I'))]))
      }

      while (bytes.length >= 5 && bytes.length >= 1 + bytes.readInt32BE(1)) {
        if (bytes[0] === 0x53 && ++seen === syncs) answer(socket)
        bytes = bytes.subarray(1 + bytes.readInt32BE(1))
      }
    })
  })
  return listenOnLoopback(server, sockets)
}

const connectTo = (port: number) =>
  WireConnection.connect({host: '127.0.0.1', port, user: 'ledger', startup: {}, tls: false, connectTimeoutMs: 5000})

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'answered',
    (error: {code: string}) => error.code,
  )

describe('the transfer connection: a statement is settled only by its own ReadyForQuery', () => {
  it("a connection that closes after the statement's rows and CommandComplete, before ReadyForQuery: CONNECTION_CLOSED, never the rows", async () => {
    const row = message('D', Buffer.from([0, 1, 0, 0, 0, 1, 0x32]))
    const server = await scriptedServer(2, (socket) => {
      // Parse/Describe answered, then the execution's rows and its CommandComplete: the commit (at Sync) is not answered
      socket.write(
        Buffer.concat([
          message('1', Buffer.alloc(0)),
          message('n', Buffer.alloc(0)),
          message('Z', Buffer.from('I')),
          message('2', Buffer.alloc(0)),
          row,
          row,
          message('C', Buffer.from('UPDATE 2\0')),
        ]),
      )
      socket.destroy()
    })
    try {
      const c = await connectTo(server.port)
      expect(await codeOf(c.execute('UPDATE t SET x = x + $1 RETURNING x', [1]))).to.equal('CONNECTION_CLOSED')
    } finally {
      await server.close()
    }
  })

  it('a FATAL error and the close that follows: every statement in flight is CONNECTION_CLOSED (ambiguous), whatever its position', async () => {
    const server = await scriptedServer(3, (socket) => {
      socket.end(errorResponse('FATAL', '57P01', 'terminating connection due to administrator command'))
    })
    try {
      const c = await connectTo(server.port)
      const first = codeOf(c.execute('SELECT $1::int AS n', [1]))
      const second = codeOf(c.execute('SELECT $1::int AS n', [2]))
      expect(await Promise.all([first, second])).to.deep.equal(['CONNECTION_CLOSED', 'CONNECTION_CLOSED'])
    } finally {
      await server.close()
    }
  })
})

describe('the transfer connection at startup', () => {
  it("refuses bytes stuffed after the server's answer to the SSLRequest (CVE-2021-23222)", async () => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {})
      socket.once('data', () => socket.write(Buffer.concat([Buffer.from('S'), authentication(0)])))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const {port} = server.address() as net.AddressInfo
      const outcome = await codeOf(
        WireConnection.connect({
          host: '127.0.0.1',
          port,
          user: 'ledger',
          startup: {},
          tls: 'prefer',
          connectTimeoutMs: 5000,
        }),
      )
      expect(outcome).to.equal('PROTOCOL_VIOLATION')
    } finally {
      server.close()
    }
  })

  it('refuses a server that starts SCRAM and then accepts the login without proving it knows the password', async () => {
    const server = await scramSkippingServer()
    try {
      const outcome = await WireConnection.connect({
        host: '127.0.0.1',
        port: server.port,
        user: 'ledger',
        password: 'secret',
        startup: {database: 'ledger'},
        tls: false,
        connectTimeoutMs: 5000,
      }).then(
        (c) => {
          c.destroy()
          return 'connected'
        },
        (error: {code: string; message: string}) => error,
      )
      expect(outcome).to.include({code: '28000'})
      expect((outcome as {message: string}).message).to.not.include('secret')
    } finally {
      await server.close()
    }
  })
})
