import {mkdir, readdir, readFile, rmdir} from 'node:fs/promises'
import path from 'node:path'

import type {CommandRunner} from '../../tools/runner.js'
import type {PartitionKind} from '../types.js'

import {PreconditionError, UsageError} from '../../errors.js'
import {type LocalLayout, PORTS_PER_REGION, type RegionLayout} from './layout.js'

/**
 * Network partitions of the local world, with nftables.
 *
 * Every region binds its own loopback address (layout.ts regionAddress), but a connection
 * to any 127/8 address leaves from 127.0.0.1 whoever opens it: the source address does not
 * say which region sent a packet. The socket does: `atlas up` starts each region's processes
 * in a cgroup (v2) of their own, <cgroup2>/atlas-<basePort>/<region>, and their sockets
 * carry it. A rule then drops a packet when the socket that sends it belongs to region X
 * and it goes to region Y's address and port block (a request), or when the socket that
 * receives it belongs to Y and it comes from X's address and port block (X's server
 * answering Y's client). Nothing else is touched: the clients (workload, verify, status)
 * run in no region's cgroup and reach every region, the S3/SQS emulator on the world's own
 * address stays reachable, and another world on the same machine has other cgroups and
 * another port block.
 *
 * One table per world and region, `atlas-<basePort>-<region>`, holds one fault's rules:
 * undo deletes the table, `atlas down` and `atlas up` delete any left by a crash.
 */
export type {PartitionKind} from '../types.js'

/** nft resolves `socket cgroupv2` paths under this directory, whatever the cgroup2 mount point is */
const NFT_CGROUP_BASE = '/sys/fs/cgroup'

export interface RegionCgroup {
  /** the cgroup's directory */
  dir: string
  /** its depth in the cgroup2 hierarchy (`socket cgroupv2 level N`) */
  level: number
  /** its path as nft takes it (relative to /sys/fs/cgroup) */
  nftPath: string
}

/** Where cgroup v2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host), or undefined. */
export async function cgroup2Mount(): Promise<string | undefined> {
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '')
  for (const line of mounts.split('\n')) {
    const [, where, type] = line.split(' ')
    if (type === 'cgroup2' && where && (where === NFT_CGROUP_BASE || where.startsWith(`${NFT_CGROUP_BASE}/`)))
      return where
  }

  return undefined
}

export function worldCgroupName(layout: LocalLayout): string {
  return `atlas-${layout.basePort}`
}

export function regionCgroup(mount: string, layout: LocalLayout, r: RegionLayout): RegionCgroup {
  const dir = path.join(mount, worldCgroupName(layout), r.region.name)
  return {dir, nftPath: path.relative(NFT_CGROUP_BASE, dir), level: 2}
}

/** The cgroup a process is in (cgroup v2 line of /proc/PID/cgroup), as a directory under the mount. */
export async function cgroupOf(pid: 'self' | number, mount: string): Promise<string | undefined> {
  const text = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => {})
  const line = text?.split('\n').find((l) => l.startsWith('0::'))
  return line ? path.join(mount, line.slice(3)) : undefined
}

/**
 * Makes the region cgroups of the world (best effort: needs root and a writable cgroup v2;
 * without them the world runs as before and only partitions are unavailable). Returns
 * region name -> where to start its processes, and where atlas itself returns to.
 */
export async function ensureRegionCgroups(
  layout: LocalLayout,
): Promise<undefined | {home: string; regions: Map<string, string>}> {
  const mount = await cgroup2Mount()
  if (!mount) return undefined
  const home = await cgroupOf('self', mount)
  if (!home) return undefined
  try {
    const regions = new Map<string, string>()
    for (const r of layout.regions) {
      const {dir} = regionCgroup(mount, layout, r)
      await mkdir(dir, {recursive: true})
      regions.set(r.region.name, dir)
    }

    return {regions, home}
  } catch {
    return undefined
  }
}

/** Removes the world's cgroups once they are empty (after `down`); best effort. */
export async function removeRegionCgroups(layout: LocalLayout): Promise<void> {
  const mount = await cgroup2Mount()
  if (!mount) return
  const world = path.join(mount, worldCgroupName(layout))
  const children = await readdir(world, {withFileTypes: true}).catch(() => [])
  for (const c of children) if (c.isDirectory()) await rmdir(path.join(world, c.name)).catch(() => {})
  await rmdir(world).catch(() => {})
}

export function partitionTableName(layout: LocalLayout, region: string): string {
  return `atlas-${layout.basePort}-${region}`
}

/** The prefix of every table of this world: a crash can leave them behind. */
export function worldTablePrefix(layout: LocalLayout): string {
  return `atlas-${layout.basePort}-`
}

/** Which regions the target cannot reach, and which cannot reach it. */
export function partitionPeers(
  layout: LocalLayout,
  target: RegionLayout,
  kind: PartitionKind,
): {from: RegionLayout[]; to: RegionLayout[]} {
  const others = layout.regions.filter((r) => r !== target)
  if (kind === 'bridge') {
    if (target.region.role === 'witness')
      throw new UsageError(
        `--partition bridge cuts a data region from the other data regions; ${target.region.name} is the witness`,
        {code: 'PARTITION_UNSUPPORTED', hint: 'name a data region'},
      )
    if (!layout.regions.some((r) => r.region.role === 'witness'))
      throw new UsageError('--partition bridge needs a witness region that both sides still see; this world has none', {
        code: 'PARTITION_UNSUPPORTED',
      })
    const data = others.filter((r) => r.region.role !== 'witness')
    return {from: data, to: data}
  }

  // from: the regions whose packets the target no longer receives; to: those it can no longer send to
  return {from: kind === 'one-way-out' ? [] : others, to: kind === 'one-way-in' ? [] : others}
}

function portRange(r: RegionLayout): string {
  return `${r.firstPort}-${r.firstPort + PORTS_PER_REGION - 1}`
}

/**
 * The whole table (for `nft -f`, applied in one transaction). Each direction X -> Y is
 * two rules: X's sockets sending to Y's servers (output), and Y's sockets receiving
 * from X's servers (input). Counters say how many packets each rule dropped.
 */
export function partitionRuleset(
  layout: LocalLayout,
  target: RegionLayout,
  kind: PartitionKind,
  cgroupOfRegion: (r: RegionLayout) => RegionCgroup,
): string {
  const {from, to} = partitionPeers(layout, target, kind)
  const output: string[] = []
  const input: string[] = []
  const cut = (x: RegionLayout, y: RegionLayout) => {
    const cx = cgroupOfRegion(x)
    const cy = cgroupOfRegion(y)
    output.push(
      `    socket cgroupv2 level ${cx.level} "${cx.nftPath}" ip daddr ${y.address} tcp dport ${portRange(y)} counter drop comment "${x.region.name} to ${y.region.name}"`,
    )
    input.push(
      `    socket cgroupv2 level ${cy.level} "${cy.nftPath}" ip saddr ${x.address} tcp sport ${portRange(x)} counter drop comment "${x.region.name} to ${y.region.name}"`,
    )
  }

  for (const y of to) cut(target, y)
  for (const x of from) cut(x, target)
  const table = partitionTableName(layout, target.region.name)
  return [
    `table inet ${table} {`,
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    ...output,
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    ...input,
    '  }',
    '}',
    '',
  ].join('\n')
}

/** CAP_NET_ADMIN in the effective set of this process (root normally has it). */
export async function hasNetAdmin(): Promise<boolean> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '')
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1]
  if (!hex) return false
  const CAP_NET_ADMIN = 12n
  return ((BigInt(`0x${hex}`) >> CAP_NET_ADMIN) & 1n) === 1n
}

/**
 * Everything a partition needs, checked before any workload starts: CAP_NET_ADMIN,
 * nft, and every region's processes in their cgroups. Exit 3 naming what is missing.
 */
export async function checkPartitionable(
  layout: LocalLayout,
  runner: CommandRunner,
  regionPids: Map<string, number[]>,
): Promise<(r: RegionLayout) => RegionCgroup> {
  if (!(await hasNetAdmin())) {
    throw new PreconditionError(
      '--mode partition needs the CAP_NET_ADMIN capability to change nftables rules (run atlas as root)',
      {code: 'PRIVILEGE_MISSING', hint: 'sudo atlas blast-radius ... --mode partition'},
    )
  }

  try {
    await runner.run('nft', ['list', 'tables'], {label: 'nft list tables', timeoutMs: 10_000})
  } catch (error) {
    throw new PreconditionError(`--mode partition needs nftables: ${(error as Error).message.split('\n')[0]}`, {
      code: 'NFT_UNAVAILABLE',
      hint: 'apt-get install nftables (and run as root)',
    })
  }

  const mount = await cgroup2Mount()
  if (!mount)
    throw new PreconditionError(
      '--mode partition needs cgroup v2 (to tell which region a socket belongs to); none is mounted under /sys/fs/cgroup',
      {code: 'CGROUP2_UNAVAILABLE'},
    )
  const strays: string[] = []
  for (const r of layout.regions) {
    const want = regionCgroup(mount, layout, r).dir
    for (const pid of regionPids.get(r.region.name) ?? []) {
      const have = await cgroupOf(pid, mount)
      if (have && have !== want) strays.push(`pid ${pid} of ${r.region.name} is in ${have}`)
    }
  }

  if (strays.length > 0) {
    throw new PreconditionError(
      `--mode partition needs every region's processes in the region's cgroup, and some are not (a world started without root, or before partitions existed): ${strays.slice(0, 3).join('; ')}`,
      {code: 'CGROUP_MISSING', hint: 'restart the world as root: atlas down && atlas up'},
    )
  }

  return (r) => regionCgroup(mount, layout, r)
}

/** The atlas tables of this world that exist now. */
export async function listWorldTables(layout: LocalLayout, runner: CommandRunner): Promise<string[]> {
  const out = await runner.run('nft', ['list', 'tables', 'inet'], {label: 'nft list tables', timeoutMs: 10_000})
  const prefix = worldTablePrefix(layout)
  return out.stdout
    .split('\n')
    .map((l) => /^table inet (\S+)$/.exec(l.trim())?.[1])
    .filter((t): t is string => t !== undefined && t.startsWith(prefix))
}

/** Deletes every table of this world (a crash's leftovers); returns their names. Without nft or privileges: nothing to do. */
export async function removeWorldTables(layout: LocalLayout, runner: CommandRunner): Promise<string[]> {
  if (!(await hasNetAdmin())) return []
  let tables: string[]
  try {
    tables = await listWorldTables(layout, runner)
  } catch {
    return []
  }

  for (const t of tables)
    await runner.run('nft', ['delete', 'table', 'inet', t], {label: `nft delete table ${t}`, timeoutMs: 10_000})
  return tables
}
