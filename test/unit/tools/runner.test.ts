import {expect} from 'chai'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {ExitCode, MissingToolError, ToolError} from '../../../src/lib/errors.js'
import {redact, redactObject} from '../../../src/lib/redact.js'
import {CommandRunner} from '../../../src/lib/tools/runner.js'

describe('command runner', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-runner-'))
  })

  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('runs a command, captures and streams its output line by line', async () => {
    const lines: string[] = []
    const runner = new CommandRunner({onLine: (line, stream) => lines.push(`${stream}:${line}`)})
    const result = await runner.run('sh', ['-c', 'echo one; echo two >&2; echo three'])
    expect(result.exitCode).to.equal(0)
    expect(result.stdout).to.equal('one\nthree')
    expect(result.stderr).to.equal('two')
    expect(lines).to.have.members(['stdout:one', 'stderr:two', 'stdout:three'])
  })

  it('turns a non-zero exit into an error naming the command and the tail of stderr', async () => {
    const runner = new CommandRunner()
    const script = 'for i in $(seq 1 30); do echo "line $i" >&2; done; exit 7'
    try {
      await runner.run('sh', ['-c', script], {label: 'failing step'})
      expect.fail('expected a ToolError')
    } catch (error) {
      expect(error).to.be.instanceOf(ToolError)
      const toolError = error as ToolError
      expect(toolError.toolExitCode).to.equal(7)
      expect(toolError.exitCode).to.equal(ExitCode.Unexpected)
      expect(toolError.message).to.contain('command `sh -c')
      expect(toolError.message).to.contain('exited with code 7')
      expect(toolError.message).to.contain('line 30')
      expect(toolError.message).to.contain('line 11')
      expect(toolError.message).not.to.contain('line 10\n') // only the last 20 lines
      expect(toolError.hint).to.contain('failing step')
    }
  })

  it('returns the result instead of throwing with reject: false', async () => {
    const result = await new CommandRunner().run('sh', ['-c', 'exit 3'], {reject: false})
    expect(result.exitCode).to.equal(3)
  })

  it('a missing tool is a precondition error with an install hint', async () => {
    try {
      await new CommandRunner().run('etcd-that-does-not-exist', [])
      expect.fail('expected MissingToolError')
    } catch (error) {
      expect(error).to.be.instanceOf(MissingToolError)
      expect((error as MissingToolError).exitCode).to.equal(ExitCode.Precondition)
    }
  })

  it('dry-run records the exact argv and cwd instead of running, also for missing tools', async () => {
    const marker = path.join(dir, 'must-not-exist')
    const runner = new CommandRunner({dryRun: true, planRoot: dir})
    const result = await runner.run('touch', [marker], {cwd: path.join(dir, 'terraform'), label: 'create marker'})
    await runner.run('k3d-missing-here', ['cluster', 'create', 'dc-us'])
    await runner.start('etcd', ['--name', 'us'], {logFile: path.join(dir, 'etcd.log'), cwd: dir})
    expect(result.dryRun).to.equal(true)
    expect(runner.plan).to.deep.equal([
      {argv: ['touch', marker], cwd: 'terraform', label: 'create marker'},
      {
        argv: ['k3d-missing-here', 'cluster', 'create', 'dc-us'],
        cwd: path.relative(dir, process.cwd()).startsWith('..')
          ? process.cwd()
          : path.relative(dir, process.cwd()) || '.',
      },
      {argv: ['etcd', '--name', 'us'], cwd: '.', background: true},
    ])
    expect([...runner.missingTools]).to.deep.equal(['k3d-missing-here'])
    const exists = await readFile(marker).then(
      () => true,
      () => false,
    )
    expect(exists).to.equal(false)
  })

  it('redacts secrets in plans, logs and errors', async () => {
    const logFile = path.join(dir, 'run.log')
    const runner = new CommandRunner({logFile})
    try {
      await runner.run(
        'sh',
        ['-c', 'echo "connecting to postgres://ledger:hunter22@127.0.0.1/db" >&2; echo "token=abc123xyz"; exit 1'],
        {secrets: ['s3cr3t-value']},
      )
    } catch (error) {
      expect((error as Error).message).to.contain('postgres://ledger:***@127.0.0.1/db')
      expect((error as Error).message).not.to.contain('hunter22')
    }

    await runner.run('echo', ['--password=s3cr3t-value'], {secrets: ['s3cr3t-value']})
    const log = await readFile(logFile, 'utf8')
    expect(log).not.to.contain('hunter22')
    expect(log).not.to.contain('abc123xyz')
    expect(log).not.to.contain('s3cr3t-value')
    expect(log).to.contain('token=***')

    const dry = new CommandRunner({dryRun: true})
    await dry.run('psql', ['postgres://admin:topsecret@db/ledger'], {env: {PGPASSWORD: 'topsecret2', PGHOST: 'db'}})
    expect(JSON.stringify(dry.plan)).not.to.match(/topsecret/)
    expect(dry.plan[0].env).to.deep.equal({PGPASSWORD: '***', PGHOST: 'db'})
  })

  it('start() runs a background process in its own process group', async () => {
    const runner = new CommandRunner()
    const logFile = path.join(dir, 'bg.log')
    const pid = await runner.start('sh', ['-c', 'echo started; sleep 30'], {logFile})
    try {
      expect(pid).to.be.greaterThan(0)
      // its own group: signalling -pid reaches it
      expect(() => process.kill(-pid, 0)).not.to.throw()
      await new Promise((r) => setTimeout(r, 200))
      expect(await readFile(logFile, 'utf8')).to.contain('started')
    } finally {
      process.kill(-pid, 'SIGKILL')
    }
  })
})

describe('redaction', () => {
  it('masks URL passwords, key=value secrets and secret-named keys in objects', () => {
    expect(redact('postgres://u:pw@h:5432/d?sslmode=disable')).to.equal('postgres://u:***@h:5432/d?sslmode=disable')
    expect(redact('AWS_SECRET_ACCESS_KEY=abcd PGPASSWORD=xyz other=1')).to.equal(
      'AWS_SECRET_ACCESS_KEY=*** PGPASSWORD=*** other=1',
    )
    expect(
      redactObject({url: 'postgres://a:b@c/d', secretAccessKey: 'test', nested: [{password: 'x'}], n: 3}),
    ).to.deep.equal({
      url: 'postgres://a:***@c/d',
      secretAccessKey: '***',
      nested: [{password: '***'}],
      n: 3,
    })
  })
})
