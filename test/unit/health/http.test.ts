import {expect} from 'chai'
import {createServer, type Server} from 'node:http'
import {type AddressInfo} from 'node:net'

import {fetchJson, HttpStatusError} from '../../../src/lib/health/http.js'

/** A real HTTP server on loopback answering every request with the given status and a JSON body. */
async function answering(status: number, body: unknown): Promise<{close(): Promise<void>; url: string}> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(status, {'content-type': 'application/json'})
    response.end(JSON.stringify(body))
  })
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve)
  })
  const {port} = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
      }),
  }
}

describe('fetchJson', () => {
  it('returns the JSON body of a 2xx answer', async () => {
    const server = await answering(200, {ok: true})
    try {
      expect(await fetchJson(server.url)).to.deep.equal({ok: true})
    } finally {
      await server.close()
    }
  })

  it('refuses any other status, 503 included (a stopping etcd member or a gateway without its server is not an answer)', async () => {
    const server = await answering(503, {error: 'etcdserver: server stopped', code: 14})
    try {
      const refused = await fetchJson(server.url).catch((error_: unknown) => error_)
      expect(refused).to.be.instanceOf(HttpStatusError)
      expect((refused as Error).message).to.equal(`${server.url}: HTTP 503`)
      // the status itself, for callers that tell a refusal from an outage
      expect((refused as HttpStatusError).status).to.equal(503)
    } finally {
      await server.close()
    }
  })
})
