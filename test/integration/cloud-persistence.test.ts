// The S3/SQS emulator keeps its state across `atlas down`/`atlas up` and across a
// crash of the emulator (SIGKILL), on real processes: audit records, uploaded
// reports, object versions and queue messages are there afterwards, and
// `verify --audit` passes. `down --purge` still removes everything.
import {expect} from 'chai'
import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {parseJsonOutput} from '../helpers/cli.js'
import {createTestWorld, runWorkload, type TestWorld} from '../helpers/world.js'

describe('local world: the S3/SQS emulator keeps its state (real moto, etcd, Patroni, PostgreSQL)', function () {
  this.timeout(300_000)
  let world: TestWorld
  const credentials = {accessKeyId: 'test', secretAccessKey: 'test'}
  const endpoint = () => `http://127.0.0.1:${world.basePort + 60}`

  async function clients() {
    const {S3Client} = await import('@aws-sdk/client-s3')
    const {SQSClient} = await import('@aws-sdk/client-sqs')
    return {
      s3: new S3Client({region: 'us-east-1', endpoint: endpoint(), credentials, forcePathStyle: true}),
      sqs: new SQSClient({region: 'eu-central-1', endpoint: endpoint(), credentials}),
    }
  }

  /** every key under prefix in bucket */
  async function keys(bucket: string, prefix: string): Promise<string[]> {
    const {ListObjectsV2Command} = await import('@aws-sdk/client-s3')
    const {s3} = await clients()
    const found: string[] = []
    try {
      let token: string | undefined
      do {
        const page = await s3.send(new ListObjectsV2Command({Bucket: bucket, Prefix: prefix, ContinuationToken: token}))
        for (const o of page.Contents ?? []) found.push(o.Key!)
        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
    } finally {
      s3.destroy()
    }

    return found
  }

  /** every bucket and every queue the emulator has, by name */
  async function inventory(): Promise<{buckets: string[]; queues: string[]}> {
    const {ListBucketsCommand} = await import('@aws-sdk/client-s3')
    const {ListQueuesCommand} = await import('@aws-sdk/client-sqs')
    const {s3, sqs} = await clients()
    try {
      const buckets = ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name!).sort()
      const queues = ((await sqs.send(new ListQueuesCommand({}))).QueueUrls ?? [])
        .map((u) => u.split('/').at(-1)!)
        .sort()
      return {buckets, queues}
    } finally {
      s3.destroy()
      sqs.destroy()
    }
  }

  async function verifyAudit(): Promise<{ok: boolean; summary: {transfers: number}; violations: unknown[]}> {
    const result = await world.atlas(['verify', '--ledger-balance', '--audit', '--json'])
    const json = parseJsonOutput<{ok: boolean; summary: {transfers: number}; violations: unknown[]}>(result)
    expect(result.exitCode, `${JSON.stringify(json.violations).slice(0, 2000)}\n${result.stderr}`).to.equal(0)
    return json
  }

  before(async () => {
    world = await createTestWorld('persist')
    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, up.stderr).to.equal(0)
  })

  after(async () => {
    await world?.destroy()
  })

  it('down + up: audit records, a report, object versions and a queue message are all still there; verify --audit exits 0', async () => {
    await runWorkload(world, 200, ['--audit'])
    const {PutObjectCommand, ListObjectVersionsCommand, GetObjectCommand} = await import('@aws-sdk/client-s3')
    const {SendMessageCommand, GetQueueUrlCommand, ReceiveMessageCommand} = await import('@aws-sdk/client-sqs')
    let {s3, sqs} = await clients()
    const report = 'reports/blast-radius/persist-test/report.json'
    let versionsBefore: string[]
    try {
      for (const body of ['{"round":1}', '{"round":2}'])
        await s3.send(
          new PutObjectCommand({Bucket: 'atlas-audit-us', Key: report, Body: body, ContentType: 'application/json'}),
        )
      versionsBefore = (
        (await s3.send(new ListObjectVersionsCommand({Bucket: 'atlas-audit-us', Prefix: report}))).Versions ?? []
      ).map((v) => v.VersionId!)
      const queueUrl = (await sqs.send(new GetQueueUrlCommand({QueueName: 'atlas-transactions-eu'}))).QueueUrl!
      await sqs.send(new SendMessageCommand({QueueUrl: queueUrl, MessageBody: '{"persist":"test"}'}))
    } finally {
      s3.destroy()
      sqs.destroy()
    }

    expect(versionsBefore).to.have.length(2)
    const auditUs = await keys('atlas-audit-us', 'transfers/')
    const auditEu = await keys('atlas-audit-eu', 'transfers/')
    expect(auditUs).to.have.length(200)
    // every bucket (audit buckets of both regions, the backup bucket) and every queue
    const inventoryBefore = await inventory()
    expect(inventoryBefore.buckets).to.include.members(['atlas-audit-us', 'atlas-audit-eu', 'atlas-backup-us'])
    expect(inventoryBefore.queues).to.include('atlas-transactions-eu')

    const down = await world.atlas(['down', '--json'])
    expect(down.exitCode, down.stderr).to.equal(0)
    expect(existsSync(path.join(world.baseDir, 'data', 'moto', 'snapshot.pickle'))).to.equal(true)
    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, up.stderr).to.equal(0)

    expect(await inventory()).to.deep.equal(inventoryBefore)
    expect(await keys('atlas-audit-us', 'transfers/')).to.deep.equal(auditUs)
    expect(await keys('atlas-audit-eu', 'transfers/')).to.deep.equal(auditEu)
    ;({s3, sqs} = await clients())
    try {
      // a clean stop writes a last snapshot: even the version ids are the same
      const versionsAfter = (
        (await s3.send(new ListObjectVersionsCommand({Bucket: 'atlas-audit-us', Prefix: report}))).Versions ?? []
      ).map((v) => v.VersionId!)
      expect(versionsAfter).to.deep.equal(versionsBefore)
      expect(
        await (await s3.send(new GetObjectCommand({Bucket: 'atlas-audit-us', Key: report}))).Body!.transformToString(),
      ).to.equal('{"round":2}')
      const queueUrl = (await sqs.send(new GetQueueUrlCommand({QueueName: 'atlas-transactions-eu'}))).QueueUrl!
      const messages =
        (await sqs.send(new ReceiveMessageCommand({QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})))
          .Messages ?? []
      expect(messages.map((m) => m.Body)).to.deep.equal(['{"persist":"test"}'])
    } finally {
      s3.destroy()
      sqs.destroy()
    }

    const verdict = await verifyAudit()
    expect(verdict.summary.transfers).to.equal(200)
  })

  it('a crash of the emulator (SIGKILL) loses no acknowledged write: up brings it back from snapshot + journal', async () => {
    await runWorkload(world, 150, ['--audit'])
    const before = await keys('atlas-audit-us', 'transfers/')
    expect(before).to.have.length(350)
    const pid = Number((await readFile(path.join(world.baseDir, 'run', 'moto.pid'), 'utf8')).trim())
    process.kill(-pid, 'SIGKILL')
    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, up.stderr).to.equal(0)
    expect(await keys('atlas-audit-us', 'transfers/')).to.deep.equal(before)
    const verdict = await verifyAudit()
    expect(verdict.summary.transfers).to.equal(350)
    const log = await readFile(path.join(world.baseDir, 'logs', 'moto.log'), 'utf8')
    expect(log).to.match(/replayed \d+ journalled requests/)
  })

  it('down --purge removes the emulator state too: the next up starts with empty buckets', async () => {
    const down = await world.atlas(['down', '--purge', '--yes', '--json'])
    expect(down.exitCode, down.stderr).to.equal(0)
    expect(existsSync(path.join(world.baseDir, 'data', 'moto'))).to.equal(false)
    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, up.stderr).to.equal(0)
    expect(await keys('atlas-audit-us', '')).to.deep.equal([])
  })
})
