import type {SurvivabilityAssessment} from '../health/quorum.js'
import type {WorkloadResult} from '../ledger/workload.js'
import type {VerifyResult} from '../ledger/verify.js'
import type {AlertEvent} from '../monitoring/prometheus.js'
import type {FaultWindow} from '../report/picture.js'
import type {OutcomeSeries} from '../report/series.js'
import type {FaultComponent, FaultMode, PartitionKind} from '../world/types.js'
import type {WriteGap, TimelinePoint} from './timeline.js'

/** What a blast-radius round reports: the orchestrator (blast.ts) fills it, the report (report/blast.ts) and the picture read it. */

export interface IsolatedLeaderWrites {
  region: string
  /** seconds from the fault until a sample saw another region lead (null: none did while the fault held) */
  leadershipLostSeconds: number | null
  /** transfers issued in that window */
  attempted: number
  /**
   * of them, acknowledged while the window was open: by the cut-off old primary, or by the new
   * one in the last sample interval before a sample saw it lead (the window ends at a sample)
   */
  acknowledgedInWindow: number
  /** of them, acknowledged at any time (mostly by the new primary, after the client's retry) */
  acknowledged: number
  unknown: number
  /** acknowledged ones found in the database after the restore */
  present: number
  /** acknowledged ones missing from it: must be 0 */
  lost: number
}

/** Under a campaign's workload: the transfers acknowledged during the round, looked up by id once the world converged. */
export interface RoundTransfers {
  acknowledged: number
  present: number
  /** acknowledged and missing: must be 0 */
  lost: number
}

export interface BlastEvent {
  /** seconds since the fault (negative before it) */
  t: number
  at: string
  event: string
}

export interface BlastResult {
  region: string
  regions: string[]
  mode: FaultMode
  /** the first region's component (the only one unless `components` is set) */
  component: FaultComponent
  /** a double fault of different parts: each region's component */
  components?: Record<string, FaultComponent>
  /** --component etcd-leader: the region is the one whose etcd member led at fault time */
  etcdLeaderTarget?: boolean
  /** --mode partition: its shape; null for other modes */
  partition: PartitionKind | null
  /**
   * --mode partition with the database leader on the cut-off side: the writes issued while it
   * still held the leadership (from the fault until another region led, or the restore), and
   * what became of them. Every acknowledged one is looked up in the database after the restore.
   */
  isolatedLeader: IsolatedLeaderWrites | null
  driver: string
  runDir: string
  forced: boolean
  survivability: SurvivabilityAssessment
  faultInjectedAt: string
  faultDescription: string
  durationSeconds: number
  /** fault -> first acknowledged write after it; null without a workload or when no write was acknowledged */
  rtoSeconds: number | null
  /** whether writes were acknowledged again while the regions were still broken */
  recoveredDuringFault: boolean
  /**
   * seconds writes were unavailable as the workload saw it: the longest gap between
   * acknowledged writes around the fault (= longestWriteGapSeconds); null without a workload
   */
  unavailableSeconds: number | null
  /** the longest gap between acknowledged new writes around the fault (seconds) */
  longestWriteGapSeconds: number | null
  /** when that gap was, relative to the fault */
  longestWriteGap: WriteGap | null
  /** the health model's view (sampled member health), for comparison: it can miss stalls clients see */
  healthModel: {
    /** seconds after the fault until a sample said "writable" again */
    unavailableSeconds: number | null
    samples: number
    sampleIntervalSeconds: number
  }
  leaderBefore: string | null
  leaderAfterFault: string | null
  leaderAfterRestore: string | null
  failover: boolean
  acknowledged: number
  unknown: number
  lost: number
  attempted: number
  /** transfers acknowledged while the fault held (injection to restore) */
  acknowledgedDuringFault?: number
  verified: boolean
  violations: Record<string, number>
  converged: boolean
  convergeSeconds: number | null
  timeline: TimelinePoint[]
  events: BlastEvent[]
  /** finished transfers per second (bins aligned on the fault); null without a workload */
  outcomes: OutcomeSeries | null
  /** when the fault held, seconds since it */
  faultWindows: FaultWindow[]
  /** the world's regions in config order (the picture's colours) */
  worldRegions: string[]
  /** the workload's counters: its whole run, or under a campaign's workload the round's window (round start to convergence) */
  workload?: WorkloadResult['stats']
  /**
   * a round of a campaign, under the campaign's workload (started once before the first round,
   * stopped after the last): which one. There is no per-round verify (the writes go on);
   * roundTransfers instead, and the campaign verifies the whole run log at its end.
   */
  sharedWorkload?: {runLog: string; startedAt: string; pid: number}
  roundTransfers?: RoundTransfers
  verify?: {ok: boolean; checks: VerifyResult['checks']; summary: VerifyResult['summary']}
  /** report.json, report.md, and the picture: report.svg and report.html (reports from before pictures have neither) */
  report: {json: string; markdown: string; picture?: string; html?: string; uploaded?: string}
  interrupted: boolean
  /** --backup-check: the last backup restored and verified after the round */
  backupCheck?: import('../backup/check.js').BackupCheckResult
  /** alerts that fired (and resolved) from the world's Prometheus; absent without monitoring */
  alerts?: AlertEvent[]
}
