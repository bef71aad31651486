import type {AtlasConfig, Region} from '../config/schema.js'
import type {ClusterHealth} from '../health/model.js'
import type {DriverKind} from '../model/driver.js'
import type {CloudEndpoint, RegionEndpoints} from '../model/endpoints.js'
import type {MonitoringStatus, WorldMonitoring} from '../monitoring/types.js'
import type {PlannedCommand} from '../tools/runner.js'

export const FAULT_MODES = ['kill', 'stop', 'partition'] as const
export type FaultMode = (typeof FAULT_MODES)[number]
/** what of a region a fault hits: all of it, or one component (the local world's processes) */
export const FAULT_COMPONENTS = ['region', 'etcd', 'patroni', 'postgres'] as const
export type FaultComponent = (typeof FAULT_COMPONENTS)[number]
/** what blast-radius may target: a component, or the etcd member that leads the Raft group (resolved to its region when the round runs) */
export const TARGET_COMPONENTS = [...FAULT_COMPONENTS, 'etcd-leader'] as const
export type TargetComponent = (typeof TARGET_COMPONENTS)[number]
/**
 * The shape of a partition: isolate (the region and the others cannot reach each other),
 * one-way-in (nothing reaches the region; it still sends), one-way-out (the region's packets
 * are dropped; it still receives), bridge (the region and the other data regions cannot see
 * each other; both still see the witness).
 */
export const PARTITION_KINDS = ['isolate', 'one-way-in', 'one-way-out', 'bridge'] as const
export type PartitionKind = (typeof PARTITION_KINDS)[number]

export interface ProgressReporter {
  /** a line of detail under the current step */
  info(message: string): void
  /**
   * a live status line of the current step that replaces the previous one (a
   * countdown): redrawn in place on a terminal, printed every few seconds otherwise
   */
  status?(line: string): void
  /** a long step starts; returns a function that marks it done (or failed) */
  step(title: string): (outcome?: {error?: Error; note?: string; skipped?: boolean}) => void
}

export interface WorldOperationOptions {
  dryRun?: boolean
  progress?: ProgressReporter
  /** stops a long operation early (Ctrl-C) */
  signal?: AbortSignal
}

export type {DriverKind} from '../model/driver.js'

/** One step of a driver's ordered up/down pipeline, as --dry-run and --json show it. */
export interface PlanStep {
  /** the commands of this step, in order (stdinFile: a file fed on stdin) */
  commands: Array<PlannedCommand & {stdinFile?: string}>
  /** files the step writes */
  files?: string[]
  id: string
  /** why a real run would skip it (e.g. already done: up is resumable) */
  skip?: string
  /** the SQL the step runs, in order (credentials redacted) */
  sql?: string[]
  title: string
}

/** One setting of a running world that differs from what this version of atlas sets (a dotted key). */
export interface ConfigChange {
  /** what the world has; null: not set */
  from: unknown
  key: string
  to: unknown
}

export interface UpResult {
  driver: DriverKind
  dryRun: boolean
  durationSeconds: number
  /** tools a dry run could not find */
  missingTools?: string[]
  /** the local world's Prometheus and Alertmanager, or why they are off */
  monitoring?: {alertmanagerUrl?: string; enabled: boolean; prometheusUrl?: string; reason?: string}
  /** values of Patroni's dynamic configuration that differ and that up leaves as they are, each with why (local world) */
  notReconciled?: Array<ConfigChange & {reason: string}>
  /** with dryRun: the exact ordered commands that would run */
  plan?: PlannedCommand[]
  /** what the placeholders in a dry-run plan stand for, e.g. {'<base>': '/home/me/.atlas'} */
  planLegend?: Record<string, string>
  /**
   * values of Patroni's dynamic configuration (in etcd since the cluster's bootstrap) that up changed to this
   * version's, old to new; with dryRun what it would change; empty: nothing differed (local world)
   */
  reconciled?: ConfigChange[]
  regions: RegionEndpoints[]
  /** files a dry run would render */
  renderedFiles?: string[]
  /** false when the world was already running and nothing was started */
  started: boolean
  /** with dryRun: the plan grouped by step (drivers that have steps) */
  steps?: PlanStep[]
}

export interface DownResult {
  driver: DriverKind
  dryRun: boolean
  plan?: PlannedCommand[]
  planLegend?: Record<string, string>
  purged: boolean
  steps?: PlanStep[]
  stopped: string[]
}

export interface WorldStatus {
  /** every part of the world is running and set up; false for a half-built world (an interrupted `up`): `atlas up` finishes it */
  complete?: boolean
  driver: DriverKind
  health: ClusterHealth | null
  /** the world's monitoring (URLs, scrape targets, active alerts); absent when it does not run */
  monitoring?: MonitoringStatus
  regions: RegionEndpoints[]
  up: boolean
}

/** An injected fault; undo() restores the region and must be idempotent. */
export interface FaultHandle {
  /** undefined: the whole region */
  component?: FaultComponent
  /** what was done, for reports and dry-run plans */
  description: string
  injectedAt: Date
  mode: FaultMode
  region: string
  undo(): Promise<void>
}

/** Who connects to the ledger database (least privilege): see world/local/roles.ts. */
export type DatabaseRole = 'admin' | 'ledger' | 'verify'

/**
 * What every command needs from a world. The local world (real processes on
 * loopback) and the k3d world (Docker, Kubernetes, CockroachDB) implement it;
 * commands never reach past it into driver details.
 */
export interface World {
  cloudEndpoint(): Promise<CloudEndpoint>
  readonly config: AtlasConfig
  /**
   * pgwire URLs of every database node, for multi-host connection strings, as a role:
   * `ledger` (default: insert transfers, move balances), `verify` (read-only) or
   * `admin` (setup). A world without separate roles returns the same URLs for each.
   */
  databaseUrls(role?: DatabaseRole): Promise<string[]>

  down(options?: WorldOperationOptions & {purge?: boolean}): Promise<DownResult>
  readonly driver: DriverKind
  endpoints(): Promise<RegionEndpoints[]>

  /** one health sample; never throws for an unreachable region (it is reported as such) */
  health(): Promise<ClusterHealth>
  /** breaks a region, or one component of it; unsupported combinations throw a UsageError before anything is touched */
  injectFault(
    region: string,
    mode: FaultMode,
    options?: WorldOperationOptions & {component?: FaultComponent; partition?: PartitionKind},
  ): Promise<FaultHandle>
  /** the world's alert history and where a workload serves its metrics; worlds without monitoring have none */
  readonly monitoring?: WorldMonitoring

  readonly regions: Region[]
  /** the directory for run logs and reports */
  runsDir(): string

  /** cheap: whether the world is running, its endpoints and one health sample */
  status(): Promise<WorldStatus>
  /** monitoring: false leaves Prometheus, Alertmanager and the exporters out (default: on where installed) */
  up(options?: WorldOperationOptions & {monitoring?: boolean}): Promise<UpResult>
  /** waits until every region has rejoined and replication has caught up */
  waitConverged(options?: {signal?: AbortSignal; timeoutMs?: number}): Promise<ClusterHealth>
}

export type {CloudEndpoint, RegionEndpoints} from '../model/endpoints.js'
