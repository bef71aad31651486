import type {SurvivabilityAssessment} from '../health/quorum.js'
import type {VerifyResult} from '../ledger/verify/index.js'
import type {WorkloadResult} from '../ledger/workload/index.js'
import type {AlertEvent} from '../monitoring/prometheus.js'
import type {FaultWindow} from '../report/picture.js'
import type {OutcomeSeries} from '../report/series.js'
import type {FaultComponent, FaultMode, PartitionKind} from '../world/types.js'
import type {TimelinePoint, WriteGap} from './timeline.js'

/** What a blast-radius round reports: the orchestrator (blast.ts) fills it, the report (report/blast.ts) and the picture read it. */

export interface IsolatedLeaderWrites {
  /** of them, acknowledged at any time (mostly by the new primary, after the client's retry) */
  acknowledged: number
  /**
   * of them, acknowledged while the window was open: by the cut-off old primary, or by the new
   * one in the last sample interval before a sample saw it lead (the window ends at a sample)
   */
  acknowledgedInWindow: number
  /** transfers issued in that window */
  attempted: number
  /** seconds from the fault until a sample saw another region lead (null: none did while the fault held) */
  leadershipLostSeconds: null | number
  /** acknowledged ones missing from it: must be 0 */
  lost: number
  /** acknowledged ones found in the database after the restore */
  present: number
  region: string
  unknown: number
}

/** Under a campaign's workload: the transfers acknowledged during the round, looked up by id once the world converged. */
export interface RoundTransfers {
  acknowledged: number
  /** acknowledged and missing: must be 0 */
  lost: number
  present: number
}

export interface BlastEvent {
  at: string
  event: string
  /** seconds since the fault (negative before it) */
  t: number
}

export interface BlastResult {
  acknowledged: number
  /** transfers acknowledged while the fault held (injection to restore) */
  acknowledgedDuringFault?: number
  /** alerts that fired (and resolved) from the world's Prometheus; absent without monitoring */
  alerts?: AlertEvent[]
  attempted: number
  /** --backup-check: the last backup restored and verified after the round */
  backupCheck?: import('../backup/check.js').BackupCheckResult
  /** the first region's component (the only one unless `components` is set) */
  component: FaultComponent
  /** a double fault of different parts: each region's component */
  components?: Record<string, FaultComponent>
  converged: boolean
  convergeSeconds: null | number
  driver: string
  durationSeconds: number
  /** --component etcd-leader: the region is the one whose etcd member led at fault time */
  etcdLeaderTarget?: boolean
  events: BlastEvent[]
  failover: boolean
  faultDescription: string
  faultInjectedAt: string
  /** when the fault held, seconds since it */
  faultWindows: FaultWindow[]
  forced: boolean
  /** the health model's view (sampled member health), for comparison: it can miss stalls clients see */
  healthModel: {
    sampleIntervalSeconds: number
    samples: number
    /** seconds after the fault until a sample said "writable" again */
    unavailableSeconds: null | number
  }
  interrupted: boolean
  /**
   * --mode partition with the database leader on the cut-off side: the writes issued while it
   * still held the leadership (from the fault until another region led, or the restore), and
   * what became of them. Every acknowledged one is looked up in the database after the restore.
   */
  isolatedLeader: IsolatedLeaderWrites | null
  leaderAfterFault: null | string
  leaderAfterRestore: null | string
  leaderBefore: null | string
  /** when that gap was, relative to the fault */
  longestWriteGap: null | WriteGap
  /** the longest gap between acknowledged new writes around the fault (seconds) */
  longestWriteGapSeconds: null | number
  lost: number
  mode: FaultMode
  /** finished transfers per second (bins aligned on the fault); null without a workload */
  outcomes: null | OutcomeSeries
  /** --mode partition: its shape; null for other modes */
  partition: null | PartitionKind
  /** whether writes were acknowledged again while the regions were still broken */
  recoveredDuringFault: boolean
  region: string
  regions: string[]
  /** report.json, report.md, and the picture: report.svg and report.html (reports from before pictures have neither) */
  report: {html?: string; json: string; markdown: string; picture?: string; uploaded?: string}
  roundTransfers?: RoundTransfers
  /** fault -> first acknowledged write after it; null without a workload or when no write was acknowledged */
  rtoSeconds: null | number
  runDir: string
  /**
   * a round of a campaign, under the campaign's workload (started once before the first round,
   * stopped after the last): which one. There is no per-round verify (the writes go on);
   * roundTransfers instead, and the campaign verifies the whole run log at its end.
   */
  sharedWorkload?: {pid: number; runLog: string; startedAt: string}
  survivability: SurvivabilityAssessment
  timeline: TimelinePoint[]
  /**
   * seconds writes were unavailable as the workload saw it: the longest gap between
   * acknowledged writes around the fault (= longestWriteGapSeconds); null without a workload
   */
  unavailableSeconds: null | number
  unknown: number
  verified: boolean
  verify?: {checks: VerifyResult['checks']; ok: boolean; summary: VerifyResult['summary']}
  violations: Record<string, number>
  /** the workload's counters: its whole run, or under a campaign's workload the round's window (round start to convergence) */
  workload?: WorkloadResult['stats']
  /** the world's regions in config order (the picture's colours) */
  worldRegions: string[]
}
