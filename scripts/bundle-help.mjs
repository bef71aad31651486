// Bundles @oclif/core's execute() (and what it loads) into dist/oclif-core.cjs: bin/run.js shows help and the version from this one
// file instead of loading oclif's ~150 modules one by one (bench/startup measures the difference).
// TypeScript support (ts-node/typescript) is left out: the built CLI runs JavaScript only.
import {build} from 'esbuild'
import {spawnSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const outfile = path.join(root, 'dist', 'oclif-core.cjs')
await build({
  stdin: {
    contents: "module.exports = require('@oclif/core/execute')",
    resolveDir: root,
    loader: 'js',
    sourcefile: 'oclif-core-entry.cjs',
  },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile,
  external: ['typescript', 'ts-node'],
  minifySyntax: true,
  logLevel: 'warning',
})

// bin/load-bundle.js compiles the bundle as a vm script (to give V8 its code cache), where import() would need
// an experimental option of Node 20 that the code cache does not keep: oclif's dynamic imports (hooks, ESM
// commands) go through a function the loader passes in instead, whose import() is that of a CommonJS module.
const bundled = readFileSync(outfile, 'utf8')
const imports = bundled.match(/\bawait import\(/g)?.length ?? 0
if (imports === 0 || bundled.includes('__bundleImport'))
  throw new Error('oclif-core.cjs: unexpected shape of its import() calls')
writeFileSync(outfile, bundled.replaceAll(/\bawait import\(/g, 'await __bundleImport('))

// V8's code cache of the bundle (scripts/help-code-cache.mjs), written by the Node that builds
const cache = spawnSync(process.execPath, [path.join(root, 'scripts', 'help-code-cache.mjs')], {
  env: {...process.env, NO_COLOR: '1', ATLAS_CONFIG: ''},
  stdio: ['ignore', 'ignore', 'inherit'],
})
if (cache.status !== 0) throw new Error(`help-code-cache.mjs exited ${cache.status ?? cache.signal}`)
