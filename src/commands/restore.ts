import {Flags} from '@oclif/core'

import type {InPlaceResult} from '../lib/backup/in-place.js'
import type {K3dRestoreResult} from '../lib/backup/k3d.js'
import type {RestoreResult} from '../lib/backup/local.js'

import {AtlasCommand} from '../lib/command.js'
import {ExitCode, UsageError} from '../lib/errors.js'
import {baseDirFlag, driverFlag, dryRunFlag, yesFlag} from '../lib/flags.js'

export default class Restore extends AtlasCommand<typeof Restore> {
  static description = `Without --in-place, never touches the world: the copy gets its own directory (<baseDir>/restore/<time>) and a free port, with archiving off.
Which state: --backup ID restores that backup to its end; --to-time T replays archived WAL up to T (the newest backup before T is used unless --backup says otherwise); neither: the newest backup and every archived WAL segment.
With --verify the restored ledger is checked (conservation, replay, balances, duplicates; exit 4 on a violation) and its recovery point read (the newest transfer present). Reports the restore time (restore + WAL replay until promoted).
The copy is stopped and removed at the end unless --keep (a failed restore is kept for inspection).
--in-place (local world; asks first on a terminal, elsewhere needs --yes): the copy is made and verified as above, and only if it verifies it replaces the world's database: Patroni stopped, its cluster state cleared from etcd, every data directory moved aside (kept under <copy>/replaced/), the copy becomes the primary region's, \`up\` starts the world on it (the other regions clone it), the world's ledger is checked against the copy, and a full backup is taken. Every transfer committed after the recovery point is gone from the ledger afterwards (\`verify\` counts them as lost). A copy with violations is not applied (exit 4).
k3d world: CockroachDB's RESTORE DATABASE ledger FROM LATEST IN the backup collection its schedule writes (s3://<primary audit bucket>/cockroach-backups on LocalStack), WITH new_db_name = a scratch database beside the live one (--to-time: AS OF SYSTEM TIME; the schedule's backups have no revision_history, so only the newest backup's exact end time is accepted, which restores the same copy as no --to-time), run by root in a SQL Job; then verify of the copy as the read-only verify user (always: --verify is implied); then DROP of the copy (unless --keep, which keeps the scratch database). --dry-run prints that plan anywhere; a real run needs the running k3d world.`
  static examples = [
    '<%= config.bin %> restore --verify',
    '<%= config.bin %> restore --to-time 2026-11-30T02:30:00Z --verify --json',
    '<%= config.bin %> restore --backup 20261130-021623F --dry-run',
    '<%= config.bin %> restore --to-time 2026-11-30T02:30:00Z --in-place',
    '<%= config.bin %> restore --driver k3d --dry-run',
  ]
  static flags = {
    backup: Flags.string({summary: 'The backup label to restore (see `atlas backup list`).'}),
    'to-time': Flags.string({
      summary: 'Point-in-time target: ISO 8601 with a zone (2026-11-30T02:30:00Z), or seconds since the epoch.',
    }),
    verify: Flags.boolean({
      summary: 'Verify the restored ledger and report its recovery point (k3d: always verified).',
      default: false,
    }),
    keep: Flags.boolean({
      summary: 'Keep the restored copy (local: its directory after stopping it; k3d: the scratch database).',
      default: false,
    }),
    'in-place': Flags.boolean({
      summary:
        "Replace the local world's database with the verified copy (drops what was committed after the recovery point).",
      default: false,
    }),
    yes: yesFlag,
    'dry-run': dryRunFlag,
    driver: driverFlag,
    'base-dir': baseDirFlag,
  }
  static summary = 'Restore a backup into a scratch PostgreSQL beside the world, and verify the restored ledger.'

  async run(): Promise<InPlaceResult | K3dRestoreResult | RestoreResult> {
    const {localBackups, parseRecoveryTime} = await import('../lib/backup/command-support.js')
    const toTime = this.flags['to-time'] === undefined ? undefined : parseRecoveryTime(this.flags['to-time'])
    if (this.flags.backup !== undefined && !/^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$/.test(this.flags.backup)) {
      throw new UsageError(
        `invalid --backup "${this.flags.backup}": a pgBackRest label such as 20261130-021623F (see \`atlas backup list\`)`,
        {code: 'BACKUP_LABEL_INVALID'},
      )
    }

    if (this.flags['in-place'] && this.flags.keep) {
      throw new UsageError('--keep has no meaning with --in-place: the copy becomes the world', {
        code: 'IN_PLACE_KEEP',
      })
    }

    const config = await this.atlasConfig()
    const {createWorld} = await import('../lib/world/index.js')
    const world = await createWorld(config, {baseDir: this.flags['base-dir'], driver: this.flags.driver})
    if (world.driver === 'k3d') {
      if (this.flags['in-place']) {
        throw new UsageError(
          '--in-place restores over the local world only; the k3d world restores into a scratch database',
          {code: 'IN_PLACE_UNSUPPORTED'},
        )
      }

      return this.restoreK3d(world as import('../lib/world/k3d/index.js').K3dWorld, toTime)
    }

    if (this.flags['in-place'])
      return this.restoreInPlace(world as import('../lib/world/local/index.js').LocalWorld, toTime)
    const backups = await localBackups(config, {baseDir: this.flags['base-dir'], driver: 'local'})
    const {runStep} = await import('../lib/progress.js')
    const progress = await this.progress()
    const result = await runStep(
      progress,
      this.flags['dry-run'] ? 'plan the restore' : 'restore into a scratch PostgreSQL',
      () =>
        backups.restore({
          backup: this.flags.backup,
          toTime,
          verify: this.flags.verify,
          keep: this.flags.keep,
          dryRun: this.flags['dry-run'],
          signal: this.interruptSignal(),
          onProgress: (m) => progress.info(m),
        }),
      (r) => (r.dryRun ? undefined : `${r.restoreSeconds.toFixed(1)} s`),
    )
    await this.finishProgress()
    if (result.dryRun) {
      this.print(result.plan!.map((c) => c.argv.join(' ')).join('\n'))
      return result
    }

    const rp = result.recoveryPoint
    this.print(
      [
        `restored ${result.backup ?? '?'} to ${result.target} in ${result.restoreSeconds.toFixed(1)} s (scratch ${result.scratch.dir}, port ${result.scratch.port}${result.scratch.kept ? ', kept' : ', removed'})`,
        ...(rp
          ? [
              `recovery point: ${rp.transfers} transfers, newest ${rp.newestTransferId ?? '-'} at ${rp.newestTransferAt ?? '-'}`,
            ]
          : []),
        verdictLine(result),
      ].join('\n'),
    )
    if (result.verdict === 'violations') this.setExitCode(ExitCode.InvariantViolated)
    return result
  }

  private async restoreInPlace(
    world: import('../lib/world/local/index.js').LocalWorld,
    toTime: Date | undefined,
  ): Promise<InPlaceResult> {
    const target = toTime
      ? `the state at ${toTime.toISOString()}`
      : this.flags.backup
        ? `the end of backup ${this.flags.backup}`
        : 'the end of the archived WAL'
    if (!this.flags['dry-run']) {
      await this.confirm(
        `Replace the ledger database of the local world (${world.layout.baseDir}) with its backup restored to ${target}? Transfers committed after that are dropped from the ledger; the data directories from before are kept aside.`,
        this.flags.yes,
      )
    }

    const {restoreInPlace} = await import('../lib/backup/in-place.js')
    const {runStep} = await import('../lib/progress.js')
    const progress = await this.progress()
    const result = await runStep(
      progress,
      this.flags['dry-run'] ? 'plan the in-place restore' : 'restore, verify, and put the copy in place of the world',
      async () =>
        restoreInPlace(world, await world.backups(), {
          backup: this.flags.backup,
          toTime,
          dryRun: this.flags['dry-run'],
          signal: this.interruptSignal(),
          progress,
          onProgress: (m) => progress.info(m),
        }),
      (r) => (r.dryRun ? undefined : r.inPlace.applied ? `down ${r.inPlace.downSeconds!.toFixed(1)} s` : 'not applied'),
    )
    await this.finishProgress()
    if (result.dryRun) {
      this.print(
        [
          ...result.plan!.map((c) => c.argv.join(' ')),
          'then, only if the copy verifies:',
          ...result.inPlace.steps.map((s, i) => `  ${i + 1}. ${s}`),
        ].join('\n'),
      )
      return result
    }

    const rp = result.recoveryPoint
    const p = result.inPlace
    this.print(
      [
        `restored ${result.backup ?? '?'} to ${result.target} in ${result.restoreSeconds.toFixed(1)} s`,
        ...(rp
          ? [
              `recovery point: ${rp.transfers} transfers, newest ${rp.newestTransferId ?? '-'} at ${rp.newestTransferAt ?? '-'}`,
            ]
          : []),
        verdictLine(result),
        p.applied
          ? `in place: the world's ledger held ${p.transfersBefore ?? '?'} transfers, now ${p.transfersAfter}; leader ${p.leader ?? '?'}; database down ${p.downSeconds!.toFixed(1)} s; new full backup ${p.backupAfter ?? '?'}\ndata directories from before: ${Object.values(p.replaced ?? {}).join(', ')} (remove them when done)`
          : `not applied: the copy did not verify, the world was not touched (copy kept in ${result.scratch.dir})`,
      ].join('\n'),
    )
    if (result.verdict === 'violations') this.setExitCode(ExitCode.InvariantViolated)
    return result
  }

  private async restoreK3d(
    world: import('../lib/world/k3d/index.js').K3dWorld,
    toTime: Date | undefined,
  ): Promise<K3dRestoreResult> {
    if (this.flags.backup !== undefined) {
      throw new UsageError(
        '--backup names a pgBackRest backup of the local world; the k3d world restores the newest backup of its collection (FROM LATEST), or --to-time',
        {code: 'BACKUP_FLAG_UNSUPPORTED'},
      )
    }

    const {restoreK3d} = await import('../lib/backup/k3d.js')
    const {runStep} = await import('../lib/progress.js')
    const progress = await this.progress()
    const result = await runStep(
      progress,
      this.flags['dry-run'] ? 'plan the k3d restore' : 'restore into a scratch database of the k3d world',
      () =>
        restoreK3d(world, {
          toTime,
          keep: this.flags.keep,
          dryRun: this.flags['dry-run'],
          signal: this.interruptSignal(),
          progress,
          onProgress: (m) => progress.info(m),
        }),
      (r) => (r.dryRun ? undefined : `${r.restoreSeconds.toFixed(1)} s`),
    )
    await this.finishProgress()
    const {formatPlan} = await import('../lib/world/plan-format.js')
    const head = [
      `backup collection: ${result.collection}`,
      `restores: ${result.target}`,
      `into: ${result.scratchDatabase} (a scratch database; the live ledger database is never written)`,
    ]
    if (result.dryRun) {
      this.print([...head, formatPlan({steps: result.steps, planLegend: result.planLegend})].join('\n'))
      return result
    }

    this.print(
      [
        ...head,
        `restored in ${result.restoreSeconds.toFixed(1)} s; ${result.scratchDatabase} ${result.kept ? 'kept' : 'dropped'}`,
        verdictLine(result),
      ].join('\n'),
    )
    if (result.verdict === 'violations') this.setExitCode(ExitCode.InvariantViolated)
    return result
  }
}

/** "verdict: verified", or "verdict: violations (lost 2, phantom 1)" */
function verdictLine(result: {
  verdict: string
  verify?: {ok: boolean; violationCounts: Record<string, number>}
}): string {
  const counts =
    result.verify && !result.verify.ok
      ? Object.entries(result.verify.violationCounts).map(([kind, n]) => `${kind} ${n}`)
      : []
  return `verdict: ${result.verdict}${counts.length > 0 ? ` (${counts.join(', ')})` : ''}`
}
