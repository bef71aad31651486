import type {TimelinePoint} from '../chaos/timeline.js'
import type {ProgressReporter} from '../world/types.js'
import type {OutcomeRecorder} from './series.js'

/** What the live line says while a fault is held. */
export interface HoldSnapshot {
  /** null: no workload runs */
  acknowledgedPerSecond: null | number
  /** since the fault */
  errors: number
  /** from the latest health sample; undefined: no sample yet */
  leaderRegion?: null | string
  raftLeaderRegion?: null | string
  /** whole seconds until the regions are restored */
  secondsLeft: number
  unknown: number
}

export function formatHoldLine(s: HoldSnapshot): string {
  const parts = [`fault held, ${s.secondsLeft} s left`]
  if (s.acknowledgedPerSecond === null) parts.push('no workload')
  else
    parts.push(
      `${Math.round(s.acknowledgedPerSecond)} acknowledged/s`,
      `${s.errors} errors, ${s.unknown} unknown since the fault`,
    )
  if (s.leaderRegion !== undefined)
    parts.push(`database leader ${s.leaderRegion ?? 'none'}, Raft leader ${s.raftLeaderRegion ?? 'none'}`)
  return parts.join('; ')
}

export function holdSnapshot(options: {
  faultAtMs: number
  holdUntilMs: number
  latest?: TimelinePoint
  nowMs: number
  rateWindowMs?: number
  recorder?: OutcomeRecorder
}): HoldSnapshot {
  const {recorder, latest} = options
  return {
    secondsLeft: Math.max(0, Math.ceil((options.holdUntilMs - options.nowMs) / 1000)),
    acknowledgedPerSecond: recorder ? recorder.rate('acknowledged', options.nowMs, options.rateWindowMs ?? 2000) : null,
    errors: recorder?.count('errors', options.faultAtMs) ?? 0,
    unknown: recorder?.count('unknown', options.faultAtMs) ?? 0,
    ...(latest ? {leaderRegion: latest.leaderRegion, raftLeaderRegion: latest.raftLeaderRegion} : {}),
  }
}

/**
 * Reports the live line every intervalMs while the fault holds, through the
 * progress reporter's status line (redrawn in place on a terminal; the plain
 * reporter prints one every few seconds). stop() ends it.
 */
export function startHoldTicker(options: {
  faultAtMs: number
  holdUntilMs: number
  intervalMs?: number
  latest: () => TimelinePoint | undefined
  progress: ProgressReporter
  recorder?: OutcomeRecorder
}): {stop(): void} {
  const status = options.progress.status?.bind(options.progress)
  if (!status) return {stop() {}}
  const tick = () => status(formatHoldLine(holdSnapshot({...options, nowMs: Date.now(), latest: options.latest()})))
  tick()
  const timer = setInterval(tick, options.intervalMs ?? 1000)
  timer.unref()
  return {stop: () => clearInterval(timer)}
}
