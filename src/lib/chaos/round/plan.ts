import type {SurvivabilityAssessment} from '../../health/quorum.js'
import type {FaultComponent, PartitionKind, World} from '../../world/types.js'
import type {BlastOptions} from './options.js'

import {PreconditionError, UsageError} from '../../errors.js'
import {assessFaults} from '../../health/quorum.js'
import {poll} from '../../wait.js'

/** How long --component etcd-leader waits for an etcd election in progress (a few hundred ms on loopback) before refusing. */
const ETCD_ELECTION_GRACE_MS = 3000

/**
 * What a round breaks, decided before anything starts: the regions, the part of each, the
 * partition's shape and whether quorum survives it. A fault the world cannot do, or one that
 * loses quorum without --force, is refused here, before any workload runs.
 */
export class RoundPlan {
  readonly partition: PartitionKind | undefined
  survivability: SurvivabilityAssessment
  readonly targetsEtcdLeader: boolean

  private constructor(
    private readonly options: BlastOptions,
    private readonly worldRegions: World['regions'],
    public regions: string[],
  ) {
    this.targetsEtcdLeader = options.component === 'etcd-leader'
    this.partition = options.mode === 'partition' ? (options.partition ?? 'isolate') : undefined
    this.survivability = this.assess()
  }

  static async for(world: World, options: BlastOptions): Promise<RoundPlan> {
    const regions =
      options.component === 'etcd-leader' ? await etcdLeaderTarget(world, options) : [...new Set(options.regions)]
    const plan = new RoundPlan(options, world.regions, regions)
    if (!plan.survivability.survives && !options.force) {
      throw new PreconditionError(`refusing to break ${regions.join(' + ')}: ${plan.survivability.explanation}`, {
        code: 'FAULT_REFUSED',
        hint: 'pass --force to break it anyway (the ledger becomes unavailable until the regions are restored)',
        details: {...plan.survivability},
      })
    }

    if (options.partition && options.mode !== 'partition') {
      throw new UsageError(`--partition ${options.partition} goes with --mode partition`, {
        code: 'PARTITION_UNSUPPORTED',
      })
    }

    // an unsupported fault (a mode or component this world cannot do) fails here, before any workload starts
    for (const region of regions)
      await world.injectFault(region, options.mode, {
        dryRun: true,
        component: plan.componentOf(region),
        partition: plan.partition,
      })
    return plan
  }

  /** the part of the first region broken: what the report calls the round's component */
  get component(): FaultComponent {
    return this.componentOf(this.regions[0])
  }

  /** per region, when the regions lose different parts (a double fault); else undefined */
  get components(): Record<string, FaultComponent> | undefined {
    return this.uniform ? undefined : Object.fromEntries(this.regions.map((r) => [r, this.componentOf(r)]))
  }

  private get uniform(): boolean {
    return this.regions.every((r) => this.componentOf(r) === this.component)
  }

  /** the parts broken, in words: "us", "the patroni of us", "the patroni of us + the etcd of eu" */
  get what(): string {
    const {component} = this
    return this.uniform
      ? `${component === 'region' ? '' : `the ${component} of `}${this.regions.join(' + ')}`
      : this.regions
          .map((r) => (this.componentOf(r) === 'region' ? r : `the ${this.componentOf(r)} of ${r}`))
          .join(' + ')
  }

  componentOf(region: string): FaultComponent {
    const {options} = this
    return (
      options.components?.[region] ?? (options.component === 'etcd-leader' ? 'etcd' : options.component) ?? 'region'
    )
  }

  /**
   * --component etcd-leader: the leader may have moved since the plan was made (before the
   * workload started). Returns the region it moved from, after retargeting, or undefined.
   */
  async followEtcdLeader(world: World): Promise<string | undefined> {
    if (!this.targetsEtcdLeader) return undefined
    const now = (await world.health()).groups.find((g) => g.group === 'etcd')?.leaderRegion
    if (!now || now === this.regions[0]) return undefined
    const from = this.regions[0]
    this.regions = [now]
    this.survivability = this.assess()
    return from
  }

  private assess(): SurvivabilityAssessment {
    // a bridge cuts data regions from each other only: every one still sees the witness, so quorum holds
    return assessFaults(
      this.worldRegions,
      this.options.mode === 'partition' && this.partition === 'bridge'
        ? []
        : this.regions.map((region) => ({
            region,
            component: this.options.mode === 'partition' ? 'region' : this.componentOf(region),
          })),
    )
  }
}

/**
 * --component etcd-leader: the region whose etcd member leads the Raft group, read before
 * the workload starts (and again at fault time). --region is optional; given, it must be the
 * leader's region now. No etcd group (the k3d world) or no leader: exit 3 before anything starts.
 */
async function etcdLeaderTarget(world: World, options: BlastOptions): Promise<string[]> {
  const regions = [...new Set(options.regions)]
  if (options.mode === 'partition')
    throw new UsageError('--component etcd-leader goes with --mode kill or stop, not partition', {
      code: 'PARTITION_UNSUPPORTED',
    })
  if (regions.length > 1)
    throw new UsageError(
      `--component etcd-leader breaks one etcd member: give at most one --region (got ${regions.join(', ')})`,
    )
  const etcdGroup = async () => (await world.health()).groups.find((g) => g.group === 'etcd')
  let etcd = await etcdGroup()
  // an election in progress (a member restarted moments ago) has no leader for a moment: wait it out
  if (etcd && !etcd.leaderRegion)
    etcd =
      (await poll(
        async () => {
          const group = await etcdGroup()
          return group?.leaderRegion ? group : undefined
        },
        {intervalMs: 250, timeoutMs: ETCD_ELECTION_GRACE_MS, signal: options.signal},
      )) ?? etcd
  if (!etcd)
    throw new PreconditionError(
      `the ${world.driver} world has no etcd group: --component etcd-leader is for the local world`,
      {code: 'ETCD_LEADER_UNKNOWN'},
    )
  if (!etcd.leaderRegion)
    throw new PreconditionError(
      `no etcd member has led for ${ETCD_ELECTION_GRACE_MS / 1000} s: there is no etcd leader to break`,
      {
        code: 'ETCD_LEADER_UNKNOWN',
        hint: 'atlas status (is the world up and converged?)',
      },
    )
  if (regions.length === 1 && regions[0] !== etcd.leaderRegion) {
    throw new PreconditionError(`--region ${regions[0]} does not hold the etcd leader: ${etcd.leaderRegion} does`, {
      code: 'ETCD_LEADER_ELSEWHERE',
      hint: `drop --region (the fault follows the leader), or pass --region ${etcd.leaderRegion}`,
    })
  }

  return [etcd.leaderRegion]
}
