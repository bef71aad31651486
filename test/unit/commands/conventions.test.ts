import {Config} from '@oclif/core'
import {expect} from 'chai'
import {execa} from 'execa'
import {mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {jsonOutputAsJsonFlag} from '../../../src/lib/command.js'
import {parseJsonOutput, REPO_ROOT, runAtlas} from '../../helpers/cli.js'

const RUN_JS = path.join(REPO_ROOT, 'bin', 'run.js')

/** Runs atlas under a pseudo-terminal (util-linux `script`), feeding `input` to it; returns what the terminal showed. */
async function runOnTerminal(
  args: string[],
  options: {cwd: string; env?: Record<string, string>; input?: string},
): Promise<{exitCode: number; screen: string}> {
  const command = [process.execPath, RUN_JS, ...args].map((a) => `'${a.replaceAll("'", String.raw`'\''`)}'`).join(' ')
  // a pseudo-terminal starts with 0 columns; give it a real size so renderers do not wrap every character
  const result = await execa('script', ['-qec', `stty cols 120 rows 40; ${command}`, '/dev/null'], {
    cwd: options.cwd,
    input: options.input ?? '',
    env: {TERM: 'xterm', ...options.env},
    reject: false,
    timeout: 60_000,
  })
  return {exitCode: result.exitCode ?? -1, screen: result.stdout}
}

describe('CLI conventions', function () {
  this.timeout(120_000)
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-conventions-'))
  })

  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('-h shows help for the root and for every command', async () => {
    const root = await runAtlas(['-h'], {cwd: dir})
    expect(root.exitCode).to.equal(0)
    expect(root.stdout).to.match(/^COMMANDS/m)
    const config = await Config.load({root: REPO_ROOT})
    const ours = config.commands.filter((c) => c.pluginName === config.pjson.name)
    for (const command of ours) {
      const result = await runAtlas([...command.id.split(':'), '-h'], {cwd: dir})
      expect(result.exitCode, command.id).to.equal(0)
      expect(result.stdout, command.id).to.match(/^USAGE/m)
    }
  })

  it('atlas version prints the version, also as JSON', async () => {
    const human = await runAtlas(['version'], {cwd: dir})
    expect(human.exitCode).to.equal(0)
    expect(human.stdout).to.match(/^atlas \d+\.\d+\.\d+ \(node /)
    const machine = parseJsonOutput<{version: string}>(await runAtlas(['version', '--json'], {cwd: dir}))
    expect(machine.version).to.match(/^\d+\.\d+\.\d+$/)
  })

  it('ships shell completion', async () => {
    const result = await runAtlas(['autocomplete', 'bash'], {cwd: dir, env: {HOME: dir}})
    expect(result.exitCode).to.equal(0)
    expect(result.stdout).to.match(/atlas autocomplete/)
  })

  it('an unknown command on a terminal offers the closest one', async () => {
    const {screen} = await runOnTerminal(['stauts'], {cwd: dir, input: 'n\n'})
    expect(screen).to.match(/Did you mean .*status/)
  })

  it('-o json is --json, for results and for errors', async () => {
    expect(jsonOutputAsJsonFlag(['config', '-o', 'json'])).to.deep.equal(['config', '--json'])
    expect(jsonOutputAsJsonFlag(['-ojson', '--output=json', '--', '-o', 'json'])).to.deep.equal([
      '--json',
      '--json',
      '--',
      '-o',
      'json',
    ])
    const result = parseJsonOutput<{driver: string}>(await runAtlas(['config', '-o', 'json'], {cwd: dir}))
    expect(result.driver).to.equal('auto')
    const error = await runAtlas(['doctor', '--no-such-flag', '--output', 'json'], {cwd: dir})
    expect(error.exitCode).to.equal(2)
    expect(parseJsonOutput<{error: {exitCode: number}}>(error).error.exitCode).to.equal(2)
  })

  it('finds atlas.yaml in a parent directory and names the config in force on stderr; --quiet drops the header', async () => {
    await writeFile(
      path.join(dir, 'atlas.yaml'),
      'regions:\n  - {name: us, awsRegion: us-east-1, role: primary}\nlocal:\n  basePort: 31000\n',
    )
    const sub = path.join(dir, 'a', 'b')
    await mkdir(sub, {recursive: true})
    const found = await runAtlas(['config', '--json'], {cwd: sub})
    expect(parseJsonOutput<{local: {basePort: number}; source: string}>(found)).to.deep.include({
      source: path.join(dir, 'atlas.yaml'),
    })
    const human = await runAtlas(['config'], {cwd: sub})
    expect(human.stderr.split('\n')[0]).to.equal(`config: ${path.join(dir, 'atlas.yaml')}`)
    expect(human.stdout).to.match(/basePort: 31000/)
    const quiet = await runAtlas(['config', '--quiet'], {cwd: sub})
    expect(quiet.stderr).to.equal('')
    const elsewhere = await mkdtemp(path.join(os.tmpdir(), 'atlas-noconfig-'))
    try {
      const defaults = await runAtlas(['config'], {cwd: elsewhere})
      expect(defaults.stderr).to.match(/^config: built-in defaults \(no atlas.yaml in .* or a parent directory\)/)
    } finally {
      await rm(elsewhere, {recursive: true, force: true})
    }
  })

  it('down --purge refuses without --yes when not on a terminal, and asks on one', async () => {
    const base = path.join(dir, 'state')
    await mkdir(path.join(base, 'data'), {recursive: true})
    await writeFile(path.join(base, 'secrets.json'), '{}')
    const refused = await runAtlas(['down', '--purge', '--driver', 'local', '--base-dir', base], {cwd: dir})
    expect(refused.exitCode).to.equal(2)
    expect(refused.stderr)
      .to.match(/not a terminal/)
      .and.match(/Hint: pass --yes/)
    expect(await readdir(base)).to.include.members(['data', 'secrets.json'])

    const declined = await runOnTerminal(['down', '--purge', '--driver', 'local', '--base-dir', base], {
      cwd: dir,
      input: 'n\n',
    })
    expect(declined.screen).to.match(/Remove the ledger data.*\[y\/N\]/)
    expect(declined.exitCode).to.equal(2)
    expect(await readdir(base)).to.include('secrets.json')

    const confirmed = await runAtlas(['down', '--purge', '--yes', '--driver', 'local', '--base-dir', base], {cwd: dir})
    expect(confirmed.exitCode, confirmed.stderr).to.equal(0)
    expect(await readdir(base)).to.not.include('secrets.json')
  })

  it('progress: listr2 on a terminal, plain lines in a pipe, no colour under NO_COLOR', async () => {
    const base = path.join(dir, 'state')
    const args = ['down', '--driver', 'local', '--base-dir', base]
    const piped = await runAtlas(args, {cwd: dir})
    expect(piped.stderr).to.match(/^→ stop the local world\n✓ stop the local world \(\d+\.\ds\): nothing was running$/m)
    const terminal = await runOnTerminal(args, {cwd: dir})
    // listr2 redraws the task line in place (cursor up, erase line), with a coloured tick
    expect(terminal.screen)
      .to.contain('\u001B[1A')
      .and.contain('\u001B[32m✔\u001B[39m stop the local world: nothing was running')
    expect(terminal.screen).to.not.match(/^→ /m)
    const colourless = await runOnTerminal(args, {cwd: dir, env: {NO_COLOR: '1'}})
    expect(colourless.screen).to.contain('✔ stop the local world: nothing was running')
    // eslint-disable-next-line no-control-regex
    expect(colourless.screen).to.not.match(/\u001B\[3\dm/)
  })

  it('Ctrl-C exits 130 and says what it does: stopping, not restoring', async () => {
    const child = execa(process.execPath, [RUN_JS, 'status', '--watch', '--interval', '1s', '--driver', 'local'], {
      cwd: dir,
      reject: false,
      env: {NO_COLOR: '1'},
    })
    await new Promise((resolve) => setTimeout(resolve, 2500))
    child.kill('SIGINT')
    const result = await child
    expect(result.exitCode).to.equal(130)
    expect(result.stderr).to.match(/received SIGINT: stopping/)
    expect(result.stderr).to.not.match(/restoring/)
  })
})
