import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {CommandRunner} from '../../tools/runner.js'
import type {LocalContext} from './context.js'

import {PreconditionError} from '../../errors.js'
import {isPortFree, type OsUser, writePidFile} from '../../proc/index.js'
import {findExecutable} from '../../tools/discovery.js'
import {allPorts} from './layout.js'
import {type ManagedProcess, postmasterPid} from './processes.js'

/** Starts one managed process detached, in its region's cgroup, and writes its pid file (a dry run records the command). */
export async function startProcess(
  ctx: LocalContext,
  runner: CommandRunner,
  proc: ManagedProcess,
  user: OsUser | undefined,
): Promise<number> {
  const env: Record<string, string> =
    proc.kind === 'patroni'
      ? {HOME: ctx.layout.postgresHome, PGPASSFILE: path.join(ctx.layout.postgresHome, `pgpass-${proc.region}`)}
      : {}
  if (proc.kind === 'etcd')
    env.ETCD_UNSUPPORTED_ARCH = process.arch === 'x64' || process.arch === 'arm64' ? '' : process.arch
  let {tool, args} = proc
  if (proc.kind === 'patroni') {
    const patroni = await findExecutable('patroni')
    if (!patroni && runner.dryRun) runner.missingTools.add('patroni')
    else if (!patroni)
      throw new PreconditionError('Patroni was not found', {
        hint: 'npm run setup (installs Patroni from PyPI into .tools)',
      })
    // the watchdog runs on the interpreter Patroni was installed with: one the postgres OS user can run
    const {realpath} = await import('node:fs/promises')
    const python = patroni ? path.join(path.dirname(await realpath(patroni)), 'python3') : 'python3'
    tool = python
    args = args.map((a) => (a === 'python3' ? python : a))
  }

  if (proc.kind === 'moto') tool = await motoInterpreter(runner)
  // each region's processes in a cgroup of its own, so a partition can tell their sockets apart
  let cgroup: undefined | {dir: string; home: string}
  if (proc.region && !runner.dryRun) {
    ctx.cgroups ??= import('./partition.js').then((m) => m.ensureRegionCgroups(ctx.layout))
    const groups = await ctx.cgroups
    const dir = groups?.regions.get(proc.region)
    if (groups && dir) cgroup = {dir, home: groups.home}
  }

  const pid = await runner.start(tool, args, {
    cgroup,
    logFile: proc.logFile,
    label: proc.name,
    cwd: proc.asPostgres ? ctx.layout.postgresHome : ctx.layout.baseDir,
    env,
    uid: proc.asPostgres ? user?.uid : undefined,
    gid: proc.asPostgres ? user?.gid : undefined,
  })
  if (!runner.dryRun) await writePidFile(proc.pidFile, pid)
  return pid
}

/** Before starting procs: every port they will listen on is free (or held by this world's own PostgreSQL). */
export async function checkPortsFree(ctx: LocalContext, procs: ManagedProcess[]): Promise<void> {
  const starting = new Set(
    procs
      .filter((p) => p.kind !== 'scheduler')
      .map((p) => (p.kind === 'patroni' ? `pg-${p.region}` : p.kind === 'etcd' ? `etcd-${p.region}` : 'moto')),
  )
  // a PostgreSQL this world left running without its Patroni (Patroni killed alone) is ours: the Patroni
  // started next adopts it (and demotes it if another node leads now), so its port does not count as busy
  const adopted = new Set<number>()
  for (const r of ctx.layout.regions)
    if ((await postmasterPid(r.postgresDataDir)) !== undefined) adopted.add(r.postgresPort)
  for (const {port, owner, host} of allPorts(ctx.layout)) {
    if (![...starting].some((s) => owner.startsWith(s)) || adopted.has(port)) continue
    if (!(await isPortFree(port, host))) {
      throw new PreconditionError(`port ${host}:${port} (for ${owner}) is already in use by another program`, {
        code: 'PORT_BUSY',
        hint: `stop that program, or set local.basePort in atlas.yaml to another block (the local world uses ${ctx.layout.basePort}-${ctx.layout.motoPort})`,
        details: {port, owner},
      })
    }
  }
}

/**
 * The Python that has moto installed: the interpreter of the moto_server script when it names one
 * (pip's entry-point scripts do), else python3 from PATH (a pyenv shim runs the same Python as moto_server).
 */
async function motoInterpreter(runner: CommandRunner): Promise<string> {
  const motoServer = await findExecutable('moto_server')
  if (!motoServer) {
    if (runner.dryRun) {
      runner.missingTools.add('moto_server')
      return 'python3'
    }

    throw new PreconditionError('moto_server was not found', {
      hint: "pip install 'moto[server]>=5,<6' (npm run setup does)",
    })
  }

  const firstLine = (await readFile(motoServer, 'utf8').catch(() => '')).split('\n', 1)[0] ?? ''
  const shebang = /^#!\s*(\S*python[\d.]*)\s*$/.exec(firstLine)?.[1]
  return shebang && path.isAbsolute(shebang) ? shebang : 'python3'
}
