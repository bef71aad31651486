import {Args, Flags} from '@oclif/core'

import {AtlasCommand} from '../lib/command.js'
import {baseDirFlag} from '../lib/flags.js'

export default class Psql extends AtlasCommand<typeof Psql> {
  static args = {psqlArgs: Args.string({description: 'arguments for psql (after --)'})}
  static description =
    "Runs psql with the settings `atlas env` prints; arguments after -- go to psql. Exits with psql's exit code."
  static enableJsonFlag = false
  static examples = [
    '<%= config.bin %> psql',
    '<%= config.bin %> psql --region eu',
    '<%= config.bin %> psql -- -c "select count(*) from transfers"',
  ]
  static flags = {
    region: Flags.string({char: 'r', summary: "The region's database node (default: the database leader's)."}),
    role: Flags.string({
      summary:
        'The database role: verify (read-only, default), ledger (transfers only) or admin (the superuser, for setup).',
      options: ['verify', 'ledger', 'admin'],
      default: 'verify',
    }),
    'base-dir': baseDirFlag,
  }
  static strict = false
  static summary = "Open psql on the world's ledger database (default: the current leader)."

  async run(): Promise<void> {
    const config = await this.atlasConfig()
    const {createWorld} = await import('../lib/world/index.js')
    const {connectionSettings} = await import('../lib/world/access.js')
    const {findExecutable} = await import('../lib/tools/discovery.js')
    const {MissingToolError} = await import('../lib/errors.js')
    const settings = await connectionSettings(
      await createWorld(config, {baseDir: this.flags['base-dir']}),
      this.flags.region,
      this.flags.role as 'admin' | 'ledger' | 'verify',
    )
    const psql = await findExecutable('psql')
    if (!psql) throw new MissingToolError('psql', 'apt-get install -y postgresql-client')
    this.note(
      `psql: region ${settings.region}, ${settings.env.PGHOST}:${settings.env.PGPORT}, as ${settings.env.PGUSER}`,
    )
    const {execa} = await import('execa')
    const psqlArgs = this.argv.includes('--') ? this.argv.slice(this.argv.indexOf('--') + 1) : []
    const result = await execa(psql, psqlArgs, {stdio: 'inherit', env: settings.env, reject: false})
    process.exitCode = result.exitCode ?? 1
  }
}
