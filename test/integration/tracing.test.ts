import type {S3Client} from '@aws-sdk/client-s3'
import type {SQSClient} from '@aws-sdk/client-sqs'

import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import path from 'node:path'

import {type AuditTarget, listAuditIds, readAuditRecord} from '../../src/lib/cloud/audit.js'
import {s3Client, sqsClient} from '../../src/lib/cloud/clients.js'
import {queueUrlByName, TransferQueue} from '../../src/lib/cloud/queue.js'
import {newTraceparent, traceIdOf} from '../../src/lib/model/trace-context.js'
import {LedgerTarget} from '../../src/lib/world/ledger-target.js'
import {REPO_ROOT} from '../helpers/cli.js'
import {createTestWorld, type TestWorld} from '../helpers/world.js'

async function until<T>(what: string, probe: () => Promise<false | T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

describe('tracing: one trace id per transfer, from the queue message to the audit record (real local world)', function () {
  this.timeout(600_000)
  let world: TestWorld
  let sqs: SQSClient
  let s3: S3Client
  let bucket: AuditTarget
  let queue: TransferQueue
  let service: ReturnType<typeof spawn> | undefined
  let serviceLog = ''

  before(async () => {
    world = await createTestWorld('tracing')
    const up = await world.atlas(['up', '--no-monitoring'], {timeoutMs: 400_000})
    expect(up.exitCode, up.stderr).to.equal(0)
    const target = new LedgerTarget(world.config, {})
    const us = target.region('us')
    const cloud = await target.cloud()
    const resources = await target.regionResources(us)
    sqs = await sqsClient(cloud, us.awsRegion)
    s3 = await s3Client(cloud, us.awsRegion)
    bucket = {s3, bucket: resources.auditBucket}
    queue = new TransferQueue(sqs, resources.queueUrl ?? (await queueUrlByName(sqs, resources.queueName)))
    // the built CLI's ledger service for region us, on the world's database, queue and buckets
    service = spawn(
      process.execPath,
      [path.join(REPO_ROOT, 'bin', 'run.js'), 'ledger', 'serve', '--region', 'us', '--wait-seconds', '1'],
      {
        cwd: world.dir,
        env: {...process.env, ATLAS_CONFIG: world.configFile, NO_COLOR: '1', OTEL_EXPORTER_OTLP_ENDPOINT: ''},
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    service.stderr!.on('data', (d) => (serviceLog += d))
    const port = await target.servicePort(us)
    await until(
      'the ledger service ready',
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => {}))?.status === 200,
      60_000,
    )
  })

  after(async () => {
    if (service && service.exitCode === null) {
      const exited = new Promise((resolve) => service!.once('exit', resolve))
      service.kill('SIGTERM')
      await exited
    }

    sqs?.destroy()
    s3?.destroy()
    await world?.destroy()
  })

  it('a transfer sent through the queue with a traceparent ends in an audit record carrying the same trace id', async () => {
    const request = {id: randomUUID(), from: 1, to: 2, amount: 7, originRegion: 'us'}
    const traceparent = newTraceparent()
    const sent = await queue.send(request, traceparent)
    expect(sent.ok, sent.reason).to.equal(true)
    const record = await until('the audit record', () => readAuditRecord(bucket, request.id))
    expect(record, serviceLog).to.include({id: request.id, from: 1, to: 2, amount: 7})
    expect(record.traceId).to.equal(traceIdOf(traceparent))
  })

  it('`atlas workload --via queue`: every transfer is audited under its own trace id', async () => {
    const before = new Set<string>()
    for await (const id of listAuditIds(bucket)) before.add(id)
    const run = await world.atlas([
      'workload',
      '--via',
      'queue',
      '--region',
      'us',
      '--count',
      '20',
      '--concurrency',
      '4',
    ])
    expect(run.exitCode, run.stderr).to.equal(0)
    const ids = await until('20 new audit records', async () => {
      const fresh: string[] = []
      for await (const id of listAuditIds(bucket)) if (!before.has(id)) fresh.push(id)
      return fresh.length >= 20 && fresh
    })
    expect(ids).to.have.length(20)
    const traceIds = await Promise.all(ids.map(async (id) => (await readAuditRecord(bucket, id))!.traceId))
    for (const traceId of traceIds) expect(traceId).to.match(/^[0-9a-f]{32}$/)
    expect(new Set(traceIds).size, 'one trace per transfer').to.equal(20)
  })
})
