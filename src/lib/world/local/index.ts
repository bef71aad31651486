import type {AtlasConfig, Region} from '../../config/schema.js'
import type {ClusterHealth} from '../../health/model.js'
import type {LocalMonitoring} from '../../monitoring/local.js'
import type {
  CloudEndpoint,
  DownResult,
  FaultComponent,
  FaultHandle,
  FaultMode,
  PartitionKind,
  RegionEndpoints,
  UpResult,
  World,
  WorldOperationOptions,
  WorldStatus,
} from '../types.js'
import type {DatabaseRole, LocalLayout, RegionLayout} from './layout.js'

import {localContext, type LocalContext, type LocalWorldOptions, regionLayout} from './context.js'
import {injectFault} from './faults.js'
import {clearClusterState, health, isConverged, waitConverged} from './health.js'
import {down, stopDatabase, up} from './lifecycle.js'
import {cloudEndpoint, databaseUrls, endpoints, status} from './status.js'

export type {LocalWorldOptions} from './context.js'

/**
 * The local world: per region an etcd member and a Patroni-managed PostgreSQL
 * node on loopback, plus one moto server for S3/SQS/IAM. Every process is
 * started detached in its own process group with a pid file under
 * <baseDir>/run, so status, down and faults work from any later invocation.
 *
 * The work is done beside this class: lifecycle.ts (up, down), plan.ts (their dry runs),
 * process-start.ts, provision.ts (base dir, certificates, configs, schema, cloud), health.ts
 * (health, convergence, etcd leader), status.ts (status, endpoints, database URLs) and
 * faults.ts (kill, stop, partition and their undo); context.ts is what they share.
 */
export class LocalWorld implements World {
  readonly config: AtlasConfig
  readonly driver = 'local' as const
  readonly layout: LocalLayout
  /** Prometheus, Alertmanager and the exporters (src/lib/monitoring): started by up, stopped by down */
  readonly monitoring: LocalMonitoring
  readonly regions: Region[]
  private readonly ctx: LocalContext

  constructor(config: AtlasConfig, options: LocalWorldOptions = {}) {
    this.ctx = localContext(config, options, () => this.backups())
    this.config = config
    this.regions = config.regions
    this.layout = this.ctx.layout
    this.monitoring = this.ctx.monitoring
  }

  /** Converged: every etcd member follows one leader, one Patroni leader running as primary, every other node a synchronous standby streaming without lag (health.ts). */
  static isConverged(health: ClusterHealth): boolean {
    return isConverged(health)
  }

  /** Backups, WAL archiving and restores of this world (src/lib/backup). */
  async backups(): Promise<import('../../backup/local.js').LocalBackups> {
    const {LocalBackups} = await import('../../backup/local.js')
    return new LocalBackups(this)
  }

  /** Deletes Patroni's state of the cluster from etcd (every Patroni must be stopped): see health.ts. */
  clearClusterState(): Promise<void> {
    return clearClusterState(this.ctx)
  }

  cloudEndpoint(): Promise<CloudEndpoint> {
    return cloudEndpoint(this.ctx)
  }

  /**
   * Every node's URL for a role (default: the ledger's), the current database leader's first:
   * clients try hosts in order, so they reach the writable node at once.
   */
  databaseUrls(role: DatabaseRole = 'ledger'): Promise<string[]> {
    return databaseUrls(this.ctx, role)
  }

  down(options: WorldOperationOptions & {purge?: boolean} = {}): Promise<DownResult> {
    return down(this.ctx, options)
  }

  endpoints(): Promise<RegionEndpoints[]> {
    return endpoints(this.ctx)
  }

  health(): Promise<ClusterHealth> {
    return health(this.ctx)
  }

  injectFault(
    regionName: string,
    mode: FaultMode,
    options: WorldOperationOptions & {component?: FaultComponent; partition?: PartitionKind} = {},
  ): Promise<FaultHandle> {
    return injectFault(this.ctx, regionName, mode, options)
  }

  regionLayout(name: string): RegionLayout {
    return regionLayout(this.ctx, name)
  }

  runsDir(): string {
    return this.layout.runsDir
  }

  status(): Promise<WorldStatus> {
    return status(this.ctx)
  }

  /** Stops the backup scheduler, Patroni and PostgreSQL; etcd and moto keep running (`up` starts the rest again). */
  stopDatabase(): Promise<string[]> {
    return stopDatabase(this.ctx)
  }

  up(options: WorldOperationOptions & {monitoring?: boolean} = {}): Promise<UpResult> {
    return up(this.ctx, options)
  }

  waitConverged(options: {signal?: AbortSignal; timeoutMs?: number} = {}): Promise<ClusterHealth> {
    return waitConverged(this.ctx, options)
  }
}
