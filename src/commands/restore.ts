import {Flags} from '@oclif/core'
import {AtlasCommand} from '../lib/command.js'
import {ExitCode, UsageError} from '../lib/errors.js'
import {baseDirFlag, dryRunFlag} from '../lib/flags.js'
import type {RestoreResult} from '../lib/backup/local.js'

export default class Restore extends AtlasCommand<typeof Restore> {
  static summary = 'Restore a backup into a scratch PostgreSQL beside the world, and verify the restored ledger.'
  static description = `Never touches the world: the copy gets its own directory (<baseDir>/restore/<time>) and a free port, with archiving off.
Which state: --backup ID restores that backup to its end; --to-time T replays archived WAL up to T (the newest backup before T is used unless --backup says otherwise); neither: the newest backup and every archived WAL segment.
With --verify the restored ledger is checked (conservation, replay, balances, duplicates; exit 4 on a violation) and its recovery point read (the newest transfer present). Reports the restore time (restore + WAL replay until promoted).
The copy is stopped and removed at the end unless --keep (a failed restore is kept for inspection).`
  static examples = [
    '<%= config.bin %> restore --verify',
    '<%= config.bin %> restore --to-time 2026-11-30T02:30:00Z --verify --json',
    '<%= config.bin %> restore --backup 20261130-021623F --dry-run',
  ]

  static flags = {
    backup: Flags.string({summary: 'The backup label to restore (see `atlas backup list`).'}),
    'to-time': Flags.string({summary: 'Point-in-time target: ISO 8601 with a zone (2026-11-30T02:30:00Z), or seconds since the epoch.'}),
    verify: Flags.boolean({summary: 'Verify the restored ledger and report its recovery point.', default: false}),
    keep: Flags.boolean({summary: 'Keep the restored copy\'s directory after stopping it.', default: false}),
    'dry-run': dryRunFlag,
    'base-dir': baseDirFlag,
  }

  async run(): Promise<RestoreResult> {
    const {localBackups, parseRecoveryTime} = await import('../lib/backup/command-support.js')
    const toTime = this.flags['to-time'] === undefined ? undefined : parseRecoveryTime(this.flags['to-time'])
    if (this.flags.backup !== undefined && !/^\d{8}-\d{6}F(_\d{8}-\d{6}[DI])?$/.test(this.flags.backup)) {
      throw new UsageError(`invalid --backup "${this.flags.backup}": a pgBackRest label such as 20261130-021623F (see \`atlas backup list\`)`, {code: 'BACKUP_LABEL_INVALID'})
    }
    const backups = await localBackups(await this.atlasConfig(), {baseDir: this.flags['base-dir']})
    const progress = await this.progress()
    const done = progress.step(this.flags['dry-run'] ? 'plan the restore' : 'restore into a scratch PostgreSQL')
    let result: RestoreResult
    try {
      result = await backups.restore({backup: this.flags.backup, toTime, verify: this.flags.verify, keep: this.flags.keep, dryRun: this.flags['dry-run'], signal: this.interruptSignal(), onProgress: (m) => progress.info(m)})
      done({note: result.dryRun ? undefined : `${result.restoreSeconds.toFixed(1)} s`})
    } catch (error) {
      done({error: error as Error})
      throw error
    }
    await this.finishProgress()
    if (result.dryRun) {
      this.print(result.plan!.map((c) => c.argv.join(' ')).join('\n'))
      return result
    }
    const rp = result.recoveryPoint
    this.print([
      `restored ${result.backup ?? '?'} to ${result.target} in ${result.restoreSeconds.toFixed(1)} s (scratch ${result.scratch.dir}, port ${result.scratch.port}${result.scratch.kept ? ', kept' : ', removed'})`,
      ...(rp ? [`recovery point: ${rp.transfers} transfers, newest ${rp.newestTransferId ?? '-'} at ${rp.newestTransferAt ?? '-'}`] : []),
      `verdict: ${result.verdict}${result.verify && !result.verify.ok ? ` (${Object.entries(result.verify.violationCounts).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`,
    ].join('\n'))
    if (result.verdict === 'violations') this.setExitCode(ExitCode.InvariantViolated)
    return result
  }
}
