import net from 'node:net'

import {pollUntil} from '../wait.js'

/** A port the OS says is free on host right now (bind to 0, read, release). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen({host, port: 0, exclusive: true}, () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Whether nothing listens on host:port (we can bind it). */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen({host, port, exclusive: true}, () => server.close(() => resolve(true)))
  })
}

/** Whether something accepts TCP connections on host:port. */
export async function isListening(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({host, port})
    const done = (result: boolean) => {
      socket.destroy()
      resolve(result)
    }

    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** Waits until host:port accepts connections; throws after timeoutMs naming what it waited for. */
export async function waitForPort(
  port: number,
  options: {host?: string; signal?: AbortSignal; timeoutMs?: number; what?: string} = {},
): Promise<void> {
  const host = options.host ?? '127.0.0.1'
  const timeoutMs = options.timeoutMs ?? 15_000
  await pollUntil(() => isListening(port, host), {
    timeoutMs,
    intervalMs: 100,
    signal: options.signal,
    timeoutError: () =>
      new Error(`${options.what ?? 'service'} did not start listening on ${host}:${port} within ${timeoutMs} ms`),
  })
}
