import type {S3Client} from '@aws-sdk/client-s3'
import type {SQSClient} from '@aws-sdk/client-sqs'

import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {
  AuditLog,
  auditRecordExists,
  type AuditTarget,
  deleteAuditRecord,
  readAuditRecord,
} from '../../src/lib/cloud/audit.js'
import {emulatorEndpoint, s3Client, sqsClient} from '../../src/lib/cloud/clients.js'
import {type ProvisionedRegion, provisionRegion} from '../../src/lib/cloud/provision.js'
import {encodeTransferMessage, TransferQueue} from '../../src/lib/cloud/queue.js'
import {connectLedger, type LedgerSql} from '../../src/lib/ledger/db.js'
import {LEDGER_METRICS} from '../../src/lib/ledger/metrics.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import {LedgerService} from '../../src/lib/ledger/service.js'
import {verifyLedger} from '../../src/lib/ledger/verify/index.js'
import {runWorkload} from '../../src/lib/ledger/workload/index.js'
import {startMoto, type TestMoto} from '../helpers/moto.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

const ROOT = path.resolve(import.meta.dirname, '..', '..')
const MAX_RECEIVES = 3

async function until<T>(what: string, probe: () => Promise<false | T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('ledger service: SQS consumer, audit log, metrics (real PostgreSQL + moto)', function () {
  this.timeout(180_000)
  let pg: TestPostgres
  let moto: TestMoto
  let sql: LedgerSql
  let tmp: string
  let sqs: SQSClient
  let s3us: S3Client
  let s3eu: S3Client
  let us: ProvisionedRegion
  let eu: ProvisionedRegion
  let buckets: Record<string, AuditTarget>
  let service: LedgerService
  let serviceUrl: string
  let queue: TransferQueue

  before(async () => {
    ;[pg, moto] = await Promise.all([startPostgres(), startMoto()])
    tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-serve-test-'))
    sql = await connectLedger(pg.url, {max: 6})
    await initLedger(sql, {accounts: 20, openingBalance: 10_000, allowNegativeBalances: false})
    const cloud = emulatorEndpoint(moto.endpoint)
    us = await provisionRegion(
      cloud,
      'test',
      {name: 'us', awsRegion: 'us-east-1'},
      {maxReceiveCount: MAX_RECEIVES, visibilityTimeoutSeconds: 5},
    )
    eu = await provisionRegion(
      cloud,
      'test',
      {name: 'eu', awsRegion: 'eu-central-1'},
      {maxReceiveCount: MAX_RECEIVES, visibilityTimeoutSeconds: 5},
    )
    sqs = await sqsClient(cloud, 'us-east-1')
    s3us = await s3Client(cloud, 'us-east-1')
    s3eu = await s3Client(cloud, 'eu-central-1')
    buckets = {us: {s3: s3us, bucket: us.auditBucket}, eu: {s3: s3eu, bucket: eu.auditBucket}}
    queue = new TransferQueue(sqs, us.queueUrl)
    service = new LedgerService({
      region: 'us',
      sql,
      queue,
      audit: new AuditLog(buckets.us, [buckets.eu]),
      waitSeconds: 1,
      httpPort: 0,
      retryDelaySeconds: 1,
      log: process.env.ATLAS_TEST_DEBUG ? (line) => console.error(new Date().toISOString(), line) : undefined,
    })
    serviceUrl = (await service.start()).httpUrl
  })

  after(async () => {
    await service?.stop()
    await sql?.end({timeout: 1})
    sqs?.destroy()
    s3us?.destroy()
    s3eu?.destroy()
    await Promise.all([pg?.stop(), moto?.stop()])
    if (tmp) await rm(tmp, {recursive: true, force: true})
  })

  it('serves /healthz, /readyz and the four ledger metrics', async () => {
    expect((await fetch(`${serviceUrl}/healthz`)).status).to.equal(200)
    await until('ready', async () => (await fetch(`${serviceUrl}/readyz`)).status === 200)
    const metrics = await (await fetch(`${serviceUrl}/metrics`)).text()
    for (const name of Object.values(LEDGER_METRICS)) expect(metrics).to.include(`# TYPE ${name} `)
  })

  it('the same message delivered twice is applied once, and audited in both buckets', async () => {
    const request = {id: randomUUID(), from: 3, to: 4, amount: 25, originRegion: 'us'}
    const before = {...service.stats}
    await queue.sendRaw(encodeTransferMessage(request))
    await queue.sendRaw(encodeTransferMessage(request))
    await until(
      'both deliveries handled',
      async () => service.stats.committed + service.stats.duplicates - before.committed - before.duplicates >= 2,
    )
    expect(service.stats.committed - before.committed).to.equal(1)
    expect(service.stats.duplicates - before.duplicates).to.equal(1)
    const rows = await sql.unsafe('SELECT id FROM transfers WHERE id = $1', [request.id])
    expect(rows).to.have.length(1)
    const balances = await sql.unsafe('SELECT id, balance::int AS balance FROM accounts WHERE id IN (3, 4) ORDER BY id')
    expect(balances.map((r) => r.balance)).to.deep.equal([9975, 10_025])
    expect(await auditRecordExists(buckets.us, request.id)).to.equal(true)
    expect(await auditRecordExists(buckets.eu, request.id)).to.equal(true)
    // sent without trace context: the service started a trace of its own and audited its id
    expect((await readAuditRecord(buckets.us, request.id))?.traceId).to.match(/^[0-9a-f]{32}$/)
    const metrics = await (await fetch(`${serviceUrl}/metrics`)).text()
    expect(metrics).to.match(/atlas_transfers_total\{region="us",outcome="committed"\} [1-9]/)
    expect(metrics).to.match(/atlas_transfers_total\{region="us",outcome="duplicate"\} [1-9]/)
  })

  it(`a malformed message reaches the dead-letter queue after ${MAX_RECEIVES} receives while the service keeps applying others`, async () => {
    const {ReceiveMessageCommand, DeleteMessageCommand} = await import('@aws-sdk/client-sqs')
    const poison = `not a transfer ${randomUUID()}`
    await queue.sendRaw(poison)
    const dead = await until(
      'the poison message in the DLQ',
      async () => {
        const got = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: us.deadLetterQueueUrl,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
        )
        return got.Messages?.find((m) => m.Body === poison)
      },
      60_000,
    )
    await sqs.send(new DeleteMessageCommand({QueueUrl: us.deadLetterQueueUrl, ReceiptHandle: dead.ReceiptHandle!}))
    expect(service.stats.malformed).to.be.at.least(MAX_RECEIVES)
    // still running and applying
    const request = {id: randomUUID(), from: 5, to: 6, amount: 1, originRegion: 'us'}
    await queue.sendRaw(encodeTransferMessage(request))
    await until(
      'the next transfer applied',
      async () => (await sql.unsafe('SELECT 1 FROM transfers WHERE id = $1', [request.id])).length === 1,
    )
    expect((await fetch(`${serviceUrl}/healthz`)).status).to.equal(200)
  })

  it('workload --via queue: every sent request is applied and audited; verify --audit passes, then fails on a missing record', async () => {
    const runDir = path.join(tmp, 'queue-run')
    const result = await runWorkload({via: 'queue', queue, sql, count: 60, concurrency: 4, runDir, originRegion: 'us'})
    expect(result.stats.sent).to.equal(60)
    await until(
      'all applied',
      async () => (await verifyLedger({sql, runLogs: [runDir]})).summary.runLogIds!.sentNotApplied === 0,
    )
    // the two transfers of the earlier tests are not in this run log: verify audit without it
    const audit = {buckets, replication: [{from: 'us', to: 'eu'}], timeoutMs: 5000, pollIntervalMs: 200}
    const passing = await verifyLedger({sql, audit})
    expect(passing.ok, JSON.stringify(passing.violations)).to.equal(true)
    expect(passing.summary.audit!.checked).to.equal(62)

    const [{id: victim}] = await sql.unsafe('SELECT id FROM transfers ORDER BY id LIMIT 1 OFFSET 10')
    await deleteAuditRecord(buckets.us, victim)
    const failing = await verifyLedger({sql, audit: {...audit, timeoutMs: 500}})
    expect(failing.ok).to.equal(false)
    expect(failing.violations).to.deep.equal([
      {
        kind: 'audit_missing',
        message: `transfer ${victim} is committed but has no audit record in region us's bucket`,
        ids: [victim],
      },
    ])
    // and through the CLI: exit 4 naming the id
    const cli = await atlasCli(
      ['verify', '--ledger-balance', '--db', pg.url, '--audit', '--audit-timeout', '500ms', '--json'],
      {
        ATLAS_CONFIG: await writeConfig(),
        AWS_ENDPOINT_URL: moto.endpoint,
      },
    )
    expect(cli.code, cli.stderr).to.equal(4)
    const json = JSON.parse(cli.stdout)
    expect(json.violations.map((v: {ids: string[]}) => v.ids[0])).to.deep.equal([victim])
  })

  it('the database SIGKILLed under the service: it pauses, then applies every request once it is back; nothing reaches the DLQ', async () => {
    const {ReceiveMessageCommand} = await import('@aws-sdk/client-sqs')
    const requests = Array.from({length: 20}, (_, i) => ({
      id: randomUUID(),
      from: 9 + (i % 3),
      to: 12 + (i % 3),
      amount: 1,
      originRegion: 'us',
    }))
    await pg.kill('SIGKILL')
    for (const r of requests.slice(0, 10)) await queue.sendRaw(encodeTransferMessage(r))
    await new Promise((r) => setTimeout(r, 1500))
    await pg.restart()
    for (const r of requests.slice(10)) await queue.sendRaw(encodeTransferMessage(r))
    await until(
      'all 20 applied',
      async () => {
        const rows = await sql
          .unsafe("SELECT count(*)::int AS n FROM transfers WHERE id::text = ANY(string_to_array($1, ','))", [
            requests.map((r) => r.id).join(','),
          ])
          .catch(() => [{n: 0}])
        return rows[0].n === 20
      },
      60_000,
    )
    const dlq = await sqs.send(
      new ReceiveMessageCommand({QueueUrl: us.deadLetterQueueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10}),
    )
    expect(dlq.Messages ?? []).to.deep.equal([])
    await until('ready again', async () => (await fetch(`${serviceUrl}/readyz`)).status === 200)
    for (const r of requests) expect(await auditRecordExists(buckets.us, r.id), r.id).to.equal(true)
  })

  it('`atlas ledger serve` exits 0 on SIGTERM after a clean shutdown', async () => {
    const {freePort} = await import('../../src/lib/proc/index.js')
    const port = await freePort()
    const script = `
      const {handle} = await import('@oclif/core')
      const {default: Command} = await import(${JSON.stringify(path.join(ROOT, 'src/commands/ledger/serve.ts'))})
      try { await Command.run(process.argv.slice(1), ${JSON.stringify(ROOT)}) } catch (error) { await handle(error) }
    `
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
        '--',
        '--region',
        'us',
        '--db',
        pg.url,
        '--endpoint',
        moto.endpoint,
        '--queue-url',
        us.queueUrl,
        '--audit-bucket',
        us.auditBucket,
        '--port',
        String(port),
        '--wait-seconds',
        '1',
        '--no-replicate-audit',
        '--json',
      ],
      {cwd: ROOT, env: {...process.env, ATLAS_CONFIG: await writeConfig()}, stdio: ['ignore', 'pipe', 'pipe']},
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const exited = new Promise<null | number>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      await until(
        'serve is healthy',
        async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => {}))?.status === 200,
        30_000,
      )
      const request = {id: randomUUID(), from: 7, to: 8, amount: 2, originRegion: 'us'}
      await queue.sendRaw(encodeTransferMessage(request))
      await until(
        'applied by the CLI service',
        async () => (await sql.unsafe('SELECT 1 FROM transfers WHERE id = $1', [request.id])).length === 1,
      )
    } finally {
      child.kill('SIGTERM')
    }

    expect(await exited, stderr).to.equal(0)
    expect(stderr).to.include('SIGTERM: shutting down')
    expect(JSON.parse(stdout).region).to.equal('us')
  })

  it("`atlas ledger serve`: the region's port of the world's block, ready before the first long poll returns, one start line; a busy port exits 3; Ctrl-C exits 130", async () => {
    const {freePort} = await import('../../src/lib/proc/index.js')
    const {parseConfigText} = await import('../../src/lib/config/load.js')
    const {localLayout} = await import('../../src/lib/world/local/layout.js')
    const basePort = (await freePort()) - 4
    const {writeFile} = await import('node:fs/promises')
    const configFile = path.join(tmp, 'serve-port.yaml')
    const text = `driver: local\nnamePrefix: test\nregions:\n  - {name: us, awsRegion: us-east-1, role: primary}\n  - {name: eu, awsRegion: eu-central-1, role: secondary}\nlocal: {baseDir: ${JSON.stringify(path.join(tmp, 'serve-port'))}, basePort: ${basePort}}\n`
    await writeFile(configFile, text)
    const port = localLayout(parseConfigText(text, configFile), path.join(tmp, 'serve-port')).regions[0].servicePort
    const serve = () => {
      const child = spawn(
        process.execPath,
        [
          path.join(ROOT, 'bin', 'run.js'),
          'ledger',
          'serve',
          '--region',
          'us',
          '--db',
          pg.url,
          '--endpoint',
          moto.endpoint,
          '--queue-url',
          us.queueUrl,
          '--audit-bucket',
          us.auditBucket,
          '--wait-seconds',
          '20',
          '--no-replicate-audit',
        ],
        {
          cwd: ROOT,
          env: {...process.env, ATLAS_CONFIG: configFile, NO_COLOR: '1'},
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      const out = {
        stdout: '',
        stderr: '',
        exited: new Promise<null | number>((resolve) => child.once('exit', (code) => resolve(code))),
      }
      child.stdout.on('data', (d) => (out.stdout += d))
      child.stderr.on('data', (d) => (out.stderr += d))
      return {child, out}
    }

    const first = serve()
    try {
      const started = Date.now()
      await until(
        "ready on the world's port",
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => {}))?.status === 200,
        15_000,
      )
      expect(Date.now() - started, 'ready well before a 20 s long poll returns').to.be.lessThan(10_000)
      const second = serve()
      expect(await second.out.exited, second.out.stderr).to.equal(3)
      expect(second.out.stderr).to.contain(`Error: port 127.0.0.1:${port} is already in use`)
      expect(second.out.stderr).to.match(/Hint: is a ledger service for region us already running\?/)
    } finally {
      first.child.kill('SIGINT')
    }

    expect(await first.out.exited, first.out.stderr).to.equal(130)
    expect(first.out.stderr.match(/listening on/g), first.out.stderr).to.have.length(1)
    expect(first.out.stderr).to.contain(`listening on http://127.0.0.1:${port}`)
  })

  async function writeConfig(): Promise<string> {
    const {writeFile} = await import('node:fs/promises')
    const file = path.join(tmp, 'atlas.yaml')
    await writeFile(
      file,
      `namePrefix: test\nregions:\n  - {name: us, awsRegion: us-east-1, role: primary}\n  - {name: eu, awsRegion: eu-central-1, role: secondary}\n  - {name: witness, awsRegion: us-west-2, role: witness}\nlocal: {baseDir: ${JSON.stringify(path.join(tmp, 'base'))}}\n`,
    )
    return file
  }
})

function atlasCli(
  args: string[],
  env: Record<string, string>,
): Promise<{code: number; stderr: string; stdout: string}> {
  const script = `
    const {handle} = await import('@oclif/core')
    const {default: Command} = await import(${JSON.stringify(path.join(ROOT, 'src', 'commands', `${args[0]}.ts`))})
    try { await Command.run(${JSON.stringify(args.slice(1))}, ${JSON.stringify(ROOT)}) } catch (error) { await handle(error) }
  `
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      env: {...process.env, ...env},
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.once('exit', (code) => resolve({code: code ?? 1, stdout, stderr}))
  })
}
