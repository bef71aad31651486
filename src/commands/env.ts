import {Flags} from '@oclif/core'

import {AtlasCommand} from '../lib/command.js'
import {baseDirFlag} from '../lib/flags.js'

export default class Env extends AtlasCommand<typeof Env> {
  static description = `PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and the TLS settings (PGSSLMODE=verify-full, PGSSLROOTCERT, and for --role admin PGSSLCERT/PGSSLKEY) of one region's database node (default: the current leader), ATLAS_DATABASE_URL with every node, and the cloud endpoint with its emulator credentials. The role is the read-only one unless --role says otherwise.
The text output contains the password, for \`eval\`; --json masks it.`
  static examples = [
    'eval "$(<%= config.bin %> env)" && psql -c "select count(*) from transfers"',
    '<%= config.bin %> env --region eu',
  ]
  static flags = {
    region: Flags.string({
      char: 'r',
      summary: "The region whose database node PG* point at (default: the database leader's).",
    }),
    role: Flags.string({
      summary:
        'The database role: verify (read-only, default), ledger (transfers only) or admin (the superuser, for setup).',
      options: ['verify', 'ledger', 'admin'],
      default: 'verify',
    }),
    'base-dir': baseDirFlag,
  }
  static summary =
    "Print the connection settings of the world's ledger database and cloud endpoint, to eval in a shell."

  async run(): Promise<{env: Record<string, string>; region: string; role: string}> {
    const config = await this.atlasConfig()
    const {createWorld} = await import('../lib/world/index.js')
    const {connectionSettings, formatExports} = await import('../lib/world/access.js')
    const settings = await connectionSettings(
      await createWorld(config, {baseDir: this.flags['base-dir']}),
      this.flags.region,
      this.flags.role as 'admin' | 'ledger' | 'verify',
    )
    // the one place a secret is printed on purpose: the user asked for it, on stdout, to eval
    if (!this.jsonEnabled()) process.stdout.write(`${formatExports(settings.env)}\n`)
    return settings
  }
}
