import {expect} from 'chai'
import {execa} from 'execa'
import {mkdir, mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {freePort} from '../../src/lib/proc/index.js'
import {parseJsonOutput, REPO_ROOT, runAtlas} from '../helpers/cli.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

/** Bad input and unusable databases end in exit 2 or 3 with a hint, never in 1, 0 or a hang. */
describe('bad input and unusable databases (CLI, real PostgreSQL)', function () {
  this.timeout(180_000)
  let primary: TestPostgres
  let standby: TestPostgres
  let tmp: string

  before(async () => {
    primary = await startPostgres()
    standby = await startPostgres({standbyOf: primary})
    tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-bad-input-'))
    const init = await runAtlas(['ledger', 'init', '--db', primary.url, '--accounts', '10'], {cwd: tmp})
    expect(init.exitCode, init.stderr).to.equal(0)
  })

  after(async () => {
    await standby?.stop()
    await primary?.stop()
    if (tmp) await rm(tmp, {recursive: true, force: true})
  })

  it('a run directory whose transfers.log is a directory: exit 2 saying so', async () => {
    const runDir = path.join(tmp, 'odd-run')
    await mkdir(path.join(runDir, 'transfers.log'), {recursive: true})
    const result = await runAtlas(['verify', '--db', primary.url, '--run-dir', runDir], {cwd: tmp})
    expect(result.exitCode, result.stderr).to.equal(2)
    expect(result.stderr).to.contain(`${path.join(runDir, 'transfers.log')} is not a file`)
    expect(result.stderr).to.not.match(/EISDIR/)
  })

  it('no database reachable on any of several hosts: exit 3 at once, not a hang', async () => {
    const [a, b] = [await freePort(), await freePort()]
    const started = Date.now()
    const result = await runAtlas(
      ['verify', '--db', `postgres://atlas@127.0.0.1:${a},127.0.0.1:${b}/postgres`, '--json'],
      {cwd: tmp, timeoutMs: 30_000},
    )
    expect(result.exitCode, result.stderr).to.equal(3)
    expect(parseJsonOutput<{error: {code: string; message: string}}>(result).error).to.deep.include({
      code: 'UNREACHABLE',
    })
    expect(Date.now() - started).to.be.lessThan(15_000)
  })

  it('a standby-only --db: exit 3 with a hint to pass the primary or all hosts', async () => {
    for (const args of [['verify'], ['workload', '--count', '5']]) {
      const result = await runAtlas(
        [...args, '--db', standby.url, '--no-audit'].filter((a) => a !== '--no-audit' || args[0] === 'workload'),
        {cwd: tmp},
      )
      expect(result.exitCode, `${args[0]}: ${result.stderr}`).to.equal(3)
      expect(result.stderr).to.match(/read-only standby/)
      expect(result.stderr).to.match(/Hint: pass the primary, or all hosts/)
    }
  })

  it('workload: Ctrl-C exits 130 with its result, and the last line is the verify command of its run', async () => {
    const runDir = path.join(tmp, 'interrupted-run')
    const child = execa(
      process.execPath,
      [
        path.join(REPO_ROOT, 'bin', 'run.js'),
        'workload',
        '--db',
        primary.url,
        '--duration',
        '1m',
        '--run-dir',
        runDir,
        '--no-audit',
      ],
      {
        cwd: tmp,
        reject: false,
        env: {NO_COLOR: '1'},
      },
    )
    await new Promise((resolve) => setTimeout(resolve, 4000))
    child.kill('SIGINT')
    const result = await child
    expect(result.exitCode, result.stderr).to.equal(130)
    expect(result.stderr)
      .to.match(/received SIGINT: stopping/)
      .and.not.match(/restoring/)
    expect(result.stdout.trim().split('\n').at(-1)).to.equal(
      `verify: atlas verify --ledger-balance --run-dir ${runDir} --db ${primary.url}`,
    )
  })
})
