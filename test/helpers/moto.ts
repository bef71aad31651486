/**
 * A real moto server (S3/SQS/IAM emulator) on a free loopback port, for tests.
 * stop() ends its whole process group; if the test process dies first, the
 * harness's exit/signal hook (see postgres.ts) SIGKILLs it.
 */
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {freePort, isGroupAlive, stopProcessGroup} from '../../src/lib/proc/index.js'
import {CommandRunner} from '../../src/lib/tools/runner.js'
import {sleep} from '../../src/lib/wait.js'
import {trackProcessGroup, untrackProcessGroup} from './postgres.js'

export interface TestMoto {
  /** moto accepts any credentials; these are the conventional test ones */
  accessKeyId: string
  endpoint: string
  pid: number
  port: number
  secretAccessKey: string
  stop(): Promise<void>
}

export async function startMoto(): Promise<TestMoto> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'atlas-test-moto-'))
  const host = '127.0.0.1'
  const port = await freePort(host)
  const pid = await new CommandRunner().start('moto_server', ['-H', host, '-p', String(port)], {
    logFile: path.join(root, 'moto.log'),
    cwd: root,
  })
  trackProcessGroup(pid, root)
  const endpoint = `http://${host}:${port}`
  const stop = async () => {
    await stopProcessGroup(pid, 5000)
    untrackProcessGroup(pid)
    await rm(root, {recursive: true, force: true})
  }

  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      // any HTTP answer means moto's WSGI app is serving
      const response = await fetch(`${endpoint}/moto-api/`, {signal: AbortSignal.timeout(1000)})
      await response.arrayBuffer()
      break
    } catch {
      if (!isGroupAlive(pid) || Date.now() > deadline) {
        const {readFile} = await import('node:fs/promises')
        const log = await readFile(path.join(root, 'moto.log'), 'utf8').catch(() => '')
        await stop()
        throw new Error(`moto_server on ${endpoint} did not start:\n${log.split('\n').slice(-20).join('\n')}`)
      }

      await sleep(100)
    }
  }

  return {endpoint, port, pid, accessKeyId: 'testing', secretAccessKey: 'testing', stop}
}
