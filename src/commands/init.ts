import {Flags} from '@oclif/core'

import {AtlasCommand} from '../lib/command.js'
import {writeConfigTemplate} from '../lib/config/init.js'

export default class Init extends AtlasCommand<typeof Init> {
  static description =
    'Refuses to overwrite an existing file unless --force is given. The written file is validated before it is kept.'
  static examples = ['<%= config.bin %> init', '<%= config.bin %> init --config ./staging.yaml --force']
  static flags = {
    force: Flags.boolean({summary: 'Overwrite an existing file.', default: false}),
  }
  static summary = 'Write a commented atlas.yaml with the default three regions.'

  async run(): Promise<{overwritten: boolean; path: string}> {
    const result = await writeConfigTemplate(this.flags.config ?? 'atlas.yaml', {force: this.flags.force})
    this.print(`${result.overwritten ? 'Overwrote' : 'Wrote'} ${result.path}`)
    return result
  }
}
