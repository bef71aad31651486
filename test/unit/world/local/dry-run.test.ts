// `atlas up --dry-run` of the local world: the exact background commands, nothing started.
import {expect} from 'chai'
import {rm} from 'node:fs/promises'
import path from 'node:path'

import type {UpResult} from '../../../../src/lib/world/types.js'

import {parseJsonOutput} from '../../../helpers/cli.js'
import {createTestWorld, listeningPorts, processesIn, type TestWorld} from '../../../helpers/world.js'

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
    expect(plan.slice(0, 7).map((s) => s.argv[0].replace(/^\/.*\/python3$/, 'python3'))).to.deep.equal([
      'etcd',
      'etcd',
      'etcd',
      'python3',
      'python3',
      'python3',
      'python3',
    ])
    // then the monitoring, where it is installed (setup.sh installs it; without it up goes on and the step says why)
    const monitoring = up.steps!.find((st) => st.id === 'monitoring')!
    if (monitoring.skip) expect(monitoring.skip).to.match(/not installed: up goes on without monitoring/)
    else
      expect(plan.slice(7).map((s) => s.argv[0])).to.deep.equal([
        'prometheus',
        'prometheus-alertmanager',
        'prometheus-postgres-exporter',
        'prometheus-postgres-exporter',
        'prometheus-postgres-exporter',
      ])
    for (const command of plan.slice(7))
      expect(command.argv.find((a) => a.startsWith('--web.listen-address='))).to.match(/=127\.0\.0\.1:\d+$/)
    expect(plan[4].argv[1]).to.match(/libexec\/patroni-softdog\.py$/)
    expect(plan.every((s) => s.background)).to.equal(true)
    const etcdUs = plan[0].argv
    expect(etcdUs).to.include('--pre-vote')
    expect(etcdUs[etcdUs.indexOf('--listen-client-urls') + 1]).to.equal(`https://127.0.1.1:${world.basePort}`)
    expect(etcdUs).to.include('--client-cert-auth').and.include('--peer-client-cert-auth')
    // moto under its persistence wrapper: state (snapshot + journal) in the world's data dir
    expect(plan[3].argv[1]).to.match(/libexec\/moto-persistent\.py$/)
    // and the same state over HTTPS on the next port, for pgBackRest's S3 repository
    const tls = path.join(world.baseDir, 'data', 'moto-tls')
    expect(plan[3].argv.slice(2)).to.deep.equal([
      '--state-dir',
      path.join(world.baseDir, 'data', 'moto'),
      '--tls-port',
      String(world.basePort + 61),
      '--tls-cert',
      path.join(tls, 'cert.pem'),
      '--tls-key',
      path.join(tls, 'key.pem'),
      '-H',
      '127.0.0.1',
      '-p',
      String(world.basePort + 60),
    ])
    expect(plan[6].argv.at(-2)).to.match(/libexec\/patroni-loopback\.py$/)
    expect(plan[6].argv.at(-1)).to.match(/postgres\/patroni-witness\.yml$/)
    expect(await listeningPorts(world)).to.deep.equal([])
    expect(await processesIn(world.dir)).to.deep.equal([])
    const {existsSync} = await import('node:fs')
    expect(existsSync(world.baseDir), 'a dry run creates no state directory').to.equal(false)
    // every step of a real up, in order, not only the process starts
    expect(up.steps!.map((st) => st.id)).to.deep.equal([
      'pki',
      'etcd-moto',
      'patroni',
      'cloud',
      'monitoring',
      'schema',
      'patroni-config',
    ])
    // nothing runs yet to ask: up checks Patroni's dynamic configuration once it does
    expect(up.steps!.find((st) => st.id === 'patroni-config')!.title).to.match(/once Patroni runs \(GET \/config\)$/)
    expect(up.reconciled).to.equal(undefined)
    expect(up.steps!.find((st) => st.id === 'cloud')!.title).to.match(
      /atlas-audit-us, atlas-transactions-us, atlas-transactions-us-dlq, atlas-audit-eu/,
    )
    expect(up.steps!.find((st) => st.id === 'schema')!.title).to.match(/mint 100000 to each of 50 accounts/)
    expect(up.steps!.every((st) => !st.skip || st.id === 'monitoring')).to.equal(true)
  })

  it('with --provisioner terraform, shows the terraform commands it would run against moto', async () => {
    const result = await world.atlas(['up', '--dry-run', '--provisioner', 'terraform', '--json'])
    expect(result.exitCode, result.stderr).to.equal(0)
    const cloud = parseJsonOutput<UpResult>(result).steps!.find((st) => st.id === 'cloud')!
    expect(cloud.commands.map((c) => c.argv[2])).to.deep.equal(['init', 'apply', 'output'])
    expect(cloud.commands.every((c) => c.argv[0] === 'terraform' && /^-chdir=.*terraform$/.test(c.argv[1]))).to.equal(
      true,
    )
  })

  it('refuses to upgrade a world made without TLS in place (data, no CA), starting nothing', async () => {
    const {mkdir} = await import('node:fs/promises')
    const {default: path} = await import('node:path')
    await mkdir(path.join(world.baseDir, 'data', 'etcd-us'), {recursive: true})
    try {
      const result = await world.atlas(['up', '--json'])
      expect(result.exitCode, result.stderr).to.equal(3)
      const body = JSON.parse(result.stdout) as {error: {code: string; hint: string}}
      expect(body.error.code).to.equal('WORLD_WITHOUT_TLS')
      expect(body.error.hint).to.match(/atlas down --purge/)
      expect(await listeningPorts(world)).to.deep.equal([])
    } finally {
      await rm(world.baseDir, {recursive: true, force: true})
    }
  })
})
