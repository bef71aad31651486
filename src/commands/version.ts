import {AtlasCommand} from '../lib/command.js'

export default class Version extends AtlasCommand<typeof Version> {
  static examples = ['<%= config.bin %> version', '<%= config.bin %> version --json']
  static summary = 'Print the version of atlas, Node.js and the platform.'

  async run(): Promise<{node: string; platform: string; version: string}> {
    const result = {
      version: this.config.version,
      node: process.versions.node,
      platform: `${process.platform}-${process.arch}`,
    }
    this.print(`${this.config.bin} ${result.version} (node ${result.node}, ${result.platform})`)
    return result
  }
}
