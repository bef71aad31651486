import {Flags} from '@oclif/core'

import type {DownResult} from '../lib/world/types.js'

import {AtlasCommand} from '../lib/command.js'
import {baseDirFlag, driverFlag, dryRunFlag, yesFlag} from '../lib/flags.js'

export default class Down extends AtlasCommand<typeof Down> {
  static description = `Stops PostgreSQL (through Patroni) first, then moto and etcd. With --purge, data directories, logs and generated credentials are removed; run reports under runs/ are kept.
--purge asks first on a terminal; elsewhere it needs --yes (exit 2 without it).`
  static examples = [
    '<%= config.bin %> down',
    '<%= config.bin %> down --purge',
    '<%= config.bin %> down --purge --yes --json',
  ]
  static flags = {
    driver: driverFlag,
    'dry-run': dryRunFlag,
    purge: Flags.boolean({
      summary: 'Also remove data directories, logs and generated credentials (keeps runs/).',
      default: false,
    }),
    'base-dir': baseDirFlag,
    yes: yesFlag,
  }
  static summary = 'Stop every process of the world (by PID) and free its ports; --purge also removes its data.'

  async run(): Promise<DownResult> {
    const config = await this.atlasConfig()
    const {createWorld} = await import('../lib/world/index.js')
    const world = await createWorld(config, {driver: this.flags.driver, baseDir: this.flags['base-dir']})
    if (this.flags.purge && !this.flags['dry-run']) {
      await this.confirm(
        `Remove the ledger data, logs and credentials of the ${world.driver} world (${world.runsDir().replace(/\/runs$/, '')})?`,
        this.flags.yes,
      )
    }

    const result = await world.down({
      dryRun: this.flags['dry-run'],
      purge: this.flags.purge,
      progress: await this.progress(),
    })
    await this.finishProgress()
    if (result.dryRun) {
      const {formatPlan} = await import('../lib/world/plan-format.js')
      this.print(`would run (${result.driver} world):`)
      this.print(formatPlan(result))
      return result
    }

    this.print(result.stopped.length > 0 ? `stopped: ${result.stopped.join(', ')}` : 'nothing was running')
    if (result.purged) this.print('data removed')
    return result
  }
}
