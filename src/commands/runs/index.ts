import type {RunSummary} from '../../lib/report/runs.js'

import {AtlasCommand} from '../../lib/command.js'
import {baseDirFlag, driverFlag} from '../../lib/flags.js'

export default class Runs extends AtlasCommand<typeof Runs> {
  static description = `Reads the world's runs directory (<baseDir>/runs, and run directories recorded in its index); nothing is changed and the world need not be up. \`atlas runs show ID\` prints one run with the paths of its report and picture.`
  static examples = [
    '<%= config.bin %> runs',
    '<%= config.bin %> runs --json',
    '<%= config.bin %> runs show 2026-11-30T05-01-02-345Z',
  ]
  static flags = {
    driver: driverFlag,
    'base-dir': baseDirFlag,
  }
  static summary = 'List past runs (blast-radius rounds, workloads): id, kind, start, verdict, RTO, lost.'

  async run(): Promise<{runs: RunSummary[]; runsDir: string}> {
    const {createWorld} = await import('../../lib/world/index.js')
    const world = await createWorld(await this.atlasConfig(), {
      driver: this.flags.driver,
      baseDir: this.flags['base-dir'],
    })
    const {formatRuns, listRuns} = await import('../../lib/report/runs.js')
    const runsDir = world.runsDir()
    const runs = await listRuns(runsDir)
    this.print(formatRuns(runs, runsDir))
    return {runsDir, runs}
  }
}
