// Writes oclif.manifest.json so `atlas --help` does not import every command module.
// The old manifest is removed first: oclif would otherwise read the commands from it.
import {Config} from '@oclif/core'
import {rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const file = path.join(root, 'oclif.manifest.json')
rmSync(file, {force: true})
const config = await Config.load({root})
const plugin = config.getPluginsList().find((p) => p.root === root)
const manifest = {version: config.version, commands: Object.fromEntries(plugin.commands.map((c) => [c.id, c]))}
writeFileSync(file, JSON.stringify(manifest))
