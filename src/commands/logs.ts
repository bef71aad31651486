import {Args, Flags} from '@oclif/core'

import {AtlasCommand} from '../lib/command.js'
import {baseDirFlag} from '../lib/flags.js'

export default class Logs extends AtlasCommand<typeof Logs> {
  static args = {
    component: Args.string({description: 'etcd, patroni, moto, atlas, or one process (etcd-us, patroni-eu, …)'}),
  }
  static description =
    'Prints the last --lines lines of each log (all, or those of one component: etcd, patroni, moto, atlas, or one process like etcd-us, patroni-eu); --follow keeps printing as they grow, until Ctrl-C.'
  static enableJsonFlag = false
  static examples = [
    '<%= config.bin %> logs',
    '<%= config.bin %> logs patroni-us --follow',
    '<%= config.bin %> logs etcd -n 100',
  ]
  static flags = {
    follow: Flags.boolean({char: 'f', summary: 'Keep printing new lines until Ctrl-C.', default: false}),
    lines: Flags.integer({char: 'n', summary: 'Lines from the end of each log.', default: 20, min: 0}),
    'base-dir': baseDirFlag,
  }
  static summary = "Show the world's logs: etcd, Patroni/PostgreSQL, moto and atlas's own."

  async run(): Promise<void> {
    const config = await this.atlasConfig()
    const {createWorld} = await import('../lib/world/index.js')
    const {logFiles} = await import('../lib/world/access.js')
    const files = await logFiles(await createWorld(config, {baseDir: this.flags['base-dir']}), this.args.component)
    const {execa} = await import('execa')
    // tail names each file in a header when there are several; -F follows a log that is rotated or recreated
    const child = execa('tail', ['-n', String(this.flags.lines), ...(this.flags.follow ? ['-F'] : []), ...files], {
      stdio: ['ignore', 'inherit', 'inherit'],
      reject: false,
    })
    if (this.flags.follow) this.interruptSignal().addEventListener('abort', () => child.kill('SIGTERM'), {once: true})
    await child
  }
}
