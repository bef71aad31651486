import path from 'node:path'

import type {ClusterHealth} from '../health/model.js'
import type {FaultComponent, ProgressReporter, World} from '../world/types.js'

import {silentProgress} from '../progress.js'
import {blastRadius, type BlastResult} from './blast.js'

/**
 * The fault matrix: every component of a region (the whole region, its etcd member,
 * its Patroni alone, its PostgreSQL alone), killed and frozen, on the node that
 * leads and on nodes that follow; and, where asked for (it needs root), whole regions
 * cut off by a network partition. Each cell is one blast-radius round under the
 * workload, verified; zero loss is a claim about every cell.
 */
export type MatrixRole = 'follower' | 'leader' | 'witness'
/** partition cells cut a whole region off (isolate) and exist for the region component only */
export type MatrixMode = 'kill' | 'partition' | 'stop'

export interface MatrixCell {
  component: FaultComponent
  mode: MatrixMode
  /** leader: the node that leads what the component belongs to (etcd: the Raft leader; else the database leader) */
  role: MatrixRole
}

export const MATRIX_COMPONENTS: FaultComponent[] = ['region', 'etcd', 'patroni', 'postgres']
/** the default modes; 'partition' is asked for explicitly (it needs root, nft and cgroup v2) */
export const MATRIX_MODES: MatrixMode[] = ['kill', 'stop']
export const MATRIX_ROLES: MatrixRole[] = ['leader', 'follower', 'witness']

export function matrixCells(
  filter: {components?: FaultComponent[]; modes?: MatrixMode[]; roles?: MatrixRole[]} = {},
): MatrixCell[] {
  const cells: MatrixCell[] = []
  for (const component of filter.components ?? MATRIX_COMPONENTS) {
    for (const mode of filter.modes ?? MATRIX_MODES) {
      if (mode === 'partition' && component !== 'region') continue
      for (const role of filter.roles ?? MATRIX_ROLES) cells.push({component, mode, role})
    }
  }

  return cells
}

/**
 * The region a cell breaks, from the current health: the leader of the component's
 * group, a data region that follows it, or the witness. Undefined when the role has
 * no distinct region (e.g. the etcd leader sits on the witness: "witness" and
 * "leader" are then the same node, and the cell is reported once, as leader).
 */
export function regionForCell(world: World, health: ClusterHealth, cell: MatrixCell): string | undefined {
  const group = health.groups.find((g) => g.group === (cell.component === 'etcd' ? 'etcd' : 'patroni'))
  const leader = group?.leaderRegion ?? undefined
  const witness = world.regions.find((r) => r.role === 'witness')?.name
  if (cell.role === 'leader') return leader
  if (cell.role === 'witness') return witness === leader ? undefined : witness
  return world.regions.find((r) => r.role !== 'witness' && r.name !== leader)?.name
}

export interface MatrixRow extends MatrixCell {
  acknowledged: number
  failover: boolean
  longestWriteGapSeconds: null | number
  lost: number
  /** the health model's view: how long the database was not writable (beside the client's RTO) */
  notWritableSeconds: null | number
  region: null | string
  rtoSeconds: null | number
  runDir: null | string
  /** why the cell did not run (no distinct region for its role) */
  skipped?: string
  unknown: number
  verified: boolean
  violations: Record<string, number>
}

export interface MatrixOptions {
  cells: MatrixCell[]
  concurrency?: number
  durationMs: number
  /** called after each cell (benches print as they go) */
  onRow?: (row: MatrixRow) => Promise<void> | void
  /** the workload's transfers in flight per connection (default: the workload's, DEFAULT_PIPELINE) */
  pipeline?: number
  prefix?: string
  progress?: ProgressReporter
  /** each cell's run log and report go to <runsDir>/<prefix>-<component>-<mode>-<role> */
  runsDir: string
  signal?: AbortSignal
}

/** Runs the cells one after the other on one world; each starts from a converged world. */
export async function runFaultMatrix(world: World, options: MatrixOptions): Promise<MatrixRow[]> {
  const rows: MatrixRow[] = []
  const progress = options.progress ?? silentProgress
  for (const cell of options.cells) {
    options.signal?.throwIfAborted()
    const health = await world.waitConverged({timeoutMs: 90_000, signal: options.signal})
    const region = regionForCell(world, health, cell)
    const base = {...cell, region: region ?? null}
    if (!region) {
      const row: MatrixRow = {
        ...base,
        skipped: `no region distinct from the leader plays ${cell.role}`,
        rtoSeconds: null,
        longestWriteGapSeconds: null,
        notWritableSeconds: null,
        failover: false,
        acknowledged: 0,
        unknown: 0,
        lost: 0,
        verified: true,
        violations: {},
        runDir: null,
      }
      rows.push(row)
      await options.onRow?.(row)
      continue
    }

    const runDir = path.join(
      options.runsDir,
      `${options.prefix ?? 'matrix'}-${cell.component}-${cell.mode}-${cell.role}`,
    )
    const result: BlastResult = await blastRadius(world, {
      regions: [region],
      mode: cell.mode,
      component: cell.component,
      durationMs: options.durationMs,
      runDir,
      progress,
      signal: options.signal,
      workloadConcurrency: options.concurrency ?? 4,
      workloadPipeline: options.pipeline,
      upload: false,
    })
    const row: MatrixRow = {
      ...base,
      rtoSeconds: result.rtoSeconds,
      longestWriteGapSeconds: result.longestWriteGapSeconds,
      notWritableSeconds: result.healthModel.unavailableSeconds,
      failover: result.failover,
      acknowledged: result.acknowledged,
      unknown: result.unknown,
      lost: result.lost,
      verified: result.verified,
      violations: result.violations,
      runDir,
    }
    rows.push(row)
    await options.onRow?.(row)
  }

  return rows
}

/** A Markdown table of the rows, as the README's reliability section shows it. */
export function formatMatrix(rows: MatrixRow[]): string {
  const lines = [
    '| component | mode | target | region | RTO (s) | longest write gap (s) | failover | acknowledged | lost | verified |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of rows) {
    if (r.skipped) {
      lines.push(`| ${r.component} | ${r.mode} | ${r.role} | – | – | – | – | – | – | (${r.skipped}) |`)
      continue
    }

    const num = (n: null | number) => (n === null ? '–' : n.toFixed(2))
    lines.push(
      `| ${r.component} | ${r.mode} | ${r.role} | ${r.region} | ${num(r.rtoSeconds)} | ${num(r.longestWriteGapSeconds)} | ${r.failover ? 'yes' : 'no'} | ${r.acknowledged} | ${r.lost} | ${r.verified ? 'yes' : 'NO'} |`,
    )
  }

  return lines.join('\n')
}
