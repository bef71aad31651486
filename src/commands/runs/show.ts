import {Args} from '@oclif/core'

import type {RunSummary} from '../../lib/report/runs.js'

import {AtlasCommand} from '../../lib/command.js'
import {baseDirFlag, driverFlag} from '../../lib/flags.js'

export default class RunsShow extends AtlasCommand<typeof RunsShow> {
  static args = {
    id: Args.string({description: 'The run, as `atlas runs` names it.', required: true}),
  }
  static description =
    "ID is a name from `atlas runs` (or the run directory's path). An unknown ID exits 2. With --json: the run, and its report (without the timeline) when it has one."
  static examples = [
    '<%= config.bin %> runs show 2026-11-30T05-01-02-345Z',
    '<%= config.bin %> runs show fresh-blast --json',
  ]
  static flags = {
    driver: driverFlag,
    'base-dir': baseDirFlag,
  }
  static summary = 'Show one past run: its summary and the paths of report.md, report.json and the picture.'

  async run(): Promise<RunSummary & {report?: Record<string, unknown>}> {
    const {createWorld} = await import('../../lib/world/index.js')
    const world = await createWorld(await this.atlasConfig(), {
      driver: this.flags.driver,
      baseDir: this.flags['base-dir'],
    })
    const {findRun, formatRun} = await import('../../lib/report/runs.js')
    const run = await findRun(world.runsDir(), this.args.id)
    let report: Record<string, unknown> | undefined
    let summary: string | undefined
    if (run.files.reportJson) {
      const {readFile} = await import('node:fs/promises')
      const full = JSON.parse(await readFile(run.files.reportJson, 'utf8')) as Record<string, unknown>
      const {timeline: _timeline, outcomes: _outcomes, ...rest} = full
      report = rest
      if (run.kind === 'blast-radius') {
        const {formatBlastSummary} = await import('../../lib/report/blast.js')
        summary = formatBlastSummary(full as never)
      }
    }

    this.print(formatRun(run, summary))
    return {...run, ...(report ? {report} : {})}
  }
}
