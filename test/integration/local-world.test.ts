// The local world's lifecycle on real processes: up (timed), up again (no second
// world), status, down (no process, no listening port left).
import {expect} from 'chai'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {DownResult, UpResult, WorldStatus} from '../../src/lib/world/types.js'

import {parseJsonOutput} from '../helpers/cli.js'
import {createTestWorld, listeningPorts, processesIn, processesMentioning, type TestWorld} from '../helpers/world.js'

describe('local world lifecycle (real etcd, Patroni, PostgreSQL, moto)', function () {
  this.timeout(180_000)
  let world: TestWorld
  let firstUp: UpResult

  before(async () => {
    world = await createTestWorld('lifecycle')
    const result = await world.atlas(['up', '--json'])
    expect(result.exitCode, result.stderr).to.equal(0)
    firstUp = parseJsonOutput<UpResult>(result)
  })

  after(async () => {
    await world?.destroy()
  })

  it('comes up healthy with three regions, buckets and queues for the data regions only', () => {
    expect(firstUp.started).to.equal(true)
    expect(firstUp.driver).to.equal('local')
    // the target is 15 s; CI machines are slower, so fail only on something clearly wrong
    expect(firstUp.durationSeconds).to.be.below(45)
    console.log(`      atlas up took ${firstUp.durationSeconds.toFixed(1)} s`)
    expect(firstUp.regions.map((r) => r.region)).to.deep.equal(['us', 'eu', 'witness'])
    expect(firstUp.regions.find((r) => r.region === 'us')?.auditBucket).to.equal('atlas-audit-us')
    expect(firstUp.regions.find((r) => r.region === 'eu')?.queueUrl).to.match(/atlas-transactions-eu$/)
    expect(firstUp.regions.find((r) => r.region === 'witness')?.auditBucket).to.equal(undefined)
    // --json output never carries the database password
    // the ledger's least-privilege role, over TLS that verifies the server against the world's CA
    // each region on its own address: us 127.0.1.1, eu 127.0.2.1, witness 127.0.3.1
    for (const [i, r] of firstUp.regions.entries())
      expect(r.databaseUrl).to.match(
        new RegExp(
          `^postgres://atlas_ledger:\\*\\*\\*@127\\.0\\.${i + 1}\\.1:\\d+/postgres\\?sslmode=verify-full&sslrootcert=`,
        ),
      )
  })

  it('provisions the audit buckets and queues on moto with the settings terraform/modules/region declares', async () => {
    const {
      S3Client,
      GetBucketVersioningCommand,
      GetBucketEncryptionCommand,
      GetPublicAccessBlockCommand,
      GetBucketReplicationCommand,
    } = await import('@aws-sdk/client-s3')
    const {SQSClient, GetQueueAttributesCommand} = await import('@aws-sdk/client-sqs')
    const endpoint = `http://127.0.0.1:${world.basePort + 60}`
    const credentials = {accessKeyId: 'test', secretAccessKey: 'test'}
    const s3 = new S3Client({region: 'us-east-1', endpoint, credentials, forcePathStyle: true})
    const sqs = new SQSClient({region: 'eu-central-1', endpoint, credentials})
    try {
      expect((await s3.send(new GetBucketVersioningCommand({Bucket: 'atlas-audit-us'}))).Status).to.equal('Enabled')
      const sse = await s3.send(new GetBucketEncryptionCommand({Bucket: 'atlas-audit-us'}))
      expect(
        sse.ServerSideEncryptionConfiguration?.Rules?.[0].ApplyServerSideEncryptionByDefault?.SSEAlgorithm,
      ).to.equal('AES256')
      const pab = (await s3.send(new GetPublicAccessBlockCommand({Bucket: 'atlas-audit-us'})))
        .PublicAccessBlockConfiguration
      expect(pab).to.deep.include({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      })
      const replication = await s3.send(new GetBucketReplicationCommand({Bucket: 'atlas-audit-us'}))
      expect(replication.ReplicationConfiguration?.Rules?.[0].Destination?.Bucket).to.equal(
        'arn:aws:s3:::atlas-audit-eu',
      )
      const queueUrl = firstUp.regions.find((r) => r.region === 'eu')!.queueUrl!
      const attrs = (await sqs.send(new GetQueueAttributesCommand({QueueUrl: queueUrl, AttributeNames: ['All']})))
        .Attributes!
      expect(JSON.parse(attrs.RedrivePolicy!)).to.deep.equal({
        deadLetterTargetArn: 'arn:aws:sqs:eu-central-1:123456789012:atlas-transactions-eu-dlq',
        maxReceiveCount: 5,
      })
      expect(attrs.VisibilityTimeout).to.equal('30')
    } finally {
      s3.destroy()
      sqs.destroy()
    }
  })

  it('status shows every member alive, one Raft leader, the primary leading with two synchronous standbys', async () => {
    const result = await world.atlas(['status', '--json'])
    expect(result.exitCode, result.stderr).to.equal(0)
    const status = parseJsonOutput<WorldStatus>(result)
    expect(status.up).to.equal(true)
    const health = status.health!
    expect(health.writable).to.equal(true)
    expect(health.quorumHeld).to.equal(true)
    expect(health.leaderRegion).to.equal('us')
    const etcd = health.groups.find((g) => g.group === 'etcd')!
    expect(etcd.votersAlive).to.equal(3)
    expect(etcd.members.filter((m) => m.role === 'leader')).to.have.length(1)
    // steady state puts the Raft leader on the witness
    expect(etcd.leaderRegion).to.equal('witness')
    const pg = health.groups.find((g) => g.group === 'patroni')!
    expect(pg.members.map((m) => [m.region, m.detail?.patroniRole])).to.deep.equal([
      ['us', 'leader'],
      ['eu', 'sync_standby'],
      ['witness', 'sync_standby'],
    ])
    expect(pg.members.find((m) => m.region === 'witness')?.detail?.nofailover).to.equal(true)
    const text = await world.atlas(['status'])
    expect(text.stdout).to.match(/quorum held/)
    expect(text.stdout).to.match(/witness\s+etcd-witness alive\s+leader/)
  })

  it('lets nobody in without the right password: no trust line, a wrong or missing password is refused', async () => {
    const {default: postgres} = await import('postgres')
    const port = world.basePort + 2
    // over TLS (the only way in: test/integration/local-security.test.ts has the rest), as the ledger role
    for (const password of ['wrong-password', undefined]) {
      // us's PostgreSQL, on us's own address
      const sql = postgres({
        host: '127.0.1.1',
        port,
        user: 'atlas_ledger',
        database: 'postgres',
        password,
        ssl: 'require',
        max: 1,
        connect_timeout: 5,
        onnotice() {},
      })
      try {
        const error = (await sql`select 1`.catch((error_: unknown) => error_)) as {code?: string; message?: string}
        expect(error, `password ${password ?? '(none)'}`).to.be.instanceOf(Error)
        expect(error.code ?? error.message).to.match(/28P01|password/i)
      } finally {
        await sql.end({timeout: 1})
      }
    }

    for (const region of ['us', 'eu', 'witness']) {
      const hba = await readFile(path.join(world.baseDir, 'postgres', 'data', `pg-${region}`, 'pg_hba.conf'), 'utf8')
      expect(
        hba.split('\n').filter((l) => /^\s*[^#\s]/.test(l) && /\btrust\b/.test(l)),
        `trust lines in pg-${region}'s pg_hba.conf`,
      ).to.deep.equal([])
    }
  })

  it('dry runs of a running world say what runs, with the real PIDs', async () => {
    const pids = await pidFiles(world)
    const up = await world.atlas(['up', '--dry-run', '--json'])
    expect(up.exitCode, up.stderr).to.equal(0)
    const steps = parseJsonOutput<UpResult>(up).steps!
    expect(steps.find((st) => st.id === 'etcd-moto')!.skip).to.equal(
      `already running: etcd-us (pid ${pids['etcd-us']}), etcd-eu (pid ${pids['etcd-eu']}), etcd-witness (pid ${pids['etcd-witness']}), moto (pid ${pids.moto})`,
    )
    expect(steps.find((st) => st.id === 'patroni')!.skip).to.match(
      new RegExp(`patroni-us \\(pid ${pids['patroni-us']}\\)`),
    )
    expect(steps.find((st) => st.id === 'schema')!.skip).to.match(/done by an earlier `up`/)
    expect(parseJsonOutput<UpResult>(up).plan).to.deep.equal([])

    const down = await world.atlas(['down', '--dry-run', '--json'])
    expect(down.exitCode, down.stderr).to.equal(0)
    const argv = parseJsonOutput<DownResult>(down).plan!.map((c) => c.argv.join(' '))
    expect(argv).to.include.members(Object.values(pids).map((pid) => `kill -TERM -${pid}`))
    // the dry run stopped nothing
    expect(await pidFiles(world)).to.deep.equal(pids)
  })

  it('`atlas up` a second time reports the running world and starts nothing', async () => {
    const pidsBefore = await pidFiles(world)
    const result = await world.atlas(['up', '--json'])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(parseJsonOutput<UpResult>(result).started).to.equal(false)
    expect(await pidFiles(world)).to.deep.equal(pidsBefore)
    // still exactly one etcd member per region and one Patroni per region
    const procs = await processesMentioning(world.baseDir)
    expect(procs.filter((p) => /\betcd --name/.test(p.cmdline))).to.have.length(3)
    // one Patroni per region, each under its software watchdog
    expect(
      procs.filter(
        (p) => /patroni-loopback\.py \S*patroni-\w+\.yml/.test(p.cmdline) && !p.cmdline.includes('patroni-softdog.py'),
      ),
    ).to.have.length(3)
    expect(procs.filter((p) => p.cmdline.includes('patroni-softdog.py'))).to.have.length(3)
  })

  it('`atlas up` restarts a member that died and cleans its stale pid file', async () => {
    const pids = await pidFiles(world)
    process.kill(-pids['etcd-eu'], 'SIGKILL')
    const result = await world.atlas(['up', '--json'])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(parseJsonOutput<UpResult>(result).started).to.equal(true)
    const after = await pidFiles(world)
    expect(after['etcd-eu']).to.not.equal(pids['etcd-eu'])
    expect(after['patroni-us']).to.equal(pids['patroni-us'])
  })

  it('`atlas down` stops everything: no process and no listening port is left', async () => {
    const result = await world.atlas(['down', '--json'])
    expect(result.exitCode, result.stderr).to.equal(0)
    const down = parseJsonOutput<DownResult>(result)
    expect(down.stopped).to.include.members([
      'patroni-us',
      'patroni-eu',
      'patroni-witness',
      'moto',
      'etcd-us',
      'etcd-eu',
      'etcd-witness',
    ])
    expect(await processesMentioning(world.baseDir)).to.deep.equal([])
    // moto's command line does not name the world, its working directory does
    expect(await processesIn(world.dir)).to.deep.equal([])
    expect(await listeningPorts(world)).to.deep.equal([])
    const afterDown = await world.atlas(['status', '--json'])
    expect(afterDown.exitCode, 'status of a world that is down').to.equal(3)
    expect(parseJsonOutput<WorldStatus>(afterDown).up).to.equal(false)
  })
})

async function pidFiles(world: TestWorld): Promise<Record<string, number>> {
  const names = ['etcd-us', 'etcd-eu', 'etcd-witness', 'moto', 'patroni-us', 'patroni-eu', 'patroni-witness']
  const out: Record<string, number> = {}
  for (const name of names)
    out[name] = Number((await readFile(path.join(world.baseDir, 'run', `${name}.pid`), 'utf8')).trim())
  return out
}
