// Commands run in-process with @oclif/test where neither the exit code of a real process nor a
// terminal matters: what they print and return. (The exit-code contract, signals and TTY
// behaviour are tested against the built CLI in a child process: cli.test.ts, startup.test.ts.)
import {runCommand} from '@oclif/test'
import {expect} from 'chai'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {REPO_ROOT} from '../../helpers/cli.js'

const TWO_REGIONS = `regions:
  - {name: us, awsRegion: us-east-1, role: primary}
  - {name: eu, awsRegion: eu-central-1, role: secondary}
local:
  baseDir: ./state
`

describe('commands in-process (@oclif/test)', () => {
  let dir: string
  let configFile: string

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-in-process-'))
    configFile = path.join(dir, 'atlas.yaml')
    await writeFile(configFile, TWO_REGIONS)
  })

  after(async () => {
    await rm(dir, {force: true, recursive: true})
  })

  // a command that fails sets process.exitCode for the real process; this one is mocha's
  afterEach(() => {
    process.exitCode = undefined
  })

  it('config --json prints the validated configuration, defaults applied, as the one JSON document on stdout', async () => {
    const {error, result, stdout} = await runCommand<{local: {basePort: number}; regions: Array<{name: string}>}>(
      ['config', '--config', configFile, '--json'],
      {root: REPO_ROOT},
    )
    expect(error).to.equal(undefined)
    const printed = JSON.parse(stdout)
    expect(printed.regions.map((r: {name: string}) => r.name)).to.deep.equal(['us', 'eu'])
    expect(printed.local.basePort, 'a default was applied').to.be.a('number')
    expect(result!.regions.map((r) => r.name)).to.deep.equal(['us', 'eu'])
  })

  it('config prints YAML under a line naming the file it came from', async () => {
    const {error, stdout} = await runCommand(['config', '--config', configFile], {root: REPO_ROOT})
    expect(error).to.equal(undefined)
    expect(stdout.split('\n')[0]).to.equal(`# effective configuration from ${configFile}`)
    expect(stdout).to.match(/^regions:$/m)
  })

  it('an invalid file: a usage error (exit 2) naming the file, line and field, as JSON under --json, and no result', async () => {
    const bad = path.join(dir, 'bad.yaml')
    await writeFile(bad, 'regions:\n  - {name: us, awsRegion: us-east-1, role: leader}\n')
    const {error, result, stdout} = await runCommand(['config', '--config', bad, '--json'], {root: REPO_ROOT})
    expect(result).to.equal(undefined)
    expect(error?.oclif?.exit).to.equal(2)
    const printed = JSON.parse(stdout) as {error: {code: string; exitCode: number; message: string}}
    expect(printed.error.code).to.equal('CONFIG_INVALID')
    expect(printed.error.exitCode).to.equal(2)
    expect(printed.error.message).to.match(/bad\.yaml:2:\d+: regions\[0]\.role: must be one of/)
  })

  it('runs --json on a world that never ran anything: its runs directory (under local.baseDir, beside the file) and no runs', async () => {
    const {error, result} = await runCommand<{runs: unknown[]; runsDir: string}>(
      ['runs', '--config', configFile, '--json'],
      {
        root: REPO_ROOT,
      },
    )
    expect(error).to.equal(undefined)
    expect(result).to.deep.equal({runs: [], runsDir: path.join(dir, 'state', 'runs')})
  })

  it('version --json returns the package version, Node.js and the platform', async () => {
    const {error, result} = await runCommand<{node: string; platform: string; version: string}>(['version', '--json'], {
      root: REPO_ROOT,
    })
    expect(error).to.equal(undefined)
    expect(result).to.deep.equal({
      node: process.versions.node,
      platform: `${process.platform}-${process.arch}`,
      version: (await import('../../../package.json', {with: {type: 'json'}})).default.version,
    })
  })
})
