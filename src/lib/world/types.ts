import type {AtlasConfig, Region} from '../config/schema.js'
import type {ClusterHealth} from '../health/model.js'
import type {PlannedCommand} from '../tools/runner.js'
import type {CloudEndpoint, RegionEndpoints} from '../model/endpoints.js'
import type {MonitoringStatus, WorldMonitoring} from '../monitoring/types.js'

/**
 * What every command needs from a world. The local world (real processes on
 * loopback) and the k3d world (Docker, Kubernetes, CockroachDB) implement it;
 * commands never reach past it into driver details.
 */
export type DriverKind = 'local' | 'k3d'
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
  /** a long step starts; returns a function that marks it done (or failed) */
  step(title: string): (outcome?: {error?: Error; skipped?: boolean; note?: string}) => void
  /** a line of detail under the current step */
  info(message: string): void
  /**
   * a live status line of the current step that replaces the previous one (a
   * countdown): redrawn in place on a terminal, printed every few seconds otherwise
   */
  status?(line: string): void
}

export interface WorldOperationOptions {
  dryRun?: boolean
  progress?: ProgressReporter
  /** stops a long operation early (Ctrl-C) */
  signal?: AbortSignal
}

export type {CloudEndpoint, RegionEndpoints} from '../model/endpoints.js'

/** One step of a driver's ordered up/down pipeline, as --dry-run and --json show it. */
export interface PlanStep {
  id: string
  title: string
  /** the commands of this step, in order (stdinFile: a file fed on stdin) */
  commands: Array<PlannedCommand & {stdinFile?: string}>
  /** files the step writes */
  files?: string[]
  /** the SQL the step runs, in order (credentials redacted) */
  sql?: string[]
  /** why a real run would skip it (e.g. already done: up is resumable) */
  skip?: string
}

export interface UpResult {
  driver: DriverKind
  /** false when the world was already running and nothing was started */
  started: boolean
  dryRun: boolean
  /** with dryRun: the exact ordered commands that would run */
  plan?: PlannedCommand[]
  /** files a dry run would render */
  renderedFiles?: string[]
  /** with dryRun: the plan grouped by step (drivers that have steps) */
  steps?: PlanStep[]
  /** what the placeholders in a dry-run plan stand for, e.g. {'<base>': '/home/me/.atlas'} */
  planLegend?: Record<string, string>
  /** tools a dry run could not find */
  missingTools?: string[]
  regions: RegionEndpoints[]
  durationSeconds: number
  /** the local world's Prometheus and Alertmanager, or why they are off */
  monitoring?: {enabled: boolean; reason?: string; prometheusUrl?: string; alertmanagerUrl?: string}
}

export interface DownResult {
  driver: DriverKind
  dryRun: boolean
  plan?: PlannedCommand[]
  steps?: PlanStep[]
  planLegend?: Record<string, string>
  stopped: string[]
  purged: boolean
}

export interface WorldStatus {
  driver: DriverKind
  up: boolean
  /** every part of the world is running and set up; false for a half-built world (an interrupted `up`): `atlas up` finishes it */
  complete?: boolean
  regions: RegionEndpoints[]
  health: ClusterHealth | null
  /** the world's monitoring (URLs, scrape targets, active alerts); absent when it does not run */
  monitoring?: MonitoringStatus
}

/** An injected fault; undo() restores the region and must be idempotent. */
export interface FaultHandle {
  region: string
  mode: FaultMode
  /** undefined: the whole region */
  component?: FaultComponent
  injectedAt: Date
  /** what was done, for reports and dry-run plans */
  description: string
  undo(): Promise<void>
}

/** Who connects to the ledger database (least privilege): see world/local/roles.ts. */
export type DatabaseRole = 'admin' | 'ledger' | 'verify'

export interface World {
  readonly driver: DriverKind
  readonly config: AtlasConfig
  readonly regions: Region[]

  /** monitoring: false leaves Prometheus, Alertmanager and the exporters out (default: on where installed) */
  up(options?: WorldOperationOptions & {monitoring?: boolean}): Promise<UpResult>
  down(options?: WorldOperationOptions & {purge?: boolean}): Promise<DownResult>
  /** cheap: whether the world is running, its endpoints and one health sample */
  status(): Promise<WorldStatus>

  /**
   * pgwire URLs of every database node, for multi-host connection strings, as a role:
   * `ledger` (default: insert transfers, move balances), `verify` (read-only) or
   * `admin` (setup). A world without separate roles returns the same URLs for each.
   */
  databaseUrls(role?: DatabaseRole): Promise<string[]>
  cloudEndpoint(): Promise<CloudEndpoint>
  endpoints(): Promise<RegionEndpoints[]>

  /** one health sample; never throws for an unreachable region (it is reported as such) */
  health(): Promise<ClusterHealth>
  /** waits until every region has rejoined and replication has caught up */
  waitConverged(options?: {timeoutMs?: number; signal?: AbortSignal}): Promise<ClusterHealth>

  /** breaks a region, or one component of it; unsupported combinations throw a UsageError before anything is touched */
  injectFault(region: string, mode: FaultMode, options?: WorldOperationOptions & {component?: FaultComponent; partition?: PartitionKind}): Promise<FaultHandle>
  /** the directory for run logs and reports */
  runsDir(): string
  /** the world's alert history and where a workload serves its metrics; worlds without monitoring have none */
  readonly monitoring?: WorldMonitoring
}

