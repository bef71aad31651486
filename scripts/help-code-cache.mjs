// Writes V8's code cache of dist/oclif-core.cjs (dist/oclif-core.cjs.cache) after running what the bundle is
// for (help and the version, output discarded), so the cache holds the functions those runs compile, not only
// the top level. Run by scripts/bundle-help.mjs in a process of its own, with the Node that builds;
// bin/load-bundle.js reads it.
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {loadBundle} from '../bin/load-bundle.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bundle = path.join(root, 'dist', 'oclif-core.cjs')
const {exports: oclif, script} = loadBundle(bundle)
const {write} = process.stdout
process.stdout.write = () => true
try {
  for (const args of [['--help'], ['up', '--help'], ['--version']])
    await oclif.execute({dir: pathToFileURL(path.join(root, 'bin', 'run.js')).href, args})
} finally {
  process.stdout.write = write
}

writeFileSync(`${bundle}.cache`, script.createCachedData())
