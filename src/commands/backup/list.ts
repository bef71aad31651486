import type {BackupListing} from '../../lib/backup/local.js'

import {AtlasCommand} from '../../lib/command.js'
import {baseDirFlag} from '../../lib/flags.js'

export default class BackupList extends AtlasCommand<typeof BackupList> {
  static description =
    "Reads the pgBackRest repository in the primary region's backup bucket (the world's S3 emulator must run). Point-in-time recovery reaches from the end of the oldest backup to the newest archived WAL segment."
  static examples = ['<%= config.bin %> backup list', '<%= config.bin %> backup list --json']
  static flags = {
    'base-dir': baseDirFlag,
  }
  static summary = "List the local world's backups and the archived WAL range."

  async run(): Promise<BackupListing> {
    const {localBackups} = await import('../../lib/backup/command-support.js')
    const backups = await localBackups(await this.atlasConfig(), {baseDir: this.flags['base-dir']})
    const listing = await backups.list()
    const lines = [
      `s3://${listing.bucket} stanza ${listing.stanza}: ${listing.backups.length} backup(s)${listing.archive ? `, WAL ${listing.archive.min}..${listing.archive.max}` : ', no WAL archived yet'}`,
    ]
    for (const b of listing.backups)
      lines.push(
        `  ${b.label}  ${b.type.padEnd(4)}  ${b.startedAt} .. ${b.stoppedAt}  ${(b.repositoryBytes / 1024 / 1024).toFixed(1)} MB`,
      )
    this.print(lines.join('\n'))
    return listing
  }
}
