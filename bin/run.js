#!/usr/bin/env node
import {existsSync, readFileSync} from 'node:fs'

// Help and the version need only oclif's core and the manifest, and load it from one bundled file
// (dist/oclif-core.cjs, scripts/bundle-help.mjs) in about half the CPU time. Everything else runs a
// command, and loads @oclif/core as the commands do, so that one copy of it is in the process.
// The test is oclif's own (main.js helpAddition, versionAddition), with the flags of package.json.
// The bundle comes with V8's code cache for it (bin/load-bundle.js).
const argv = process.argv.slice(2)
const bundle = new URL('../dist/oclif-core.cjs', import.meta.url)
const wantsHelpOrVersion = () => {
  if (argv.length === 0) return true
  const {oclif} = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  if (['--version', ...(oclif.additionalVersionFlags ?? [])].includes(argv[0])) return true
  const helpFlags = new Set(['--help', ...(oclif.additionalHelpFlags ?? [])])
  for (const arg of argv) {
    if (helpFlags.has(arg)) return true
    if (arg === '--') return false
  }

  return false
}

const {execute} =
  wantsHelpOrVersion() && existsSync(bundle)
    ? (await import('./load-bundle.js')).loadBundle(bundle.pathname).exports
    : await import('@oclif/core')

await execute({dir: import.meta.url})
