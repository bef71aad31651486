// Bundles @oclif/core's execute() (and what it loads) into dist/oclif-core.cjs: bin/run.js shows help and the version from this one
// file instead of loading oclif's ~150 modules one by one (bench/startup measures the difference).
// TypeScript support (ts-node/typescript) is left out: the built CLI runs JavaScript only.
import {build} from 'esbuild'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
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
  outfile: path.join(root, 'dist', 'oclif-core.cjs'),
  external: ['typescript', 'ts-node'],
  minifySyntax: true,
  logLevel: 'warning',
})
