import type {ClusterHealth} from '../../health/model.js'
import type {VerifyResult} from '../../ledger/verify/index.js'
import type {ProgressReporter, World} from '../../world/types.js'
import type {TimelinePoint} from '../timeline.js'
import type {IsolatedLeaderWrites, RoundTransfers} from '../types.js'
import type {BlastOptions} from './options.js'
import type {IdOutcome, RoundRecord} from './record.js'

import {leaderFirstUrls} from '../workload.js'

/** The world after the restore: converged (old leader rejoined, replication caught up), and how long that took. */
export interface Convergence {
  after?: ClusterHealth
  converged: boolean
  convergeSeconds: null | number
}

/** Waits for the world to converge after the restore (skipped after a failure or Ctrl-C). */
export async function awaitConvergence(
  world: World,
  options: BlastOptions,
  record: RoundRecord,
  progress: ProgressReporter,
): Promise<Convergence> {
  if (!record.going) return {converged: false, convergeSeconds: null}
  const done = progress.step('wait for convergence (old leader rejoins, replication caught up)')
  const from = Date.now()
  try {
    const after = await world.waitConverged({timeoutMs: options.convergeTimeoutMs ?? 90_000, signal: options.signal})
    const convergeSeconds = (Date.now() - from) / 1000
    record.note(`converged: database leader ${after.leaderRegion}`)
    done({note: `${convergeSeconds.toFixed(1)} s`})
    return {after, converged: true, convergeSeconds}
  } catch (error) {
    record.settle(error, options.signal)
    done({error: error as Error})
    return {converged: false, convergeSeconds: null}
  }
}

/** What the round's ledger check found: a full verify of its own run log, or, under a shared workload, its transfers looked up by id. */
export interface LedgerCheck {
  roundTransfers?: RoundTransfers
  verify?: VerifyResult
}

/**
 * The ledger after the round. Its own workload stopped: verify every invariant against its
 * run log (and the world's other run logs). Under a shared workload (still writing, so a
 * full verify cannot run): every transfer acknowledged in the round's window must be stored;
 * whoever started the workload verifies its run log after stopping it.
 */
export async function checkLedger(
  world: World,
  options: BlastOptions,
  record: RoundRecord,
  context: {leaderRegion: null | string; ownRunLog?: string; progress: ProgressReporter; shared: boolean},
): Promise<LedgerCheck> {
  if (!record.going) return {}
  const {progress} = context
  if (context.shared) {
    const done = progress.step(
      'look up the transfers acknowledged in this round (the whole run log is verified after the campaign)',
    )
    try {
      const roundTransfers = await acknowledgedPresent(world, record.idOutcomes, context.leaderRegion)
      if (roundTransfers.lost > 0)
        record.note(
          `${roundTransfers.lost} of the ${roundTransfers.acknowledged} transfers acknowledged in this round are missing from the ledger`,
        )
      done({note: `${roundTransfers.present} of ${roundTransfers.acknowledged} present`})
      return {roundTransfers}
    } catch (error) {
      record.failure = error as Error
      done({error: error as Error})
      return {}
    }
  }

  const done = progress.step(
    `verify the ledger (conservation, replay, durability, phantoms${options.auditCheck ? ', audit' : ''})`,
  )
  try {
    const verify = await verifyWorld(world, {
      runLogs: context.ownRunLog ? [context.ownRunLog] : [],
      leaderRegion: context.leaderRegion,
      auditCheck: Boolean(options.auditCheck),
      signal: options.signal,
    })
    done({note: verify.ok ? 'all invariants hold' : `${verify.violations.length} violation(s)`})
    return {verify}
  } catch (error) {
    record.settle(error, options.signal)
    done({error: error as Error})
    return {}
  }
}

/**
 * Verifies the ledger against the given run logs and every other run log of this world
 * (they all wrote to the same ledger: all are needed to tell phantoms from earlier runs'
 * transfers), reading on the leader first; with auditCheck, every data region's audit bucket too.
 */
export async function verifyWorld(
  world: World,
  options: {auditCheck: boolean; leaderRegion: null | string; runLogs: string[]; signal?: AbortSignal},
): Promise<VerifyResult> {
  const [{verifyLedger}, {LedgerTarget}] = await Promise.all([
    import('../../ledger/verify/index.js'),
    import('../../world/ledger-target.js'),
  ])
  const urls = await leaderFirstUrls(world, options.leaderRegion, 'verify')
  const audit = options.auditCheck ? await LedgerTarget.ofWorld(world).auditBuckets() : undefined
  try {
    return await verifyLedger({
      db: urls,
      runLogs: options.runLogs,
      runsDir: world.runsDir(),
      audit: audit && {buckets: audit.buckets, replication: world.config.cloud.replication, timeoutMs: 10_000},
      signal: options.signal,
    })
  } finally {
    audit?.destroy()
  }
}

/**
 * The writes issued while a cut-off region still held the database leadership: from the
 * fault until a health sample saw another region lead (or the end of the fault), and
 * whether every acknowledged one is in the database now (looked up by id on the leader).
 * Undefined unless the round partitioned the leader's region and its ledger check ran.
 */
export async function isolatedLeaderWrites(
  world: World,
  record: RoundRecord,
  context: {
    checked: boolean
    cutOff: string[]
    holdUntil: number
    leaderAfter: null | string
    leaderBefore: null | string
    partitioned: boolean
    timeline: TimelinePoint[]
    workload: boolean
  },
): Promise<IsolatedLeaderWrites | null> {
  const region = context.leaderBefore
  const {faultAt} = record
  if (!context.partitioned || !context.workload || !faultAt || !region || !context.cutOff.includes(region)) return null
  if (!context.checked) return null
  try {
    const moved = context.timeline.find((p) => p.t > 0 && p.leaderRegion !== null && p.leaderRegion !== region)
    const from = faultAt.getTime()
    const until = moved ? new Date(moved.at).getTime() : context.holdUntil
    const issued = record.idOutcomes.filter((o) => o.at - o.latencyMs >= from && o.at - o.latencyMs < until)
    const acked = issued.filter((o) => acknowledged(o))
    const ids = [...new Set(acked.map((o) => o.id))]
    const present = await countPresent(world, ids, context.leaderAfter)
    const writes: IsolatedLeaderWrites = {
      region,
      leadershipLostSeconds: moved ? moved.t : null,
      attempted: issued.length,
      acknowledgedInWindow: acked.filter((o) => o.at < until).length,
      acknowledged: ids.length,
      unknown: issued.filter((o) => o.outcome === 'unknown').length,
      present,
      lost: ids.length - present,
    }
    record.note(
      `writes issued while the cut-off ${region} led: ${writes.attempted}, acknowledged ${writes.acknowledged} (${writes.acknowledgedInWindow} before another region led), present after the restore ${writes.present}, lost ${writes.lost}`,
    )
    return writes
  } catch (error) {
    record.failure = error as Error
    return null
  }
}

const acknowledged = (o: {outcome: string}) => o.outcome === 'applied' || o.outcome === 'already_applied'

/** Under a shared workload: the transfers acknowledged in the round's window, looked up by id in the ledger. */
async function acknowledgedPresent(
  world: World,
  outcomes: IdOutcome[],
  leaderAfter: null | string,
): Promise<RoundTransfers> {
  const ids = [...new Set(outcomes.filter((o) => acknowledged(o)).map((o) => o.id))]
  const present = await countPresent(world, ids, leaderAfter)
  return {acknowledged: ids.length, present, lost: ids.length - present}
}

/** How many of the transfer ids are stored (read on the leader). */
async function countPresent(world: World, ids: string[], leaderRegion: null | string): Promise<number> {
  if (ids.length === 0) return 0
  const {connectLedger} = await import('../../ledger/db.js')
  const sql = await connectLedger(await leaderFirstUrls(world, leaderRegion, 'verify'), {
    max: 1,
    applicationName: 'atlas-blast-radius',
  })
  try {
    let present = 0
    // a few thousand ids per statement; an array literal: the pool does not fetch types, so it cannot serialise a JS array (ids are UUIDs)
    for (let i = 0; i < ids.length; i += 5000) {
      const [row] = await sql.unsafe('SELECT count(*)::int AS n FROM transfers WHERE id = ANY($1::uuid[])', [
        `{${ids.slice(i, i + 5000).join(',')}}`,
      ])
      present += Number(row.n)
    }

    return present
  } finally {
    await sql.end({timeout: 5})
  }
}
