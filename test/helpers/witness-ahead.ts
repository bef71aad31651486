import {readdir, readFile, readlink} from 'node:fs/promises'

import type {FaultMode} from '../../src/lib/world/types.js'

import {sleep} from '../../src/lib/wait.js'
import {LocalWorld} from '../../src/lib/world/local/index.js'
import {childrenOf, cmdlineOf, postmasterPid} from '../../src/lib/world/local/processes.js'

/** What a region's Patroni reports of its WAL (GET /patroni): a standby's last received position. */
export interface WalPosition {
  received: null | number
  timeline: null | number
}

/** The witness and the other data region just before the fault, while the latter's walreceiver was frozen. */
export interface WitnessAhead {
  replica: WalPosition & {region: string}
  witness: WalPosition & {region: string}
}

/** PIDs of a region's postgres children whose process title includes what. */
async function postgresChildren(world: LocalWorld, region: string, what: string): Promise<number[]> {
  const postmaster = await postmasterPid(world.regionLayout(region).postgresDataDir)
  if (postmaster === undefined) return []
  const found: number[] = []
  for (const child of await childrenOf(postmaster)) {
    if ((await cmdlineOf(child))?.includes(what)) found.push(child)
  }

  return found
}

/** The local TCP ports of a process's sockets (its fds' socket inodes, looked up in /proc/net/tcp). */
async function localPortsOf(pid: number): Promise<number[]> {
  const inodes = new Set<string>()
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const inode = /^socket:\[(\d+)]$/.exec(link)?.[1]
    if (inode) inodes.add(inode)
  }

  const ports: number[] = []
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/)
      if (fields.length > 9 && inodes.has(fields[9])) ports.push(Number.parseInt(fields[1].split(':')[1], 16))
    }
  }

  return ports
}

/**
 * The PID of the walsender a region's PostgreSQL runs for another region's standby, or undefined.
 * Every region connects from 127.0.0.1 (the loopback route's source), so the walsender is found
 * by the standby's walreceiver's port: its title reads "walsender <user> <address>(<port>) ...".
 */
export async function walSenderPid(world: LocalWorld, region: string, standby: string): Promise<number | undefined> {
  const [receiver] = await postgresChildren(world, standby, 'walreceiver')
  if (receiver === undefined) return undefined
  const ports = await localPortsOf(receiver)
  for (const sender of await postgresChildren(world, region, 'walsender')) {
    const title = (await cmdlineOf(sender)) ?? ''
    if (ports.some((port) => title.includes(`(${port})`))) return sender
  }

  return undefined
}

/** A region's WAL position from its Patroni's REST API (reads need no password). */
export async function walPosition(world: LocalWorld, region: string): Promise<WalPosition> {
  const r = world.regionLayout(region)
  const response = await fetch(`http://${r.address}:${r.patroniApiPort}/patroni`, {signal: AbortSignal.timeout(2000)})
  const body = (await response.json()) as {timeline?: number; xlog?: {location?: number; received_location?: number}}
  return {received: body.xlog?.received_location ?? body.xlog?.location ?? null, timeline: body.timeline ?? null}
}

/**
 * Makes the witness hold WAL that the other data region never received when the leader's region
 * is hit: before world.injectFault breaks the leader, the leader's walsender to the other data
 * region is frozen (SIGSTOP) under the workload until the witness reports more WAL than that
 * region (at most holdMs, default 800), so the primary's WAL reaches the witness alone (no commit returns meanwhile: both standbys are synchronous). Freezing the
 * standby's walreceiver instead would not do: what was sent waits in its socket and is read
 * once it is thawed. The walsender dies with the leader's region (a kill) or is thawed after
 * the fault is in. What a race does in a few rounds of a hundred (bench/failover), on purpose.
 * Faults on other regions go through unchanged. onAhead gets both positions as they were.
 */
export function withWitnessAhead(
  world: LocalWorld,
  options: {holdMs?: number; onAhead?: (ahead: WitnessAhead) => void} = {},
): LocalWorld {
  const inject = world.injectFault.bind(world)
  world.injectFault = async (region: string, mode: FaultMode, faultOptions = {}) => {
    const health = await world.health()
    const leader = health.groups.find((g) => g.group === 'patroni')?.leaderRegion
    const witness = world.regions.find((r) => r.role === 'witness')?.name
    const replica = world.regions.find((r) => r.role !== 'witness' && r.name !== leader)?.name
    const sender = region !== leader || replica === undefined ? undefined : await walSenderPid(world, region, replica)
    if (faultOptions.dryRun || !witness || !replica || sender === undefined) return inject(region, mode, faultOptions)
    process.kill(sender, 'SIGSTOP')
    try {
      // until the witness is seen ahead, within the standby's wal_receiver_timeout (1 s): past it the
      // standby would drop the frozen connection and stream from a new walsender
      const deadline = Date.now() + (options.holdMs ?? 800)
      let ahead: WitnessAhead
      do {
        await sleep(50)
        const [w, r] = await Promise.all([walPosition(world, witness), walPosition(world, replica)])
        ahead = {replica: {...r, region: replica}, witness: {...w, region: witness}}
      } while ((ahead.witness.received ?? 0) <= (ahead.replica.received ?? 0) && Date.now() < deadline)

      options.onAhead?.(ahead)
      return await inject(region, mode, faultOptions)
    } finally {
      try {
        process.kill(sender, 'SIGCONT')
      } catch {
        // gone with its region
      }
    }
  }

  return world
}
