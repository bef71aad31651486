// Writes oclif.manifest.json so `atlas --help` does not import every command module.
import {Config} from '@oclif/core'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const config = await Config.load({root})
const plugin = config.getPluginsList().find((p) => p.root === root)
const manifest = {version: config.version, commands: Object.fromEntries(plugin.commands.map((c) => [c.id, c]))}
writeFileSync(path.join(root, 'oclif.manifest.json'), JSON.stringify(manifest))
