import type {FaultComponent, FaultMode, PartitionKind, ProgressReporter, TargetComponent} from '../../world/types.js'
import type {ChaosWorkload} from '../workload.js'

/** What one blast-radius round breaks, for how long, and what it checks (blast.ts blastRadius). */
export interface BlastOptions {
  /** also check the S3 audit records (off by default, as in `atlas verify`: unknown-outcome commits have none) */
  auditCheck?: boolean
  /** after the round, restore the last backup into a scratch PostgreSQL and verify it (backup/check.ts prepareBackupCheck) */
  backupCheck?: import('../../backup/check.js').BackupCheck
  /** the whole region (default), one of its components, or the etcd leader's member (etcdLeaderTarget) */
  component?: TargetComponent
  /** per region, overriding component: a double fault of different parts (us's Patroni while eu's etcd member is stopped) */
  components?: Record<string, FaultComponent>
  /** how long to wait for convergence after the restore */
  convergeTimeoutMs?: number
  /** how long the regions stay broken */
  durationMs: number
  /** break them even when quorum would be lost */
  force?: boolean
  mode: FaultMode
  /** --mode partition: its shape (default isolate) */
  partition?: PartitionKind
  progress?: ProgressReporter
  /** regions to break together (usually one); with component etcd-leader, none or the leader's */
  regions: string[]
  runDir?: string
  sampleIntervalMs?: number
  /**
   * a workload already running (a campaign's, started once for all its rounds): the round
   * watches it through a window and leaves it running. Its figures are the window's
   * (round start to convergence); instead of a full verify (which needs the writes to have
   * stopped), the transfers acknowledged in the window are looked up by id after
   * convergence, and whoever started the workload verifies its run log after stopping it.
   */
  sharedWorkload?: ChaosWorkload
  /** Ctrl-C: skip ahead to restoring the regions */
  signal?: AbortSignal
  /** upload the report to the primary region's audit bucket (default on) */
  upload?: boolean
  /** warm-up with the workload running before the fault */
  warmupMs?: number
  /** run the transfer workload during the fault (default on) */
  workload?: boolean
  workloadConcurrency?: number
  /** the workload's transfers in flight per connection (default: the workload's, DEFAULT_PIPELINE) */
  workloadPipeline?: number
}
