import {expect} from 'chai'
import {execa} from 'execa'
import {copyFile, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {REPO_ROOT} from '../../helpers/cli.js'

/**
 * bin/run.js shows help and the version from a bundled copy of oclif's core
 * (dist/oclif-core.cjs, made by `npm run build`). These run the built CLI.
 */
describe('CLI start-up: help and version from the bundled oclif core', function () {
  this.timeout(60_000)
  let dir: string
  let reference: string
  let preload: string

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-startup-'))
    // oclif's own entry, as bin/run.js was before the bundle: what every answer must equal
    reference = path.join(dir, 'reference.mjs')
    const bin = JSON.stringify(path.join(REPO_ROOT, 'bin', 'run.js'))
    await writeFile(
      reference,
      `import {createRequire} from 'node:module'\nconst {execute} = createRequire(${bin})('@oclif/core')\nawait execute({dir: ${bin}})\n`,
    )
    // counts the modules of node_modules/@oclif/core the process loaded
    preload = path.join(dir, 'count.cjs')
    await writeFile(
      preload,
      `process.on('exit', () => process.stderr.write('oclif modules loaded: ' + Object.keys(require.cache).filter((k) => k.includes('/node_modules/@oclif/core/')).length + '\\n'))\n`,
    )
  })

  after(async () => rm(dir, {recursive: true, force: true}))

  const run = (args: string[], extra: string[] = [], script = path.join(REPO_ROOT, 'bin', 'run.js')) =>
    execa(process.execPath, [...extra, script, ...args], {
      cwd: REPO_ROOT,
      reject: false,
      env: {NO_COLOR: '1', ATLAS_CONFIG: ''},
      extendEnv: true,
      stdin: 'ignore',
    })

  for (const args of [
    [],
    ['--help'],
    ['-h'],
    ['up', '--help'],
    ['verify', '-h'],
    ['ledger', '--help'],
    ['nosuch', '--help'],
    ['--version'],
    ['-v'],
    ['help'],
    ['workload', '--rate', '5', '--', '--help'],
  ]) {
    it(`atlas ${args.join(' ')} prints what oclif's own entry prints, with the same exit code`, async () => {
      const [ours, theirs] = await Promise.all([run(args), run(args, [], reference)])
      expect(ours.exitCode).to.equal(theirs.exitCode)
      expect(ours.stdout).to.equal(theirs.stdout)
      expect(ours.stderr).to.equal(theirs.stderr)
    })
  }

  it('help and the version load none of the modules of node_modules/@oclif/core; a command loads them (one copy of oclif per command run)', async () => {
    const loaded = async (args: string[]) =>
      Number(/oclif modules loaded: (\d+)/.exec((await run(args, ['-r', preload])).stderr)?.[1])
    expect(await loaded(['--help'])).to.equal(0)
    expect(await loaded(['up', '--help'])).to.equal(0)
    expect(await loaded(['--version'])).to.equal(0)
    expect(await loaded(['config'])).to.be.greaterThan(10)
    // `help` is a command (plugin-help), and `--` ends the flags: neither takes the bundle
    expect(await loaded(['help'])).to.be.greaterThan(10)
    expect(await loaded(['workload', '--', '--help'])).to.be.greaterThan(10)
  })

  describe('the code cache of the bundle (bin/load-bundle.js)', () => {
    const bundle = path.join(REPO_ROOT, 'dist', 'oclif-core.cjs')
    // a process of its own each time: V8 keeps what it compiled per process and would not read a cache twice
    const load = async (file: string) => {
      const {stdout} = await execa(process.execPath, [
        '--input-type=module',
        '-e',
        `import {loadBundle} from ${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, 'bin', 'load-bundle.js')).href)}
         const loaded = loadBundle(${JSON.stringify(file)})
         console.log(JSON.stringify({cache: loaded.cache, execute: typeof loaded.exports.execute}))`,
      ])
      return JSON.parse(stdout) as {cache: string; execute: string}
    }

    it('is written by the build and taken by this Node', async () => {
      expect(await load(bundle)).to.deep.equal({cache: 'accepted', execute: 'function'})
    })

    it('is not needed: a bundle without one, or with one V8 refuses, loads all the same', async () => {
      const copy = path.join(dir, 'oclif-core.cjs')
      await copyFile(bundle, copy)
      expect(await load(copy)).to.deep.equal({cache: 'absent', execute: 'function'})
      await writeFile(`${copy}.cache`, 'not a code cache')
      expect(await load(copy)).to.deep.equal({cache: 'rejected', execute: 'function'})
    })
  })
})
