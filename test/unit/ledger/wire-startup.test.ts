import {expect} from 'chai'
import net from 'node:net'

import {WireConnection} from '../../../src/lib/ledger/wire/connection.js'

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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('the transfer connection at startup', () => {
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
