import type {AddressInfo, Server, Socket} from 'node:net'

/**
 * Starts `server` on a free loopback port; close() ends the sockets it holds (`sockets`, which the
 * server's connection handler fills) and the server itself.
 */
export async function listenOnLoopback(
  server: Server,
  sockets: Set<Socket>,
): Promise<{close(): Promise<void>; port: number}> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
