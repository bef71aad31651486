import {readFile, writeFile} from 'node:fs/promises'

import {poll} from '../wait.js'

/** Whether a process with this PID exists (signal 0 probes without touching it). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Signals a whole process group (started with detached: true, so its PGID is its PID):
 * Patroni's postgres children and their backends go with it. Returns false when
 * the group is already gone.
 */
export function killProcessGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw error
  }
}

/** Whether any process of the group still exists. */
export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Waits until the process (or, with group, its whole process group) has exited. */
export async function waitForExit(pid: number, options: {group?: boolean; timeoutMs?: number} = {}): Promise<boolean> {
  const alive = () => (options.group ? isGroupAlive(pid) : isAlive(pid))
  return (await poll(() => !alive(), {timeoutMs: options.timeoutMs ?? 10_000, intervalMs: 50})) === true
}

/**
 * Stops a process group politely (SIGTERM), then SIGKILL after graceMs. A stopped
 * (SIGSTOPped) group is continued first so it can act on SIGTERM.
 */
export async function stopProcessGroup(pid: number, graceMs = 10_000): Promise<void> {
  if (!isGroupAlive(pid)) return
  killProcessGroup(pid, 'SIGCONT')
  killProcessGroup(pid, 'SIGTERM')
  if (await waitForExit(pid, {timeoutMs: graceMs, group: true})) return
  killProcessGroup(pid, 'SIGKILL')
  await waitForExit(pid, {timeoutMs: 5000, group: true})
}

export async function readPidFile(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).trim(), 10)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

export async function writePidFile(file: string, pid: number): Promise<void> {
  await writeFile(file, `${pid}\n`)
}
