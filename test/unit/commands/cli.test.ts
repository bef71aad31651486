import {Config} from '@oclif/core'
import {expect} from 'chai'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {EXIT_CODE_TABLE, ExitCode, exitCodeOf, PreconditionError, RestoreError} from '../../../src/lib/errors.js'
import {parseJsonOutput, REPO_ROOT, runAtlas} from '../../helpers/cli.js'

describe('CLI surface', () => {
  it('--help lists the commands', async () => {
    const result = await runAtlas(['--help'])
    expect(result.exitCode).to.equal(0)
    for (const command of ['config', 'doctor', 'init'])
      expect(result.stdout).to.match(new RegExp(`^  ${command}\\s`, 'm'))
  })

  it('--help lists every command in src/commands (the manifest is never stale)', async () => {
    const {readdir} = await import('node:fs/promises')
    const files = await readdir(path.join(REPO_ROOT, 'src', 'commands'), {recursive: true})
    const ids = files.filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '').split(path.sep).join(' '))
    expect(ids).to.include.members(['doctor', 'up', 'verify', 'ledger init'])
    const help = await runAtlas(['--help'])
    const topics = new Set(ids.map((id) => id.split(' ')[0]))
    for (const topic of topics) expect(help.stdout, topic).to.match(new RegExp(`^  ${topic}\\s`, 'm'))
    const ledgerHelp = await runAtlas(['ledger', '--help'])
    for (const id of ids.filter((i) => i.startsWith('ledger ')))
      expect(ledgerHelp.stdout, id).to.match(new RegExp(`^  ${id}\\s`, 'm'))
  })

  it('every command has a summary and at least one example', async () => {
    const config = await Config.load({root: REPO_ROOT})
    const ours = config.commands.filter((c) => c.pluginName === config.pjson.name)
    expect(ours.length).to.be.greaterThan(2)
    for (const command of ours) {
      expect(command.summary, `${command.id} summary`).to.be.a('string').and.not.equal('')
      expect(command.examples ?? [], `${command.id} examples`).to.have.length.greaterThan(0)
      const flags = Object.keys(command.flags)
      // psql and logs hand the terminal to another program: they have no result to print as JSON
      const streams = ['psql', 'logs'].includes(command.id)
      expect(flags, `${command.id} flags`).to.include.members(
        streams ? ['config', 'verbose', 'quiet'] : ['json', 'config', 'verbose', 'quiet', 'output'],
      )
    }
  })

  it('a usage error exits 2, also under --json, with the error as the only stdout', async () => {
    const human = await runAtlas(['doctor', '--no-such-flag'])
    expect(human.exitCode).to.equal(2)
    expect(human.stderr).to.match(/Nonexistent flag: --no-such-flag/)
    const machine = await runAtlas(['doctor', '--no-such-flag', '--json'])
    expect(machine.exitCode).to.equal(2)
    expect(parseJsonOutput<{error: {code: string; exitCode: number}}>(machine).error).to.include({
      exitCode: 2,
      code: 'USAGE',
    })
  })

  it('an unknown command exits 127 (command not found) and says so', async () => {
    const result = await runAtlas(['no-such-command'])
    expect(result.exitCode).to.equal(127)
    expect(result.stderr).to.match(/no-such-command is not a atlas command/)
  })

  it('an unreachable database is a precondition failure (exit 3) naming the address, not a crash', async () => {
    const {freePort} = await import('../../../src/lib/proc/ports.js')
    const closed = await freePort()
    const human = await runAtlas([
      'verify',
      '--ledger-balance',
      '--db',
      `postgres://atlas:pw@127.0.0.1:${closed}/ledger`,
    ])
    expect(human.exitCode).to.equal(3)
    expect(human.stderr).to.contain(`cannot reach 127.0.0.1:${closed} (connection refused)`)
    expect(human.stderr).to.match(/Hint: is the world up\?/)
    const machine = await runAtlas([
      'ledger',
      'init',
      '--db',
      `postgres://atlas:pw@127.0.0.1:${closed}/ledger`,
      '--json',
    ])
    expect(machine.exitCode).to.equal(3)
    expect(parseJsonOutput<{error: {code: string}}>(machine).error.code).to.equal('UNREACHABLE')
  })

  it('maps errors to the documented exit codes', () => {
    expect(exitCodeOf(new PreconditionError('x'))).to.equal(ExitCode.Precondition)
    expect(exitCodeOf(new RestoreError('x'))).to.equal(ExitCode.RestoreFailed)
    expect(exitCodeOf(Object.assign(new Error('parse'), {oclif: {exit: 2}}))).to.equal(ExitCode.Usage)
    expect(exitCodeOf(new Error('boom'))).to.equal(ExitCode.Unexpected)
  })

  it('the README documents the exit-code table exactly', async () => {
    const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8')
    for (const {code, meaning} of EXIT_CODE_TABLE) {
      expect(readme).to.contain(`| ${code} | ${meaning} |`)
    }
  })
})
