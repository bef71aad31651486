import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {LocalBackups} from '../../backup/local.js'
import type {ProvisionResult} from '../../cloud/provision.js'
import type {AtlasConfig} from '../../config/schema.js'
import type {ClientTls} from '../../health/http.js'

import {backupSchedulerProcesses} from '../../backup/schedule.js'
import {findRegion} from '../../config/regions.js'
import {LocalMonitoring} from '../../monitoring/local.js'
import {localLayout, type LocalLayout, type RegionLayout} from './layout.js'
import {type ManagedProcess, managedProcesses} from './processes.js'

/** <baseDir>/world.json: written last by `up`, removed by `down`. */
export interface WorldState {
  basePort: number
  cloud?: ProvisionResult
  /** every step of `up` finished (processes, cloud resources, ledger schema) */
  complete?: boolean
  driver: 'local'
  host: string
  startedAt: string
}

export interface LocalWorldOptions {
  baseDir?: string
  /** how the cloud resources are created: the AWS SDK (default; no provider download) or terraform/ against moto */
  provisioner?: 'sdk' | 'terraform'
}

/**
 * What every part of the local driver (lifecycle, health, status, provision, faults) shares:
 * the layout and process list derived from the config, and the two things read once and kept.
 */
export interface LocalContext {
  /** the world's backups (LocalWorld.backups) */
  readonly backups: () => Promise<LocalBackups>
  /** the region cgroups processes start in (partition.ts); undefined: not available here */
  cgroups?: Promise<undefined | {home: string; regions: Map<string, string>}>
  readonly config: AtlasConfig
  /** atlas's etcd client certificate, read on first use (health.ts) */
  etcdTls?: Promise<ClientTls>
  readonly layout: LocalLayout
  /** Prometheus, Alertmanager and the exporters (src/lib/monitoring): started by up, stopped by down */
  readonly monitoring: LocalMonitoring
  readonly processes: ManagedProcess[]
  readonly provisioner: 'sdk' | 'terraform'
}

export function localContext(
  config: AtlasConfig,
  options: LocalWorldOptions,
  backups: () => Promise<LocalBackups>,
): LocalContext {
  const configDir = config.source ? path.dirname(config.source) : process.cwd()
  const baseDir = options.baseDir ?? path.resolve(configDir, config.local.baseDir)
  const layout = localLayout(config, baseDir)
  return {
    config,
    layout,
    processes: [...managedProcesses(layout), ...backupSchedulerProcesses(config, layout)],
    provisioner: options.provisioner ?? 'sdk',
    monitoring: new LocalMonitoring(layout),
    backups,
  }
}

export function regionLayout(ctx: LocalContext, name: string): RegionLayout {
  const region = findRegion(ctx.config, name)
  return ctx.layout.regions.find((r) => r.region.name === region.name)!
}

export async function writeState(ctx: LocalContext, state: WorldState): Promise<void> {
  await writeFile(ctx.layout.stateFile, `${JSON.stringify(state, null, 2)}\n`)
}

export async function readState(ctx: LocalContext): Promise<undefined | WorldState> {
  try {
    return JSON.parse(await readFile(ctx.layout.stateFile, 'utf8')) as WorldState
  } catch {
    return undefined
  }
}
