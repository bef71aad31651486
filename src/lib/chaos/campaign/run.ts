import {mkdir} from 'node:fs/promises'
import path from 'node:path'

import type {ClusterHealth} from '../../health/model.js'
import type {VerifyResult} from '../../ledger/verify/index.js'
import type {WorkloadResult} from '../../ledger/workload/index.js'
import type {FaultComponent, FaultMode, PartitionKind, ProgressReporter, World} from '../../world/types.js'
import type {BlastResult} from '../types.js'
import type {CampaignResult, CampaignRoundResult} from './report.js'

import {PreconditionError} from '../../errors.js'
import {runStep, silentProgress} from '../../progress.js'
import {blastRadius, CHECK_CONVERGED, convergedWorld} from '../blast.js'
import {verifyWorld} from '../round/checks.js'
import {type ChaosWorkload, startChaosWorkload} from '../workload.js'
import {type CampaignRound, describeRound, ETCD_LEADER} from './plan.js'
import {campaignResult, writeCampaignReport} from './report.js'

export interface CampaignOptions {
  concurrency?: number
  durationMs: number
  force?: boolean
  id: string
  /** the workload's transfers in flight per connection */
  pipeline?: number
  plan: CampaignRound[]
  progress?: ProgressReporter
  seed: number
  signal?: AbortSignal
}

/** What the rounds left: each one's figures and report, and whether the campaign was cut short (Ctrl-C) or failed. */
export interface RoundsRun {
  failure?: unknown
  interrupted: boolean
  reports: BlastResult[]
  results: CampaignRoundResult[]
}

/**
 * Runs the rounds one after the other under one transfer workload (its run log in
 * <runsDir>/<id>): started once the world is up and converged, kept running through every
 * round's fault, restore and convergence, stopped after the last round; then the ledger is
 * verified against that run log. Each round is a blast-radius round watching the workload
 * (its own RTO, fault window, alerts, picture and report in <runsDir>/<id>-round-NN, so
 * `atlas runs` finds them, and a lookup of the transfers acknowledged in it); then one
 * summary in <runsDir>/<id>. Stops at the first round that throws (a failed restore),
 * after writing what it has.
 */
export async function runCampaign(world: World, options: CampaignOptions): Promise<CampaignResult> {
  const progress = options.progress ?? silentProgress
  const dir = path.join(world.runsDir(), options.id)
  await checkFaults(world, options.plan)
  const before = await runStep(
    progress,
    CHECK_CONVERGED,
    () => baseline(world, options, dir),
    (health) => `database leader ${health.leaderRegion}`,
  )
  const workload = await runStep(
    progress,
    'start the transfer workload, for every round',
    () =>
      startChaosWorkload(world, {
        runDir: dir,
        concurrency: options.concurrency ?? 4,
        pipeline: options.pipeline,
        leaderRegion: before.leaderRegion,
        progress,
      }),
    (w) => `run log ${w.handle.runLog}`,
  )

  const rounds = await runRounds(world, options, workload, progress)
  const workloadResult = await stopWorkload(workload, rounds, progress)
  const verify = await verifyRunLog(
    world,
    options,
    rounds,
    {dir, leaderRegion: rounds.reports.at(-1)?.leaderAfterRestore ?? before.leaderRegion},
    progress,
  )
  const result = campaignResult(options, {dir, rounds, verify, workload, workloadResult})
  await writeCampaignReport(result, rounds.reports, world.regions)
  if (rounds.failure) throw rounds.failure
  return result
}

/**
 * A kind the world cannot do fails before the workload starts (a partition without
 * CAP_NET_ADMIN: exit 3 here); each distinct fault once, the etcd leader's in every region.
 */
async function checkFaults(world: World, plan: CampaignRound[]): Promise<void> {
  const checks = new Map<
    string,
    {component: FaultComponent; mode: FaultMode; partition?: PartitionKind; region: string}
  >()
  for (const round of plan) {
    for (const t of round.targets) {
      const component = t.component === ETCD_LEADER ? 'etcd' : t.component
      for (const region of t.region === null ? world.regions.map((r) => r.name) : [t.region])
        checks.set(`${region} ${round.mode} ${component} ${round.partition}`, {
          region,
          mode: round.mode,
          component,
          partition: round.partition,
        })
    }
  }

  for (const c of checks.values())
    await world.injectFault(c.region, c.mode, {dryRun: true, component: c.component, partition: c.partition})
}

/** The world up and converged (with an etcd group when a round targets its leader), and the campaign's directory made. */
async function baseline(world: World, options: CampaignOptions, dir: string): Promise<ClusterHealth> {
  const health = await convergedWorld(world, options.signal)
  if (
    options.plan.some((r) => r.targets.some((t) => t.component === ETCD_LEADER)) &&
    !health.groups.some((g) => g.group === 'etcd')
  ) {
    throw new PreconditionError(
      `the ${world.driver} world has no etcd group: --targets ${ETCD_LEADER} is for the local world`,
      {code: 'ETCD_LEADER_UNKNOWN'},
    )
  }

  await mkdir(dir, {recursive: true})
  return health
}

/** Every planned round in order, each a blast-radius round watching the shared workload; stops at Ctrl-C or the first round that throws. */
async function runRounds(
  world: World,
  options: CampaignOptions,
  workload: ChaosWorkload,
  progress: ProgressReporter,
): Promise<RoundsRun> {
  const {signal} = options
  const run: RoundsRun = {interrupted: false, reports: [], results: []}
  for (const round of options.plan) {
    if (signal?.aborted) {
      run.interrupted = true
      break
    }

    progress.info(`round ${round.index}/${options.plan.length}: ${describeRound(round)}`)
    const runDir = path.join(world.runsDir(), `${options.id}-round-${String(round.index).padStart(2, '0')}`)
    let r: BlastResult
    try {
      const leader = round.targets.length === 1 && round.targets[0].component === ETCD_LEADER
      // a double fault may break a different part in each region; the etcd leader is found by the round
      r = await blastRadius(world, {
        ...(leader
          ? {regions: [], component: ETCD_LEADER}
          : {
              regions: round.targets.map((t) => t.region!),
              components: Object.fromEntries(round.targets.map((t) => [t.region!, t.component as FaultComponent])),
            }),
        mode: round.mode,
        partition: round.partition,
        durationMs: options.durationMs,
        force: options.force,
        runDir,
        progress,
        signal,
        sharedWorkload: workload,
        upload: false,
      })
    } catch (error) {
      if (signal?.aborted) run.interrupted = true
      else run.failure = error
      break
    }

    run.reports.push(r)
    run.results.push({
      index: round.index,
      kind: round.kind,
      targets: round.targets,
      resolvedTargets: r.regions.map((region) => ({region, component: r.components?.[region] ?? r.component})),
      keepsQuorum: round.keepsQuorum,
      runDir,
      faultInjectedAt: r.faultInjectedAt,
      verified: r.verified,
      rtoSeconds: r.rtoSeconds,
      acknowledged: r.acknowledged,
      acknowledgedDuringFault: r.acknowledgedDuringFault ?? 0,
      unknown: r.unknown,
      lost: r.lost,
      violations: r.violations,
      failover: r.failover,
      ...(r.alerts ? {alerts: r.alerts} : {}),
    })
    if (r.interrupted) {
      run.interrupted = true
      break
    }
  }

  return run
}

/** Stops the shared workload after the last round (whatever happened in them); a failure to stop is the campaign's failure. */
async function stopWorkload(
  workload: ChaosWorkload,
  rounds: RoundsRun,
  progress: ProgressReporter,
): Promise<undefined | WorkloadResult> {
  const done = progress.step('stop the workload (after the last round)')
  try {
    const result = await workload.stop()
    done({
      note: `${result.stats.acknowledged} acknowledged, ${result.stats.unknown} unknown outcome (${result.stats.unknownResolved} settled since)`,
    })
    return result
  } catch (error) {
    rounds.failure ??= error
    done({error: error as Error})
    return undefined
  }
}

/** The ledger verified against the campaign's one run log, once its workload stopped (skipped when the campaign was cut short). */
async function verifyRunLog(
  world: World,
  options: CampaignOptions,
  rounds: RoundsRun,
  context: {dir: string; leaderRegion: null | string},
  progress: ProgressReporter,
): Promise<undefined | VerifyResult> {
  if (rounds.interrupted || rounds.failure) return undefined
  const {signal} = options
  const done = progress.step(
    "verify the ledger against the campaign's run log (conservation, replay, durability, phantoms)",
  )
  try {
    const verify = await verifyWorld(world, {
      runLogs: [context.dir],
      leaderRegion: context.leaderRegion,
      auditCheck: false,
      signal,
    })
    done({note: verify.ok ? 'all invariants hold' : `${verify.violations.length} violation(s)`})
    return verify
  } catch (error) {
    if (signal?.aborted) rounds.interrupted = true
    else rounds.failure = error
    done({error: error as Error})
    return undefined
  }
}
