import {Flags} from '@oclif/core'
import {AtlasCommand} from '../lib/command.js'
import {ExitCode} from '../lib/errors.js'
import {baseDirFlag, driverFlag, durationFlag} from '../lib/flags.js'
import type {CampaignResult} from '../lib/chaos/campaign.js'

export default class Chaos extends AtlasCommand<typeof Chaos> {
  static interruptAction = 'restoring the region before exit'
  static summary = 'Run a campaign of blast-radius rounds drawn from a seed: the same seed, the same rounds; one summary and one report.'
  static description = `Each round is a blast-radius round (workload, fault, RTO, restore, convergence, verify) in <baseDir>/runs/<id>-round-NN with its report and picture; the campaign's summary (rounds, acknowledged, lost, unknown, RTO min/median/p95/max) goes to <baseDir>/runs/<id>/report.json and report.md.
Fault kinds: kill, stop (the default), partition (cut one whole region off from the others with nftables, as in blast-radius --mode partition; needs root: without CAP_NET_ADMIN, exit 3 before any round starts). Targets: regions (us) or components (us:postgres). One round in five, when the targets allow it, is a double fault that keeps quorum: two parts in two regions that leave an etcd majority and a data region able to lead (us's Patroni with eu's etcd member). With --force, one round in four may break the same part in two regions at once (quorum lost: writes stop until the restore, nothing acknowledged may be lost).
Exit 4 when any round found a violation or lost a transfer; 5 when a fault could not be undone (the campaign stops there).`
  static examples = ['<%= config.bin %> chaos --rounds 5 --seed 42', '<%= config.bin %> chaos --rounds 3 --seed nightly --faults stop --targets eu,witness:etcd --duration 8s --json', '<%= config.bin %> chaos --rounds 10 --seed 7 --force', 'sudo <%= config.bin %> chaos --rounds 6 --seed 3 --faults kill,stop,partition']

  static flags = {
    driver: driverFlag,
    rounds: Flags.integer({summary: 'How many rounds.', default: 5, min: 1, max: 1000}),
    seed: Flags.string({summary: 'The schedule\'s seed (a number or any text); default: a random one, printed so the campaign can be run again.'}),
    faults: Flags.string({summary: 'Fault kinds to draw from, comma-separated: kill, stop, partition (root only).', multiple: true, default: ['kill', 'stop']}),
    targets: Flags.string({summary: 'What may be broken, comma-separated: a region (us) or one of its components (us:etcd, us:patroni, us:postgres). Default: every region, whole.', multiple: true}),
    duration: durationFlag({summary: 'How long each fault holds.', default: '10s', range: {min: '1s', max: '1h'}}),
    force: Flags.boolean({summary: 'Also draw double faults that lose quorum (the ones that keep it are drawn without it).', default: false}),
    concurrency: Flags.integer({summary: 'Workload clients per round.', default: 4, min: 1}),
    'base-dir': baseDirFlag,
  }

  async run(): Promise<CampaignResult> {
    const config = await this.atlasConfig()
    const {parseFaultKinds, parseTargets, planCampaign, runCampaign, seedValue, formatCampaignSummary, describeRound} = await import('../lib/chaos/campaign.js')
    const {randomInt} = await import('node:crypto')
    const seed = seedValue(this.flags.seed ?? randomInt(0, 2 ** 31))
    const plan = planCampaign({seed, rounds: this.flags.rounds, kinds: parseFaultKinds(this.flags.faults), targets: parseTargets(this.flags.targets ?? [], config.regions), regions: config.regions, force: this.flags.force})
    this.note(`seed ${seed}: ${plan.map((r) => describeRound(r)).join(', ')}`)
    const signal = this.interruptSignal()
    const {createWorld} = await import('../lib/world/index.js')
    const world = await createWorld(config, {driver: this.flags.driver, baseDir: this.flags['base-dir']})
    const id = `chaos-${new Date().toISOString().replace(/[:.]/g, '-')}`
    const result = await runCampaign(world, {id, seed, plan, durationMs: this.flags.duration, force: this.flags.force, concurrency: this.flags.concurrency, progress: await this.progress(), signal})
    await this.finishProgress()
    this.print(formatCampaignSummary(result))
    if (!result.verified && !result.interrupted) this.setExitCode(ExitCode.InvariantViolated)
    return result
  }
}
