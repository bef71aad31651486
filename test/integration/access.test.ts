import {expect} from 'chai'
import {execa} from 'execa'
import path from 'node:path'

import {REPO_ROOT} from '../helpers/cli.js'
import {createTestWorld, type TestWorld} from '../helpers/world.js'

/** A way in: `atlas env`, `atlas psql` and `atlas logs` against a running local world. */
describe('atlas env, psql and logs (local world)', function () {
  this.timeout(300_000)
  let world: TestWorld

  before(async () => {
    world = await createTestWorld('access')
    const up = await world.atlas(['up'])
    expect(up.exitCode, up.stderr).to.equal(0)
  })

  after(async () => {
    await world?.destroy()
  })

  it('env prints exports to eval: psql then reaches the ledger; --json masks the password', async () => {
    const env = await world.atlas(['env'])
    expect(env.exitCode, env.stderr).to.equal(0)
    // the leader, us, on its own address (layout.ts regionAddress)
    expect(env.stdout)
      .to.match(/^export PGHOST='127\.0\.1\.1'$/m)
      .and.match(/^export PGPASSWORD='[^*']+'$/m)
      .and.match(/^export ATLAS_DATABASE_URL=/m)
    const shell = await execa(
      'bash',
      ['-c', `eval "$1" && psql -Atc 'select count(*) from accounts'`, 'bash', env.stdout],
      {reject: false},
    )
    expect(shell.stdout.trim(), shell.stderr).to.equal('50')
    const json = JSON.parse((await world.atlas(['env', '--region', 'eu', '--json'])).stdout)
    expect(json.region).to.equal('eu')
    expect(json.env.PGPASSWORD).to.not.equal(env.stdout.match(/PGPASSWORD='([^']+)'/)![1])
  })

  it('psql runs against the leader, passing arguments after --', async () => {
    const result = await world.atlas(['psql', '--', '-Atc', 'select pg_is_in_recovery()'])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(result.stdout.trim()).to.equal('f')
    expect(result.stderr).to.match(/^psql: region us, 127\.0\.1\.1:\d+, as atlas_verify$/m)
  })

  it('logs shows the tail of each log or of one component, and follows until Ctrl-C (exit 130)', async () => {
    const all = await world.atlas(['logs', '-n', '2'])
    expect(all.exitCode, all.stderr).to.equal(0)
    for (const name of ['etcd-us.log', 'patroni-eu.log', 'moto.log'])
      expect(all.stdout).to.contain(`==> ${path.join(world.baseDir, 'logs', name)} <==`)
    const unknown = await world.atlas(['logs', 'nope'])
    expect(unknown.exitCode).to.equal(2)
    expect(unknown.stderr).to.match(/Hint: components: .*etcd-us/)
    const follow = execa(process.execPath, [path.join(REPO_ROOT, 'bin', 'run.js'), 'logs', 'patroni-us', '--follow'], {
      env: {ATLAS_CONFIG: world.configFile},
      reject: false,
    })
    await new Promise((resolve) => setTimeout(resolve, 3000))
    follow.kill('SIGINT')
    const followed = await follow
    expect(followed.exitCode).to.equal(130)
    expect(followed.stdout.length).to.be.greaterThan(0)
  })
})
