import {Flags} from '@oclif/core'

import type {BlastResult} from '../lib/chaos/blast.js'

import {AtlasCommand} from '../lib/command.js'
import {ExitCode, UsageError} from '../lib/errors.js'
import {baseDirFlag, driverFlag, durationFlag} from '../lib/flags.js'
import {pipelineFlag} from '../lib/ledger/flags.js'
import {FAULT_MODES, PARTITION_KINDS, TARGET_COMPONENTS} from '../lib/world/types.js'

export default class BlastRadius extends AtlasCommand<typeof BlastRadius> {
  static description = `Steps: survivability pre-check (a fault that would lose quorum is refused, exit 3, unless --force) -> workload -> fault -> health timeline (~250 ms) -> RTO (fault to first acknowledged write) -> restore -> convergence -> verify -> report (JSON + Markdown in the run directory, uploaded to the primary's audit bucket).
Modes: kill (SIGKILL the region's process groups: etcd member, Patroni, PostgreSQL; restarted with the same configuration), stop (SIGSTOP, then SIGCONT), partition (cut the network between regions; --partition says how).
Partitions in the local world: nftables rules in a table of atlas's own (atlas-<basePort>-<region>), matching this world's region addresses, port block and cgroups only; removed on restore, on Ctrl-C, and by \`atlas down\` / \`atlas up\` after a crash. Needs root (CAP_NET_ADMIN), nft and cgroup v2: without them exit 3 before anything starts. The workload and verify run outside every region and reach both sides, so writes issued to a cut-off leader are counted in the report with what became of them.
--backup-check (local world): after the round, the last backup and the WAL archived after it are restored into a scratch PostgreSQL beside the world and verified, as \`atlas restore --verify\`; backup id, restore time, recovery point and verdict go into the report. A world with no backup yet gets a full one before the round (the report says so). Refused in the k3d world before anything starts.
Ctrl-C restores the region before exiting (exit 130). Exit 4: verify (or the backup check) found a violation, or the backup check's restore failed; 5: the region could not be restored (the message says what is left broken).`
  static examples = [
    '<%= config.bin %> blast-radius --region us',
    '<%= config.bin %> blast-radius --region eu --mode stop --duration 20s --json',
    '<%= config.bin %> blast-radius --region us --region witness --force',
    '<%= config.bin %> blast-radius --region us --component postgres --mode stop --duration 30s',
    '<%= config.bin %> blast-radius --region us --backup-check',
    'sudo <%= config.bin %> blast-radius --region us --mode partition --duration 20s',
    'sudo <%= config.bin %> blast-radius --region eu --mode partition --partition one-way-in',
    'sudo <%= config.bin %> blast-radius --region us --mode partition --partition bridge',
  ]
  static flags = {
    driver: driverFlag,
    region: Flags.string({
      char: 'r',
      summary:
        "Region to break; repeat to break several together. With --component etcd-leader: optional (the leader's region; given, it must hold the leader).",
      multiple: true,
    }),
    mode: Flags.option({
      options: FAULT_MODES,
      summary: 'kill: SIGKILL and restart; stop: SIGSTOP and SIGCONT; partition: cut the network (see --partition).',
      default: 'kill' as const,
    })(),
    partition: Flags.option({
      options: PARTITION_KINDS,
      summary:
        'With --mode partition: isolate (default: the region and the others cannot reach each other), one-way-in (nothing reaches the region, it still sends), one-way-out (its packets are dropped, it still receives), bridge (it and the other data region cannot see each other, both still see the witness). k3d: isolate only.',
    })(),
    component: Flags.option({
      options: TARGET_COMPONENTS,
      summary:
        'What to break: the whole region, or one of its components (local world: its etcd member, its Patroni alone, its PostgreSQL alone, or etcd-leader: the etcd member leading at fault time, wherever it is).',
      default: 'region' as const,
    })(),
    duration: durationFlag({
      summary: 'How long the region stays broken.',
      default: '30s',
      range: {min: '1s', max: '24h'},
    }),
    workload: Flags.boolean({
      summary: 'Run the transfer workload during the fault (--no-workload to only break and restore).',
      default: true,
      allowNo: true,
    }),
    force: Flags.boolean({summary: 'Break it even if quorum would be lost.', default: false}),
    'run-dir': Flags.string({summary: 'Where the run log and the report go (default: <baseDir>/runs/<timestamp>).'}),
    audit: Flags.boolean({
      summary: 'Also verify the S3 audit records and their replicated copies (as `atlas verify --audit`).',
      default: false,
    }),
    'backup-check': Flags.boolean({
      summary:
        'After the round, restore the last backup into a scratch PostgreSQL and verify it (local world; takes a full backup first when there is none).',
      default: false,
    }),
    concurrency: Flags.integer({summary: 'Workload clients.', default: 4, min: 1}),
    pipeline: pipelineFlag,
    'base-dir': baseDirFlag,
  }
  static interruptAction = 'restoring the region before exit'
  static summary =
    'Break a region on purpose under a transfer workload, measure recovery, restore it and verify no money was lost or created.'

  async run(): Promise<Omit<BlastResult, 'timeline'> & {timeline?: BlastResult['timeline']}> {
    const config = await this.atlasConfig()
    const {findRegion} = await import('../lib/config/regions.js')
    const regions = (this.flags.region ?? []).map((name) => findRegion(config, name).name)
    if (regions.length === 0 && this.flags.component !== 'etcd-leader')
      throw new UsageError('--region is required (it is optional only with --component etcd-leader)', {
        hint: 'blast-radius --region us',
      })
    const durationMs = this.flags.duration
    const signal = this.interruptSignal()
    const {createWorld} = await import('../lib/world/index.js')
    const world = await createWorld(config, {driver: this.flags.driver, baseDir: this.flags['base-dir']})
    const progress = await this.progress()
    const {prepareBackupCheck, backupCheckFailed} = await import('../lib/backup/check.js')
    // before anything of the round starts: refused in the k3d world, a backup taken when there is none
    const backupCheck = this.flags['backup-check']
      ? await prepareBackupCheck(world, {regions, force: this.flags.force, progress})
      : undefined
    const {blastRadius} = await import('../lib/chaos/blast.js')
    const {formatBlastSummary} = await import('../lib/report/blast.js')
    const result = await blastRadius(world, {
      regions,
      mode: this.flags.mode,
      component: this.flags.component,
      partition: this.flags.partition,
      durationMs,
      workload: this.flags.workload,
      force: this.flags.force,
      runDir: this.flags['run-dir'],
      signal,
      progress,
      workloadConcurrency: this.flags.concurrency,
      workloadPipeline: this.flags.pipeline,
      auditCheck: this.flags.audit,
      backupCheck,
    })
    await this.finishProgress()
    this.print(formatBlastSummary(result))
    if (!result.verified || backupCheckFailed(result)) this.setExitCode(ExitCode.InvariantViolated)
    // the timeline is in report.json; --json keeps the result readable
    const {timeline: _timeline, ...summary} = result
    return summary
  }
}
