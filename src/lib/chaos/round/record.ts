import type {ProgressReporter} from '../../world/types.js'
import type {BlastEvent} from '../types.js'
import type {OutcomeListener} from '../workload.js'

import {OutcomeRecorder} from '../../report/series.js'

/** One finished transfer with its id: what the partition and shared-workload checks look up. */
export interface IdOutcome {
  at: number
  id: string
  latencyMs: number
  outcome: string
}

/**
 * What a round saw as it ran, shared by its phases: the events (timed from the fault),
 * every finished transfer, and whether the round was interrupted (Ctrl-C) or failed. A
 * phase after a failure or an interruption is skipped; the regions are restored whatever
 * happened (the fault phase), and the report is written with what is known.
 */
export class RoundRecord {
  /** acknowledgement times of new commits: unavailability as the clients saw it */
  readonly ackTimes: number[] = []
  readonly events: BlastEvent[] = []
  failure: Error | undefined
  /** when every region was broken (events before it are at t = 0) */
  faultAt: Date | undefined
  /** every outcome with its id (kept under a partition or a shared workload only) */
  readonly idOutcomes: IdOutcome[] = []
  interrupted = false
  /** only new commits count for ackTimes: "already applied" is a read and can be answered while no node takes writes */
  readonly listener: OutcomeListener = (event) => {
    if (event.outcome === 'applied') this.ackTimes.push(event.at.getTime())
    this.outcomes.record(event.outcome, event.at.getTime())
    if (this.keepIds)
      this.idOutcomes.push({id: event.id, outcome: event.outcome, at: event.at.getTime(), latencyMs: event.latencyMs})
  }
  readonly note = (event: string): void => {
    const now = new Date()
    const t = this.faultAt ? (now.getTime() - this.faultAt.getTime()) / 1000 : 0
    this.events.push({t, at: now.toISOString(), event})
    this.progress.info(event)
  }
  /** every finished transfer, for the picture and the live line */
  readonly outcomes = new OutcomeRecorder()

  constructor(
    private readonly progress: ProgressReporter,
    private readonly keepIds: boolean,
  ) {}

  /** nothing went wrong so far: the next phase runs */
  get going(): boolean {
    return !this.interrupted && !this.failure
  }

  /** an error of a phase after the fault: Ctrl-C marks the round interrupted, anything else is its failure */
  settle(error: unknown, signal: AbortSignal | undefined): void {
    if (signal?.aborted) this.interrupted = true
    else this.failure = error as Error
  }
}
