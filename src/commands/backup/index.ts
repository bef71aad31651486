import {Flags} from '@oclif/core'

import type {BackupResult} from '../../lib/backup/local.js'

import {AtlasCommand} from '../../lib/command.js'
import {baseDirFlag, dryRunFlag} from '../../lib/flags.js'

export default class Backup extends AtlasCommand<typeof Backup> {
  static description = `Takes a backup of the current database leader (full by default) into s3://<prefix>-backup-<primary region> on the world's S3 emulator. WAL is archived continuously while the world runs, so \`atlas restore --to-time\` can recover any moment since the oldest backup.
Exit 3 when the world is not up or pgBackRest is missing.`
  static examples = [
    '<%= config.bin %> backup',
    '<%= config.bin %> backup --type incr --json',
    '<%= config.bin %> backup --dry-run',
  ]
  static flags = {
    type: Flags.option({
      options: ['full', 'diff', 'incr'] as const,
      summary: 'Backup type.',
      default: 'full' as const,
    })(),
    'dry-run': dryRunFlag,
    'base-dir': baseDirFlag,
  }
  static summary = "Back up the local world's ledger database with pgBackRest into the primary region's backup bucket."

  async run(): Promise<BackupResult> {
    const {localBackups} = await import('../../lib/backup/command-support.js')
    const backups = await localBackups(await this.atlasConfig(), {baseDir: this.flags['base-dir']})
    const {runStep} = await import('../../lib/progress.js')
    const title = this.flags['dry-run'] ? 'plan the backup' : `${this.flags.type} backup into s3://${backups.b.bucket}`
    const result = await runStep(
      await this.progress(),
      title,
      () => backups.backup({type: this.flags.type, dryRun: this.flags['dry-run']}),
      (r) => (r.backup ? `${r.backup.label} in ${r.durationSeconds.toFixed(1)} s` : undefined),
    )
    await this.finishProgress()
    if (result.dryRun) {
      this.print(result.plan!.map((c) => c.argv.join(' ')).join('\n'))
    } else if (result.backup) {
      const b = result.backup
      this.print(
        `backup ${b.label} (${b.type}) of region ${result.region}: ${mb(b.databaseBytes)} database, ${mb(b.repositoryBytes)} in s3://${result.bucket}, ${result.durationSeconds.toFixed(1)} s; WAL ${b.walStart}..${b.walStop}`,
      )
    }

    return result
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}
