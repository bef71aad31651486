// Loads the CommonJS bundle of oclif's core (dist/oclif-core.cjs) with V8's code cache for it
// (`<bundle>.cache`, written by `npm run build`: scripts/bundle-help.mjs): the functions help runs are then
// read from the cache instead of parsed and compiled on every start (bench/startup). Without the cache, or where
// V8 refuses it (another Node version or V8 flags), the bundle is compiled as `require` would.
import {existsSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import vm from 'node:vm'

// the bundle's import() calls, rewritten by the build to call this (a vm script has no import() of its own)
const bundleImport = (specifier) => import(specifier)

/** the bundle's exports, whether its code cache was absent, accepted or rejected, and the compiled script */
export function loadBundle(file) {
  const cacheFile = `${file}.cache`
  const cachedData = existsSync(cacheFile) ? readFileSync(cacheFile) : undefined
  const wrapped = `(function (exports, require, module, __filename, __dirname, __bundleImport) { ${readFileSync(file, 'utf8')}\n})`
  const script = new vm.Script(wrapped, {filename: file, cachedData})
  const module = {exports: {}, filename: file, id: file, loaded: false}
  script.runInThisContext()(module.exports, createRequire(file), module, file, path.dirname(file), bundleImport)
  module.loaded = true
  const cache = cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'accepted'
  return {exports: module.exports, cache, script}
}
