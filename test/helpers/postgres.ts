/**
 * A real, throwaway PostgreSQL cluster for tests: initdb into a temp dir, postmaster
 * on a free 127.0.0.1 port, fsync on (durability tests rely on it). As root it runs
 * as the `postgres` OS user (initdb/postgres refuse root). stop() leaves no process
 * behind; a process-exit hook SIGKILLs anything a crashed test run left running.
 */
import {rmSync} from 'node:fs'
import {chown, mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {
  freePort,
  isGroupAlive,
  killProcessGroup,
  postgresOsUser,
  stopProcessGroup,
  waitForExit,
} from '../../src/lib/proc/index.js'
import {CommandRunner} from '../../src/lib/tools/runner.js'
import {sleep} from '../../src/lib/wait.js'

export interface TestPostgres {
  dataDir: string
  host: string
  /** signals the whole process group (e.g. SIGKILL to simulate a crash) and waits for it to exit */
  kill(signal?: NodeJS.Signals): Promise<void>
  logFile: string
  /** PID of the postmaster, which leads its own process group */
  pid: number
  port: number
  /** starts the postmaster again on the same data dir and port (crash recovery runs) */
  restart(): Promise<void>
  /** fast shutdown, then removes the temp dir */
  stop(): Promise<void>
  /** postgres://atlas@127.0.0.1:<port>/postgres (trust auth on loopback, no password) */
  url: string
}

export interface StartPostgresOptions {
  keepDataDir?: boolean
  /** extra `-c name=value` server settings */
  settings?: Record<string, number | string>
  /** a hot standby of this primary (pg_basebackup -R, streaming replication) instead of a new cluster */
  standbyOf?: TestPostgres
}

const running = new Map<number, string | undefined>()
let exitHookInstalled = false

/**
 * Process groups the harness started (PostgreSQL, moto): SIGKILLed when the test
 * process exits, or is ended by SIGINT/SIGTERM (e.g. `timeout`), before their stop()
 * could run. A signal is re-raised after the clean-up, so the exit status stays the same.
 */
export function trackProcessGroup(pid: number, tempDir?: string): void {
  installExitHook()
  running.set(pid, tempDir)
}

export function untrackProcessGroup(pid: number): void {
  running.delete(pid)
}

function killTracked(): void {
  for (const [pid, tempDir] of running) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // already gone
    }

    if (tempDir) rmSync(tempDir, {recursive: true, force: true})
  }

  running.clear()
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', killTracked)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = () => {
      killTracked()
      process.off(signal, onSignal)
      process.kill(process.pid, signal)
    }

    process.on(signal, onSignal)
  }
}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<TestPostgres> {
  const user = await postgresOsUser()
  const root = await mkdtemp(path.join(os.tmpdir(), 'atlas-test-pg-'))
  if (user) await chown(root, user.uid, user.gid)
  const dataDir = path.join(root, 'data')
  const logFile = path.join(root, 'postgres.log')
  const host = '127.0.0.1'
  const runner = new CommandRunner()
  const asUser = user ? {uid: user.uid, gid: user.gid} : {}
  if (options.standbyOf) {
    const primary = options.standbyOf
    // initdb's trust pg_hba allows replication connections from 127.0.0.1; -R writes standby.signal + primary_conninfo
    await runner.run(
      'pg_basebackup',
      [
        '-h',
        primary.host,
        '-p',
        String(primary.port),
        '-U',
        'atlas',
        '-D',
        dataDir,
        '-R',
        '-X',
        'stream',
        '-c',
        'fast',
      ],
      {
        ...asUser,
        timeoutMs: 120_000,
      },
    )
  } else {
    await runner.run(
      'initdb',
      // eslint-disable-next-line unicorn/text-encoding-identifier-case -- PostgreSQL's name for the encoding
      ['-D', dataDir, '-U', 'atlas', '--auth=trust', '--no-instructions', '-E', 'UTF8', '--locale=C'],
      {
        ...asUser,
        env: {LC_ALL: 'C'},
        timeoutMs: 60_000,
      },
    )
  }

  const port = await freePort(host)
  const settings: Record<string, number | string> = {
    listen_addresses: host,
    port,
    unix_socket_directories: root,
    fsync: 'on',
    synchronous_commit: 'on',
    max_connections: 60,
    shared_buffers: '32MB',
    ...options.settings,
  }
  const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]

  let pid = -1
  const launch = async () => {
    pid = await runner.start('postgres', args, {logFile, ...asUser})
    trackProcessGroup(pid, options.keepDataDir ? undefined : root)
    await waitReady(runner, host, port, pid, logFile)
  }

  try {
    await launch()
  } catch (error) {
    // waitReady already ended the server; leave no temp dir behind either
    if (!options.keepDataDir) await rm(root, {recursive: true, force: true})
    throw error
  }

  const instance: TestPostgres = {
    url: `postgres://atlas@${host}:${port}/postgres`,
    host,
    port,
    dataDir,
    logFile,
    get pid() {
      return pid
    },
    async stop() {
      if (isGroupAlive(pid)) {
        // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave
        killProcessGroup(pid, 'SIGCONT')
        try {
          process.kill(pid, 'SIGINT')
        } catch {
          // already gone
        }

        if (!(await waitForExit(pid, {timeoutMs: 15_000, group: true}))) await stopProcessGroup(pid, 1000)
      }

      untrackProcessGroup(pid)
      if (!options.keepDataDir) await rm(root, {recursive: true, force: true})
    },
    async kill(signal = 'SIGKILL') {
      // PostgreSQL's children call setsid(): they are not in the postmaster's process group,
      // so the group signal alone would leave backends running (or un-frozen)
      const children = await childPids(pid)
      killProcessGroup(pid, signal)
      for (const child of children) {
        try {
          process.kill(child, signal)
        } catch {
          // already gone
        }
      }

      if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') {
        await waitForExit(pid, {timeoutMs: 15_000, group: true})
        untrackProcessGroup(pid)
      }
    },
    async restart() {
      if (isGroupAlive(pid)) throw new Error(`postgres (pid ${pid}) is still running; kill or stop it first`)
      await launch()
    },
  }
  return instance
}

/** PIDs whose parent is pid (from /proc). */
async function childPids(pid: number): Promise<number[]> {
  const {readdir, readFile} = await import('node:fs/promises')
  const out: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    // "pid (comm) state ppid ...": comm may contain spaces, so parse after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (ppid === pid) out.push(Number(entry))
  }

  return out
}

/** Ready means accepting connections, which comes after crash recovery, not just after listen(). */
async function waitReady(
  runner: CommandRunner,
  host: string,
  port: number,
  pid: number,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (!isGroupAlive(pid)) break
    const probe = await runner.run(
      'pg_isready',
      ['-h', host, '-p', String(port), '-U', 'atlas', '-d', 'postgres', '-t', '2'],
      {reject: false},
    )
    if (probe.exitCode === 0) return
    await sleep(100)
  }

  const {readFile} = await import('node:fs/promises')
  const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n')
  killProcessGroup(pid, 'SIGKILL')
  untrackProcessGroup(pid)
  throw new Error(`PostgreSQL on ${host}:${port} did not become ready:\n${tail}`)
}
