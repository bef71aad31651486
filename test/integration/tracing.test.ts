import type {S3Client} from '@aws-sdk/client-s3'
import type {SQSClient} from '@aws-sdk/client-sqs'

import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import path from 'node:path'

import {type AuditTarget, readAuditRecord} from '../../src/lib/cloud/audit.js'
import {s3Client, sqsClient} from '../../src/lib/cloud/clients.js'
import {decodeTransferMessage, queueUrlByName, TransferQueue} from '../../src/lib/cloud/queue.js'
import {newTraceparent, parseTraceparent, traceIdOf} from '../../src/lib/model/trace-context.js'
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
  let servicePort: number
  /** transfers sent by the tests themselves, not by a workload */
  const sentByTest = new Set<string>()

  /** the built CLI's ledger service for region us, on the world's database, queue and buckets */
  const startService = async () => {
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
    await until(
      'the ledger service ready',
      async () => (await fetch(`http://127.0.0.1:${servicePort}/readyz`).catch(() => {}))?.status === 200,
      60_000,
    )
  }

  const stopService = async () => {
    if (service && service.exitCode === null) {
      const exited = new Promise((resolve) => service!.once('exit', resolve))
      service.kill('SIGTERM')
      await exited
    }
  }

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
    servicePort = await target.servicePort(us)
    await startService()
  })

  after(async () => {
    await stopService()
    sqs?.destroy()
    s3?.destroy()
    await world?.destroy()
  })

  it('a transfer sent through the queue with a traceparent ends in an audit record carrying the same trace id', async () => {
    const request = {id: randomUUID(), from: 1, to: 2, amount: 7, originRegion: 'us'}
    const traceparent = newTraceparent()
    sentByTest.add(request.id)
    const sent = await queue.send(request, traceparent)
    expect(sent.ok, sent.reason).to.equal(true)
    const record = await until('the audit record', () => readAuditRecord(bucket, request.id))
    expect(record, serviceLog).to.include({id: request.id, from: 1, to: 2, amount: 7})
    expect(record.traceId).to.equal(traceIdOf(traceparent))
  })

  it('`atlas workload --via queue`: each transfer leaves with a traceparent of its own in its SQS message attributes, and its audit record carries that trace id', async () => {
    // the service stopped: the workload's messages wait in the queue, where their attributes are read as sent
    await stopService()
    // its last long poll (--wait-seconds 1), aborted by the client, still runs in the emulator for up to 1 s and
    // would take messages sent meanwhile out of sight for the queue's visibility timeout (the full run saw 20
    // messages not come back within 30 s): wait it out before the workload sends
    await new Promise((r) => setTimeout(r, 2000))
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
    const {ReceiveMessageCommand} = await import('@aws-sdk/client-sqs')
    const sentTrace = new Map<string, string>()
    const receipts: string[] = []
    await until('the 20 messages in the queue', async () => {
      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queue.queueUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          VisibilityTimeout: 60,
          WaitTimeSeconds: 1,
        }),
      )
      for (const message of received.Messages ?? []) {
        receipts.push(message.ReceiptHandle!)
        const request = decodeTransferMessage(message.Body)!
        if (sentByTest.has(request.id)) continue
        const traceparent = message.MessageAttributes?.traceparent?.StringValue
        expect(parseTraceparent(traceparent), `${request.id}: W3C traceparent attribute`).to.not.equal(undefined)
        sentTrace.set(request.id, traceIdOf(traceparent!))
      }

      return sentTrace.size >= 20
    })
    expect(sentTrace.size).to.equal(20)
    expect(new Set(sentTrace.values()).size, 'one trace per transfer').to.equal(20)
    // back into the queue, and the service on again: it continues each trace into the audit record
    for (const receipt of receipts) await queue.release(receipt, 0)
    await startService()
    for (const [id, traceId] of sentTrace) {
      const record = await until(`the audit record of ${id}`, () => readAuditRecord(bucket, id))
      expect(record.traceId, `${id}: the trace id it was sent with`).to.equal(traceId)
    }
  })
})
