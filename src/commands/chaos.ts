import {Flags} from '@oclif/core'

import type {CampaignResult} from '../lib/chaos/campaign/index.js'

import {AtlasCommand} from '../lib/command.js'
import {ExitCode} from '../lib/errors.js'
import {baseDirFlag, driverFlag, durationFlag} from '../lib/flags.js'
import {pipelineFlag} from '../lib/ledger/flags.js'

export default class Chaos extends AtlasCommand<typeof Chaos> {
  static description = `One transfer workload runs through the whole campaign: started before the first round, kept writing through every fault, restore and convergence, stopped after the last round; then the ledger is verified against its run log (<baseDir>/runs/<id>/transfers.log). Each round is a blast-radius round watching it (fault, RTO, restore, convergence, alerts, and a lookup of the transfers acknowledged in the round) in <baseDir>/runs/<id>-round-NN with its report and picture; the campaign's summary (rounds, acknowledged, lost, unknown, RTO min/median/p95/max, the verify) goes to <baseDir>/runs/<id>/report.json and report.md.
Fault kinds: kill, stop (the default), and partitions with nftables, as in blast-radius --mode partition (root only: without CAP_NET_ADMIN, exit 3 before the workload starts): partition (isolate: one whole region cut off from the others), partition-one-way-in (nothing reaches the region, it still sends), partition-one-way-out (its packets are dropped, it still receives), partition-bridge (a data region and the other data region cannot see each other, both still see the witness). Targets: regions (us), components (us:postgres), or etcd-leader: the etcd member leading the Raft group when the round runs (its region is in the round's result). One round in five, when the targets allow it, is a double fault that keeps quorum: two parts in two regions that leave an etcd majority and a data region able to lead (us's Patroni with eu's etcd member). With --force, one round in four may break the same part in two regions at once (quorum lost: writes stop until the restore, nothing acknowledged may be lost).
Exit 4 when any round found a violation or lost a transfer; 5 when a fault could not be undone (the campaign stops there).`
  static examples = [
    '<%= config.bin %> chaos --rounds 5 --seed 42',
    '<%= config.bin %> chaos --rounds 3 --seed nightly --faults stop --targets eu,witness:etcd --duration 8s --json',
    '<%= config.bin %> chaos --rounds 10 --seed 7 --force',
    '<%= config.bin %> chaos --rounds 4 --seed 1 --targets etcd-leader,eu',
    'sudo <%= config.bin %> chaos --rounds 6 --seed 3 --faults kill,stop,partition,partition-bridge,partition-one-way-in',
  ]
  static flags = {
    driver: driverFlag,
    rounds: Flags.integer({summary: 'How many rounds.', default: 5, min: 1, max: 1000}),
    seed: Flags.string({
      summary:
        "The schedule's seed (a number or any text); default: a random one, printed so the campaign can be run again.",
    }),
    faults: Flags.string({
      summary:
        'Fault kinds to draw from, comma-separated: kill, stop, partition, partition-one-way-in, partition-one-way-out, partition-bridge (partitions: root only).',
      multiple: true,
      default: ['kill', 'stop'],
    }),
    targets: Flags.string({
      summary:
        'What may be broken, comma-separated: a region (us), one of its components (us:etcd, us:patroni, us:postgres), or etcd-leader (found when each round runs). Default: every region, whole.',
      multiple: true,
    }),
    duration: durationFlag({summary: 'How long each fault holds.', default: '10s', range: {min: '1s', max: '1h'}}),
    force: Flags.boolean({
      summary: 'Also draw double faults that lose quorum (the ones that keep it are drawn without it).',
      default: false,
    }),
    concurrency: Flags.integer({summary: "Clients of the campaign's workload.", default: 4, min: 1}),
    pipeline: pipelineFlag,
    'base-dir': baseDirFlag,
  }
  static interruptAction = 'restoring the region before exit'
  static summary =
    'Run a campaign of blast-radius rounds drawn from a seed, under one workload: the same seed, the same rounds; one summary and one report.'

  async run(): Promise<CampaignResult> {
    const config = await this.atlasConfig()
    const {parseFaultKinds, parseTargets, planCampaign, runCampaign, seedValue, formatCampaignSummary, describeRound} =
      await import('../lib/chaos/campaign/index.js')
    const {randomInt} = await import('node:crypto')
    const seed = seedValue(this.flags.seed ?? randomInt(0, 2 ** 31))
    const plan = planCampaign({
      seed,
      rounds: this.flags.rounds,
      kinds: parseFaultKinds(this.flags.faults),
      targets: parseTargets(this.flags.targets ?? [], config.regions),
      regions: config.regions,
      force: this.flags.force,
    })
    this.note(`seed ${seed}: ${plan.map((r) => describeRound(r)).join(', ')}`)
    const signal = this.interruptSignal()
    const {createWorld} = await import('../lib/world/index.js')
    const world = await createWorld(config, {driver: this.flags.driver, baseDir: this.flags['base-dir']})
    const id = `chaos-${new Date().toISOString().replaceAll(/[:.]/g, '-')}`
    const result = await runCampaign(world, {
      id,
      seed,
      plan,
      durationMs: this.flags.duration,
      force: this.flags.force,
      concurrency: this.flags.concurrency,
      pipeline: this.flags.pipeline,
      progress: await this.progress(),
      signal,
    })
    await this.finishProgress()
    this.print(formatCampaignSummary(result))
    if (!result.verified && !result.interrupted) this.setExitCode(ExitCode.InvariantViolated)
    return result
  }
}
