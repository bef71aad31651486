import {readdir, readFile, rm} from 'node:fs/promises'
import path from 'node:path'

import {motoTlsArgs} from '../../backup/layout.js'
import {packagePath} from '../../paths.js'
import {isAlive, readPidFile} from '../../proc/index.js'
import {etcdArgs, type LocalLayout, motoArgs, type RegionLayout} from './layout.js'

/**
 * A long-lived process of the local world. The definition is derived from the
 * layout alone, so a restart after a fault (or a second `atlas up`) runs exactly
 * the same command line.
 */
export interface ManagedProcess {
  args: string[]
  /** runs as the postgres OS user (PostgreSQL refuses root) */
  asPostgres: boolean
  kind: 'etcd' | 'moto' | 'patroni' | 'scheduler'
  logFile: string
  /** a string unique to this process's command line, to tell our process from a reused PID */
  marker: string
  name: string
  pidFile: string
  region?: string
  tool: string
}

/** Where the emulator's snapshot and journal live; `down --purge` removes it with the rest of the data dir. */
export function motoStateDir(layout: LocalLayout): string {
  return path.join(layout.dataDir, 'moto')
}

export function managedProcesses(layout: LocalLayout): ManagedProcess[] {
  const procs: ManagedProcess[] = []
  for (const r of layout.regions) {
    procs.push({
      name: r.etcdName,
      kind: 'etcd',
      region: r.region.name,
      tool: 'etcd',
      args: etcdArgs(layout, r),
      logFile: path.join(layout.logDir, `${r.etcdName}.log`),
      pidFile: path.join(layout.pidDir, `${r.etcdName}.pid`),
      asPostgres: false,
      marker: r.etcdDataDir,
    })
  }

  // moto's server application under libexec/moto-persistent.py, which keeps its state (snapshot + journal)
  // under <dataDir>/moto, so a `down`/`up` or a crash of the emulator loses no bucket, object or message
  procs.push({
    name: 'moto',
    kind: 'moto',
    tool: 'python3',
    // the same state also over HTTPS (the port after the plain one), for pgBackRest's S3 repository
    args: [
      packagePath('libexec', 'moto-persistent.py'),
      '--state-dir',
      motoStateDir(layout),
      ...motoTlsArgs(layout),
      ...motoArgs(layout),
    ],
    logFile: path.join(layout.logDir, 'moto.log'),
    pidFile: path.join(layout.pidDir, 'moto.pid'),
    asPostgres: false,
    marker: String(layout.motoPort),
  })
  for (const r of layout.regions) {
    // Patroni runs under its software watchdog (its parent, in another process group), with the
    // loopback timing floors; startProcess puts the interpreter of the installed Patroni for python3
    procs.push({
      name: `patroni-${r.region.name}`,
      kind: 'patroni',
      region: r.region.name,
      tool: 'python3',
      args: [
        packagePath('libexec', 'patroni-softdog.py'),
        '--device',
        r.watchdogDevice,
        '--data-dir',
        r.postgresDataDir,
        '--',
        'python3',
        packagePath('libexec', 'patroni-loopback.py'),
        r.patroniConfigFile,
      ],
      logFile: path.join(layout.logDir, `patroni-${r.region.name}.log`),
      pidFile: path.join(layout.pidDir, `patroni-${r.region.name}.pid`),
      asPostgres: true,
      marker: r.patroniConfigFile,
    })
  }

  return procs
}

/** name -> pid of every managed process that is alive and really ours (a reused PID is not); stale pid files are removed. */
export async function liveProcesses(
  processes: ManagedProcess[],
  options: {clean?: boolean} = {},
): Promise<Map<string, number>> {
  const live = new Map<string, number>()
  for (const proc of processes) {
    const pid = await readPidFile(proc.pidFile)
    if (pid === undefined) continue
    const cmd = isAlive(pid) ? await cmdlineOf(pid) : undefined
    if (cmd && cmd.includes(proc.marker)) live.set(proc.name, pid)
    else if (options.clean !== false) await rm(proc.pidFile, {force: true})
  }

  return live
}

/** Patroni's own PID: the child of its software watchdog (libexec/patroni-softdog.py), in a process group of its own. */
export async function patroniPid(processes: ManagedProcess[], r: RegionLayout): Promise<number | undefined> {
  const watchdog = await readPidFile(processes.find((p) => p.kind === 'patroni' && p.region === r.region.name)!.pidFile)
  if (watchdog === undefined) return undefined
  for (const child of await childrenOf(watchdog)) {
    if ((await cmdlineOf(child))?.includes(r.patroniConfigFile)) return child
  }

  return undefined
}

/** The command line of a live process, or undefined (gone, or not readable). */
export async function cmdlineOf(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ')
  } catch {
    return undefined
  }
}

/** The postmaster PID of a data directory (first line of postmaster.pid), when that process runs postgres. */
export async function postmasterPid(dataDir: string): Promise<number | undefined> {
  let text: string
  try {
    text = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')
  } catch {
    return undefined
  }

  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10)
  if (!Number.isInteger(pid) || pid <= 0) return undefined
  const cmd = await cmdlineOf(pid)
  return cmd && cmd.includes(dataDir) ? pid : undefined
}

/**
 * The process group of a process (field 5 of /proc/<pid>/stat). Patroni starts the
 * postmaster from a helper that setsid()s first, so the postmaster's group is the
 * helper's PID, not its own: signalling -postmasterPid would miss it.
 */
export async function processGroupOf(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // the command name (field 2) is parenthesised and may contain spaces
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const pgid = Number.parseInt(fields[2] ?? '', 10)
    return Number.isInteger(pgid) && pgid > 0 ? pgid : undefined
  } catch {
    return undefined
  }
}

/** PIDs whose parent is pid (from /proc). */
export async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number.parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? '', 10)
      if (ppid === pid) children.push(Number(entry))
    } catch {
      // exited meanwhile
    }
  }

  return children
}

/** The state letter of a process (R, S, D, T for stopped, Z, ...), or undefined when it is gone. */
export async function processState(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
  } catch {
    return undefined
  }
}
