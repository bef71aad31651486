// `atlas up --dry-run` of the local world: the exact background commands, nothing started.
import {expect} from 'chai'
import {rm} from 'node:fs/promises'
import {parseJsonOutput} from '../helpers/cli.js'
import {createTestWorld, listeningPorts, processesIn, type TestWorld} from '../helpers/world.js'
import type {UpResult} from '../../src/lib/world/types.js'

describe('atlas up --dry-run (local world)', () => {
  let world: TestWorld

  before(async () => {
    world = await createTestWorld('dryrun')
  })

  after(async () => {
    await rm(world.dir, {recursive: true, force: true})
  })

  it('prints every process it would start, in order, and starts none', async () => {
    const result = await world.atlas(['up', '--dry-run', '--json'])
    expect(result.exitCode, result.stderr).to.equal(0)
    const up = parseJsonOutput<UpResult>(result)
    expect(up.dryRun).to.equal(true)
    expect(up.started).to.equal(false)
    const plan = up.plan!
    // Patroni runs under its software watchdog, on the interpreter of the installed Patroni
    expect(plan.map((s) => s.argv[0])).to.deep.equal(['etcd', 'etcd', 'etcd', 'moto_server', 'python3', 'python3', 'python3'])
    expect(plan[4].argv[1]).to.match(/libexec\/patroni-softdog\.py$/)
    expect(plan.every((s) => s.background)).to.equal(true)
    const etcdUs = plan[0].argv
    expect(etcdUs).to.include('--pre-vote')
    expect(etcdUs[etcdUs.indexOf('--listen-client-urls') + 1]).to.equal(`http://127.0.0.1:${world.basePort}`)
    expect(plan[3].argv).to.deep.equal(['moto_server', '-H', '127.0.0.1', '-p', String(world.basePort + 60)])
    expect(plan[6].argv.at(-2)).to.match(/libexec\/patroni-loopback\.py$/)
    expect(plan[6].argv.at(-1)).to.match(/postgres\/patroni-witness\.yml$/)
    expect(await listeningPorts(world)).to.deep.equal([])
    expect(await processesIn(world.dir)).to.deep.equal([])
    const {existsSync} = await import('node:fs')
    expect(existsSync(world.baseDir), 'a dry run creates no state directory').to.equal(false)
  })
})
