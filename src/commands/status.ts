import {Flags} from '@oclif/core'

import type {WorldStatus} from '../lib/world/types.js'

import {AtlasCommand} from '../lib/command.js'
import {ExitCode} from '../lib/errors.js'
import {baseDirFlag, driverFlag, durationFlag} from '../lib/flags.js'
import {formatStatus, watchFooter} from '../lib/report/status.js'

export default class Status extends AtlasCommand<typeof Status> {
  static description =
    'Exits 3 when the world is not running or half-built (an interrupted `atlas up`; the JSON result is printed all the same, with complete: false).'
  static examples = ['<%= config.bin %> status', '<%= config.bin %> status --watch', '<%= config.bin %> status --json']
  static flags = {
    driver: driverFlag,
    watch: Flags.boolean({
      char: 'w',
      summary: 'Refresh until Ctrl-C (with --json: one JSON object per line).',
      default: false,
    }),
    interval: durationFlag({summary: 'Refresh interval for --watch.', default: '1s', range: {min: '100ms', max: '1h'}}),
    'base-dir': baseDirFlag,
  }
  static summary =
    'Show each region: members alive, Raft leader and term, database leader, sync standbys and lag, quorum.'

  async run(): Promise<WorldStatus> {
    const config = await this.atlasConfig()
    const {createWorld} = await import('../lib/world/index.js')
    const world = await createWorld(config, {driver: this.flags.driver, baseDir: this.flags['base-dir']})
    if (!this.flags.watch) {
      const status = await world.status()
      this.print(formatStatus(status))
      // scripts can branch on it: `atlas status --json || atlas up` (a half-built world needs `up` too)
      if (!status.up || status.complete === false) this.setExitCode(ExitCode.Precondition)
      return status
    }

    const {interval} = this.flags
    const signal = this.interruptSignal()
    const {holdWarnings} = await import('../lib/warnings.js')
    const {sleep} = await import('../lib/wait.js')
    const warnings = holdWarnings()
    let status: WorldStatus
    let takenAt: Date
    try {
      status = await world.status()
      takenAt = new Date()
      while (!signal.aborted) {
        if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(this.toSuccessJson(status))}\n`)
        else
          process.stdout.write(
            `${process.stdout.isTTY ? '\u001B[2J\u001B[H' : ''}${formatStatus(status)}\n${watchFooter(takenAt, interval)}\n${process.stdout.isTTY ? '' : '\n'}`,
          )
        // sleep() removes its abort listener when the time is up: one listener per refresh would pile up on the signal
        await sleep(interval, signal).catch(() => {})
        if (signal.aborted) break
        status = await world.status()
        takenAt = new Date()
      }
    } finally {
      warnings.release()
    }

    // --watch --json streamed its objects already; oclif would print the last one again
    if (this.jsonEnabled()) this.exit(0)
    return status
  }
}
