import type {AtlasConfig} from '../lib/config/schema.js'

import {AtlasCommand} from '../lib/command.js'

export default class Config extends AtlasCommand<typeof Config> {
  static description =
    'Reads --config (or ./atlas.yaml, or the built-in defaults), validates it and prints the result as YAML, or JSON with --json. Exit code 2 on an invalid file.'
  static examples = ['<%= config.bin %> config', '<%= config.bin %> config --config ./atlas.yaml --json']
  static summary = 'Print the effective configuration (defaults applied, validated).'

  async run(): Promise<AtlasConfig> {
    const config = await this.atlasConfig()
    if (!this.jsonEnabled()) {
      const {stringify} = await import('yaml')
      const {source, ...rest} = config
      this.log(`# effective configuration from ${source ?? 'built-in defaults'}`)
      this.log(stringify(rest).trimEnd())
    }

    return config
  }
}
