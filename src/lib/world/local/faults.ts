import path from 'node:path'

import type {FaultComponent, FaultHandle, FaultMode, WorldOperationOptions} from '../types.js'
import type {RegionLayout} from './layout.js'
import type {PartitionKind} from './partition.js'

import {findRegion} from '../../config/regions.js'
import {PreconditionError, RestoreError, UsageError} from '../../errors.js'
import {killProcessGroup, postgresOsUser, readPidFile, waitForExit, waitForPort} from '../../proc/index.js'
import {CommandRunner} from '../../tools/runner.js'
import {type LocalContext, regionLayout} from './context.js'
import {startProcess} from './process-start.js'
import {childrenOf, liveProcesses, patroniPid, postmasterPid, processGroupOf} from './processes.js'

/** A process group a fault signalled, named for messages. */
interface SignalledGroup {
  name: string
  pgid: number
}

/**
 * What a fault signals, as process groups: the region's etcd member, Patroni's
 * watchdog and Patroni itself (each a group of its own), and PostgreSQL. PostgreSQL
 * needs care: the postmaster runs in the group of Patroni's setsid() helper, and
 * every backend, walsender and auxiliary process calls setsid() itself, so each is
 * a group of its own.
 */
async function faultTargets(
  ctx: LocalContext,
  region: string,
  component: FaultComponent,
): Promise<{groups: SignalledGroup[]; postmaster?: {pgid: number; pid: number}}> {
  // read-only: blast-radius validates the fault with a dry run before anything starts
  const live = await liveProcesses(ctx.processes, {clean: false})
  const r = regionLayout(ctx, region)
  const groups: SignalledGroup[] = []
  const etcd = ctx.processes.find((p) => p.kind === 'etcd' && p.region === region)!
  const watchdog = ctx.processes.find((p) => p.kind === 'patroni' && p.region === region)!
  if ((component === 'region' || component === 'etcd') && live.has(etcd.name))
    groups.push({name: etcd.name, pgid: live.get(etcd.name)!})
  if (component === 'region' && live.has(watchdog.name))
    groups.push({name: `${watchdog.name} watchdog`, pgid: live.get(watchdog.name)!})
  if (component === 'region' || component === 'patroni') {
    const patroni = await patroniPid(ctx.processes, r)
    if (patroni !== undefined) groups.push({name: watchdog.name, pgid: patroni})
  }

  if (component !== 'region' && component !== 'postgres') return {groups}
  const pm = await postmasterPid(r.postgresDataDir)
  const pgid = pm === undefined ? undefined : await processGroupOf(pm)
  return {groups, postmaster: pm !== undefined && pgid !== undefined ? {pid: pm, pgid} : undefined}
}

export async function injectFault(
  ctx: LocalContext,
  regionName: string,
  mode: FaultMode,
  options: WorldOperationOptions & {component?: FaultComponent; partition?: PartitionKind} = {},
): Promise<FaultHandle> {
  const region = findRegion(ctx.config, regionName).name
  const component = options.component ?? 'region'
  if (mode === 'partition') return partitionRegion(ctx, region, component, options.partition ?? 'isolate', options)
  if (options.partition)
    throw new UsageError(`--partition ${options.partition} goes with --mode partition, not --mode ${mode}`, {
      code: 'PARTITION_UNSUPPORTED',
    })
  const {groups, postmaster} = await faultTargets(ctx, region, component)
  const what = component === 'region' ? `region ${region}` : `the ${component} of ${region}`
  if (groups.length === 0 && !postmaster)
    throw new PreconditionError(`${what} has no running process to break`, {hint: 'run `atlas up` first'})
  const signal: NodeJS.Signals = mode === 'kill' ? 'SIGKILL' : 'SIGSTOP'
  const describe = (children: number) =>
    `${signal} to ${[...groups.map((g) => `${g.name} (pgid ${g.pgid})`), ...(postmaster ? [`postgres-${region} (postmaster ${postmaster.pid} and ${children} child processes)`] : [])].join(', ')}`
  if (options.dryRun)
    return {region, mode, component, injectedAt: new Date(), description: describe(0), async undo() {}}
  const signalled: SignalledGroup[] = []
  let children = 0
  if (postmaster) {
    // the postmaster first: once it is stopped or dead it cannot fork new children behind our back.
    // Its children are listed before a kill: a dead postmaster's children are re-parented at once.
    const withGroups = async (pids: number[]) =>
      Promise.all(pids.map(async (pid) => ({pid, pgid: (await processGroupOf(pid)) ?? pid})))
    const before = mode === 'kill' ? await withGroups(await childrenOf(postmaster.pid)) : []
    killProcessGroup(postmaster.pgid, signal)
    signalled.push({name: `postgres-${region}`, pgid: postmaster.pgid})
    const all = mode === 'kill' ? before : await withGroups(await childrenOf(postmaster.pid))
    for (const child of all) {
      killProcessGroup(child.pgid, signal)
      signalled.push({name: `postgres-${region} child ${child.pid}`, pgid: child.pgid})
    }

    children = all.length
  }

  // then Patroni (a stopped Patroni must not react to its postgres vanishing), its watchdog and the etcd member
  for (const g of [...groups].reverse()) {
    killProcessGroup(g.pgid, signal)
    signalled.push(g)
  }

  const injectedAt = new Date()
  let undone: Promise<void> | undefined
  const undo = () => {
    undone ??= mode === 'kill' ? restartRegion(ctx, region, signalled) : continueRegion(ctx, region, signalled)
    return undone
  }

  return {region, mode, component, injectedAt, description: describe(children), undo}
}

/**
 * A partition (partition.ts): one nftables table, applied in one transaction, deleted by
 * undo. Checked first, also in a dry run (blast-radius's check before the workload):
 * CAP_NET_ADMIN, nft, cgroup v2 and every region's processes in their cgroups.
 */
async function partitionRegion(
  ctx: LocalContext,
  region: string,
  component: FaultComponent,
  kind: PartitionKind,
  options: WorldOperationOptions,
): Promise<FaultHandle> {
  if (component !== 'region') {
    throw new UsageError(
      `the local world partitions whole regions: --mode partition with --component ${component} is not supported`,
      {code: 'PARTITION_UNSUPPORTED', hint: 'drop --component, or use --mode kill/stop for one component'},
    )
  }

  const partition = await import('./partition.js')
  const target = regionLayout(ctx, region)
  const {from, to} = partition.partitionPeers(ctx.layout, target, kind)
  const runner = new CommandRunner({logFile: path.join(ctx.layout.logDir, 'atlas.log')})
  const pids = new Map<string, number[]>()
  const live = await liveProcesses(ctx.processes, {clean: false})
  for (const r of ctx.layout.regions) {
    const list = ctx.processes
      .filter((p) => p.region === r.region.name && live.has(p.name))
      .map((p) => live.get(p.name)!)
    const patroni = await patroniPid(ctx.processes, r)
    const pm = await postmasterPid(r.postgresDataDir)
    pids.set(r.region.name, [...list, ...(patroni === undefined ? [] : [patroni]), ...(pm === undefined ? [] : [pm])])
  }

  const cgroupOf = await partition.checkPartitionable(ctx.layout, runner, pids)
  const table = partition.partitionTableName(ctx.layout, region)
  const names = (rs: RegionLayout[]) => rs.map((r) => r.region.name).join(', ') || 'none'
  const description = `nftables table inet ${table}: ${kind} ${region} (${target.address}, ports ${target.firstPort}-${target.firstPort + 19}); drops ${region} -> ${names(to)} and ${names(from)} -> ${region}`
  if (options.dryRun)
    return {region, mode: 'partition', component, injectedAt: new Date(), description, async undo() {}}
  const ruleset = partition.partitionRuleset(ctx.layout, target, kind, cgroupOf)
  // a table of the same name (an earlier crash) is replaced, never added to
  await runner.run('nft', ['delete', 'table', 'inet', table], {
    label: `nft delete table ${table}`,
    reject: false,
    timeoutMs: 10_000,
  })
  await runner.run('nft', ['-f', '-'], {input: ruleset, label: `nft -f (table ${table})`, timeoutMs: 10_000})
  const injectedAt = new Date()
  let undone: Promise<void> | undefined
  const undo = () => {
    undone ??= (async () => {
      const result = await runner.run('nft', ['delete', 'table', 'inet', table], {
        label: `nft delete table ${table}`,
        reject: false,
        timeoutMs: 10_000,
      })
      if (
        result.exitCode !== 0 &&
        (await partition.listWorldTables(ctx.layout, runner).catch(() => [table])).includes(table)
      ) {
        throw new RestoreError(`the partition of ${region} could not be removed: ${result.stderr.trim()}`, {
          hint: `nft delete table inet ${table}`,
          details: {region, table},
        })
      }
    })()
    return undone
  }

  return {region, mode: 'partition', component, injectedAt, description, undo}
}

/**
 * Undo of stop: SIGCONT to exactly what was stopped, the reverse of the stop order.
 * A resumed Patroni (4.x) checks the leader lock before acting and demotes itself
 * when another node leads now; a resumed primary whose lease expired meanwhile was
 * already killed by its watchdog (libexec/patroni-softdog.py) before the new
 * leader was promoted.
 */
async function continueRegion(ctx: LocalContext, region: string, groups: SignalledGroup[]): Promise<void> {
  const broken: string[] = []
  for (const g of [...groups].reverse()) {
    try {
      killProcessGroup(g.pgid, 'SIGCONT')
    } catch (error) {
      broken.push(`${g.name} (pgid ${g.pgid}): SIGCONT failed: ${(error as Error).message}`)
    }
  }

  if (broken.length > 0) {
    throw new RestoreError(`region ${region} could not be resumed: ${broken.join('; ')}`, {
      hint: `see ${ctx.layout.logDir}; \`atlas down && atlas up\` rebuilds the world`,
      details: {region, broken},
    })
  }
}

/** Undo of kill: once the killed groups are gone, start the region's processes again and wait for their ports. */
async function restartRegion(ctx: LocalContext, region: string, groups: SignalledGroup[]): Promise<void> {
  // make sure the old incarnation is really gone before its ports are reused
  for (const g of groups) await waitForExit(g.pgid, {group: true, timeoutMs: 5000})
  // Patroni's watchdog exits right after Patroni (Patroni killed alone): let it, so both start again
  const watchdog = ctx.processes.find((p) => p.kind === 'patroni' && p.region === region)!
  const watchdogPid = await readPidFile(watchdog.pidFile)
  if (watchdogPid !== undefined && (await patroniPid(ctx.processes, regionLayout(ctx, region))) === undefined) {
    await waitForExit(watchdogPid, {timeoutMs: 5000})
  }

  const user = await postgresOsUser()
  const runner = new CommandRunner({logFile: path.join(ctx.layout.logDir, 'atlas.log')})
  const live = await liveProcesses(ctx.processes)
  const broken: string[] = []
  for (const proc of ctx.processes.filter((p) => p.region === region && !live.has(p.name))) {
    try {
      await startProcess(ctx, runner, proc, user)
    } catch (error) {
      broken.push(`${proc.name} did not restart: ${(error as Error).message.split('\n')[0]}`)
    }
  }

  const r = regionLayout(ctx, region)
  try {
    await waitForPort(r.etcdClientPort, {host: r.address, timeoutMs: 15_000, what: r.etcdName})
  } catch (error) {
    broken.push((error as Error).message)
  }

  try {
    await waitForPort(r.patroniApiPort, {host: r.address, timeoutMs: 20_000, what: `Patroni of ${region}`})
  } catch (error) {
    broken.push((error as Error).message)
  }

  if (broken.length > 0) {
    throw new RestoreError(`region ${region} could not be restored: ${broken.join('; ')}`, {
      hint: `see ${ctx.layout.logDir}; \`atlas down && atlas up\` rebuilds the world`,
      details: {region, broken},
    })
  }
}
