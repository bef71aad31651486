import {Flags} from '@oclif/core'
import {AtlasCommand} from '../lib/command.js'
import {baseDirFlag, driverFlag, dryRunFlag} from '../lib/flags.js'
import type {DownResult} from '../lib/world/types.js'

export default class Down extends AtlasCommand<typeof Down> {
  static summary = 'Stop every process of the world (by PID) and free its ports; --purge also removes its data.'
  static description = 'Stops PostgreSQL (through Patroni) first, then moto and etcd. With --purge, data directories, logs and generated credentials are removed; run reports under runs/ are kept.'
  static examples = ['<%= config.bin %> down', '<%= config.bin %> down --purge --json']

  static flags = {
    driver: driverFlag,
    'dry-run': dryRunFlag,
    purge: Flags.boolean({summary: 'Also remove data directories, logs and generated credentials (keeps runs/).', default: false}),
    'base-dir': baseDirFlag,
  }

  async run(): Promise<DownResult> {
    const config = await this.atlasConfig()
    const {createWorld} = await import('../lib/world/index.js')
    const world = await createWorld(config, {driver: this.flags.driver, baseDir: this.flags['base-dir']})
    const result = await world.down({dryRun: this.flags['dry-run'], purge: this.flags.purge, progress: this.progress()})
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
