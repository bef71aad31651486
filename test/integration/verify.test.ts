import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {VerifyResult} from '../../src/lib/ledger/verify/index.js'

import {AuditLog} from '../../src/lib/cloud/audit.js'
import {emulatorEndpoint, s3Client} from '../../src/lib/cloud/clients.js'
import {provisionRegion} from '../../src/lib/cloud/provision.js'
import {connectLedger, type LedgerSql} from '../../src/lib/ledger/db.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import {runWorkload} from '../../src/lib/ledger/workload/index.js'
import {startMoto} from '../helpers/moto.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

const ROOT = path.resolve(import.meta.dirname, '..', '..')

/**
 * Runs an atlas command from the TypeScript sources (the command class itself,
 * through oclif's error handling), so the exit code is what `atlas` would return.
 */
function atlas(
  args: string[],
  env: Record<string, string> = {},
): Promise<{code: number; stderr: string; stdout: string}> {
  const [id, ...rest] = args[0] === 'ledger' ? [`ledger/${args[1]}`, ...args.slice(2)] : args
  const script = `
    const {handle} = await import('@oclif/core')
    const {default: Command} = await import(${JSON.stringify(path.join(ROOT, 'src', 'commands', `${id}.ts`))})
    try { await Command.run(${JSON.stringify(rest)}, ${JSON.stringify(ROOT)}) } catch (error) { await handle(error) }
  `
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {cwd: ROOT, env: {...process.env, ATLAS_CONFIG: '', ...env}, timeout: 60_000},
      (error, stdout, stderr) => {
        resolve({code: error ? ((error as {code?: number}).code ?? 1) : 0, stdout, stderr})
      },
    )
  })
}

/**
 * Stores a transfer nobody attempted (3 from account 1 to account 2) and moves the balances with it, so
 * conservation and replay still hold and only the run logs can tell: returns its id.
 */
async function injectPhantom(sql: LedgerSql): Promise<string> {
  const phantom = randomUUID()
  await sql.begin(async (tx) => {
    await tx.unsafe(
      "INSERT INTO transfers (id, from_account, to_account, amount, origin_region) VALUES ($1, 1, 2, 3, 'us')",
      [phantom],
    )
    await tx.unsafe('UPDATE accounts SET balance = balance - 3 WHERE id = 1')
    await tx.unsafe('UPDATE accounts SET balance = balance + 3 WHERE id = 2')
  })
  return phantom
}

describe('atlas verify --ledger-balance (CLI, real PostgreSQL)', function () {
  this.timeout(180_000)
  let pg: TestPostgres
  let tmp: string
  let database = 0

  /** a fresh database with a finished workload: returns its URL, a pool and the run dir */
  async function ledgerAfterWorkload(
    count = 200,
    audit?: AuditLog,
    accounts = 10,
  ): Promise<{acked: string[]; runDir: string; sql: LedgerSql; url: string}> {
    database++
    const admin = await connectLedger(pg.url, {max: 1})
    await admin.unsafe(`CREATE DATABASE verify_${database}`)
    await admin.end({timeout: 1})
    const url = pg.url.replace(/\/postgres$/, `/verify_${database}`)
    const sql = await connectLedger(url, {max: 4})
    await initLedger(sql, {accounts, openingBalance: 10_000, allowNegativeBalances: false})
    const runDir = path.join(tmp, `run-${database}`)
    const acked: string[] = []
    await runWorkload({
      db: url,
      count,
      concurrency: 4,
      runDir,
      originRegion: 'us',
      ...(audit ? {audit} : {}),
      onOutcome: (e) => e.outcome === 'applied' && acked.push(e.id),
    })
    return {url, sql, runDir, acked}
  }

  before(async () => {
    pg = await startPostgres()
    tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-verify-test-'))
  })

  after(async () => {
    await pg?.stop()
    if (tmp) await rm(tmp, {recursive: true, force: true})
  })

  it('exits 0 with --json when every invariant holds', async () => {
    const {url, sql, runDir} = await ledgerAfterWorkload()
    await sql.end({timeout: 1})
    const result = await atlas(['verify', '--ledger-balance', '--db', url, '--run-dir', runDir, '--json'])
    expect(result.code, result.stderr).to.equal(0)
    const json = JSON.parse(result.stdout)
    expect(json.ok).to.equal(true)
    expect(json.summary.transfers).to.equal(200)
    expect(json.violations).to.deep.equal([])
  })

  it('a hand-corrupted balance: exit 4, conservation and replay name the account', async () => {
    const {url, sql, runDir} = await ledgerAfterWorkload()
    await sql.unsafe('UPDATE accounts SET balance = balance + 5 WHERE id = 7')
    await sql.end({timeout: 1})
    const result = await atlas(['verify', '--ledger-balance', '--db', url, '--run-dir', runDir, '--json'])
    expect(result.code).to.equal(4)
    const json = JSON.parse(result.stdout)
    expect(json.ok).to.equal(false)
    const kinds = json.violations.map((v: {kind: string}) => v.kind)
    expect(kinds).to.include.members(['conservation', 'replay'])
    const replay = json.violations.find((v: {kind: string}) => v.kind === 'replay')
    expect(replay.accounts).to.deep.equal([7])
    expect(replay.message).to.match(/off by 5/)
    expect(json.violations.find((v: {kind: string}) => v.kind === 'conservation').message).to.match(/created 5/)
  })

  it('a deleted acknowledged transfer: exit 4, "lost" names its id (text output too)', async () => {
    const {url, sql, runDir, acked} = await ledgerAfterWorkload()
    const victim = acked[17]
    // delete the transfer and undo its effect on the balances, so only durability can notice
    const [row] = await sql.unsafe('DELETE FROM transfers WHERE id = $1 RETURNING from_account, to_account, amount', [
      victim,
    ])
    await sql.unsafe('UPDATE accounts SET balance = balance + $2 WHERE id = $1', [row.from_account, row.amount])
    await sql.unsafe('UPDATE accounts SET balance = balance - $2 WHERE id = $1', [row.to_account, row.amount])
    await sql.end({timeout: 1})
    const result = await atlas(['verify', '--ledger-balance', '--db', url, '--run-dir', runDir])
    expect(result.code).to.equal(4)
    expect(result.stdout).to.match(/^VIOLATED/)
    expect(result.stdout).to.include(`[lost] transfer ${victim} was acknowledged to the client but is not stored`)
    expect(result.stdout).to.match(/✓ conservation/)
    expect(result.stdout).to.match(/✗ durability/)
  })

  it('an injected phantom transfer: exit 4, "phantom" names its id', async () => {
    const {url, sql, runDir} = await ledgerAfterWorkload()
    const phantom = await injectPhantom(sql)
    await sql.end({timeout: 1})
    const result = await atlas(['verify', '--ledger-balance', '--db', url, '--run-dir', runDir, '--json'])
    expect(result.code).to.equal(4)
    const json = JSON.parse(result.stdout)
    expect(json.violations).to.deep.equal([
      {
        kind: 'phantom',
        message: `transfer ${phantom} is stored but no client attempted it (it is in none of the 1 run log(s) read)`,
        ids: [phantom],
      },
    ])
    expect(json.summary.runLogs.files).to.deep.equal([path.join(runDir, 'transfers.log')])
    expect(json.checks.find((c: {name: string}) => c.name === 'replay').ok).to.equal(true)
  })

  /** changes a stored transfer's column and moves the balances so that conservation and replay still hold */
  async function alterTransfer(
    sql: LedgerSql,
    id: string,
    change: {amount?: number; from?: number; to?: number},
  ): Promise<{amount: number; from: number; to: number}> {
    return sql.begin(async (tx) => {
      const [t] = await tx.unsafe('SELECT from_account, to_account, amount FROM transfers WHERE id = $1', [id])
      const before = {from: Number(t.from_account), to: Number(t.to_account), amount: Number(t.amount)}
      const after = {...before, ...change}
      // undo the original transfer, apply the altered one
      await tx.unsafe('UPDATE accounts SET balance = balance + $2 WHERE id = $1', [before.from, before.amount])
      await tx.unsafe('UPDATE accounts SET balance = balance - $2 WHERE id = $1', [before.to, before.amount])
      await tx.unsafe('UPDATE transfers SET from_account = $2, to_account = $3, amount = $4 WHERE id = $1', [
        id,
        after.from,
        after.to,
        after.amount,
      ])
      await tx.unsafe('UPDATE accounts SET balance = balance - $2 WHERE id = $1', [after.from, after.amount])
      await tx.unsafe('UPDATE accounts SET balance = balance + $2 WHERE id = $1', [after.to, after.amount])
      return before
    }) as Promise<{amount: number; from: number; to: number}>
  }

  for (const field of ['amount', 'to', 'from'] as const) {
    it(`an acknowledged transfer whose ${field} was altered (balances adjusted to match): exit 4, "altered" names the transfer and the field`, async () => {
      const {url, sql, runDir, acked} = await ledgerAfterWorkload()
      const victim = acked[11]
      const [t] = await sql.unsafe('SELECT from_account, to_account, amount FROM transfers WHERE id = $1', [victim])
      // another account, neither of the two (10 accounts: one of 1..3 is free)
      const other = [1, 2, 3].find((a) => a !== Number(t.from_account) && a !== Number(t.to_account))!
      const before = await alterTransfer(
        sql,
        victim,
        field === 'amount' ? {amount: Number(t.amount) + 1000} : {[field]: other},
      )
      await sql.end({timeout: 1})
      const result = await atlas(['verify', '--ledger-balance', '--db', url, '--run-dir', runDir, '--json'])
      expect(result.code, result.stderr).to.equal(4)
      const json = JSON.parse(result.stdout)
      expect(
        json.checks.find((c: {name: string}) => c.name === 'replay').ok,
        'balances were adjusted: replay holds',
      ).to.equal(true)
      expect(json.checks.find((c: {name: string}) => c.name === 'conservation').ok).to.equal(true)
      const altered = json.violations.filter((v: {kind: string}) => v.kind === 'altered')
      expect(altered).to.have.length(1)
      expect(altered[0].ids).to.deep.equal([victim])
      expect(altered[0].fields).to.deep.equal([field])
      expect(altered[0].message).to.include(
        `the client sent from ${before.from} to ${before.to} amount ${before.amount}`,
      )
      expect(json.checks.find((c: {name: string}) => c.name === 'integrity')).to.deep.include({
        ok: false,
        violations: 1,
      })
    })
  }

  it('--audit: the S3 audit record still holds the original of an altered transfer: exit 4, "audit_mismatch" names the field (also without a run log)', async () => {
    const moto = await startMoto()
    try {
      const cloud = emulatorEndpoint(moto.endpoint)
      const us = await provisionRegion(cloud, 'test', {name: 'us', awsRegion: 'us-east-1'})
      const eu = await provisionRegion(cloud, 'test', {name: 'eu', awsRegion: 'eu-central-1'})
      const audit = new AuditLog({s3: await s3Client(cloud, 'us-east-1'), bucket: us.auditBucket}, [
        {s3: await s3Client(cloud, 'eu-central-1'), bucket: eu.auditBucket},
      ])
      const {url, sql, runDir, acked} = await ledgerAfterWorkload(40, audit)
      audit.destroy()
      const victim = acked[5]
      const [t] = await sql.unsafe('SELECT amount FROM transfers WHERE id = $1', [victim])
      await alterTransfer(sql, victim, {amount: Number(t.amount) + 7})
      await sql.end({timeout: 1})
      const configFile = path.join(tmp, 'audit-atlas.yaml')
      await writeFile(
        configFile,
        `namePrefix: test\nregions:\n  - {name: us, awsRegion: us-east-1, role: primary}\n  - {name: eu, awsRegion: eu-central-1, role: secondary}\n  - {name: witness, awsRegion: us-west-2, role: witness}\nlocal: {baseDir: ${JSON.stringify(path.join(tmp, 'audit-base'))}}\n`,
      )
      const env = {ATLAS_CONFIG: configFile, AWS_ENDPOINT_URL: moto.endpoint}
      const withLog = await atlas(
        ['verify', '--ledger-balance', '--db', url, '--run-dir', runDir, '--audit', '--json'],
        env,
      )
      expect(withLog.code, withLog.stderr).to.equal(4)
      const json = JSON.parse(withLog.stdout)
      expect(
        json.violations.map((v: {fields: string[]; ids: string[]; kind: string}) => [v.kind, v.ids, v.fields]),
      ).to.have.deep.members([
        ['altered', [victim], ['amount']],
        ['audit_mismatch', [victim], ['amount']],
        ['audit_mismatch', [victim], ['amount']],
      ])
      expect(
        json.violations
          .filter((v: {kind: string}) => v.kind === 'audit_mismatch')
          .map((v: {message: string}) => v.message.match(/region (\w+)'s bucket/)![1])
          .sort(),
      ).to.deep.equal(['eu', 'us'])
      // the audit records alone tell too
      const auditOnly = await atlas(['verify', '--ledger-balance', '--db', url, '--audit', '--json'], env)
      expect(auditOnly.code, auditOnly.stderr).to.equal(4)
      expect(JSON.parse(auditOnly.stdout).violations.map((v: {kind: string}) => v.kind)).to.deep.equal([
        'audit_mismatch',
        'audit_mismatch',
      ])
    } finally {
      await moto.stop()
    }
  })

  it('an id reused with different content (the second request was answered "already applied"): exit 4, "id_reused"', async () => {
    const {url, sql, runDir} = await ledgerAfterWorkload(20)
    const {transfer} = await import('../../src/lib/ledger/transfer.js')
    const {RunLogWriter} = await import('../../src/lib/ledger/runlog-writer.js')
    const id = randomUUID()
    const first = {id, from: 1, to: 2, amount: 5, originRegion: 'us'}
    const second = {id, from: 1, to: 3, amount: 5, originRegion: 'us'}
    const log = new RunLogWriter(path.join(tmp, `reused-${database}`))
    for (const request of [first, second]) {
      log.attempt(request)
      log.outcome(id, (await transfer(sql, request)).outcome)
    }

    log.close()
    await sql.end({timeout: 1})
    const result = await atlas([
      'verify',
      '--ledger-balance',
      '--db',
      url,
      '--run-dir',
      runDir,
      '--run-dir',
      path.dirname(log.file),
      '--json',
    ])
    expect(result.code, result.stderr).to.equal(4)
    const json = JSON.parse(result.stdout)
    expect(json.violations.map((v: {ids: string[]; kind: string}) => [v.kind, v.ids])).to.deep.equal([
      ['id_reused', [id]],
    ])
    expect(json.violations[0].message).to.include('from 1 to 2 amount 5').and.to.include('from 1 to 3 amount 5')
  })

  it('a duplicated transfer (uniqueness lost): exit 4, "duplicate" names its id', async () => {
    const {url, sql, runDir, acked} = await ledgerAfterWorkload()
    const twice = acked[3]
    await sql.unsafe('ALTER TABLE transfers DROP CONSTRAINT transfers_pkey')
    await sql.begin(async (tx) => {
      const [t] = await tx.unsafe('SELECT from_account, to_account, amount FROM transfers WHERE id = $1', [twice])
      await tx.unsafe(
        'INSERT INTO transfers (id, from_account, to_account, amount, origin_region) SELECT id, from_account, to_account, amount, origin_region FROM transfers WHERE id = $1',
        [twice],
      )
      await tx.unsafe('UPDATE accounts SET balance = balance - $2 WHERE id = $1', [t.from_account, t.amount])
      await tx.unsafe('UPDATE accounts SET balance = balance + $2 WHERE id = $1', [t.to_account, t.amount])
    })
    // also when the stored transfers are copied into partitions (a big run log): the second copy is a duplicate, not a phantom
    const {verifyLedger} = await import('../../src/lib/ledger/verify/index.js')
    const split = await verifyLedger({sql, runLogs: [runDir], partitionIds: 5})
    expect(split.violations.map((v) => [v.kind, v.ids])).to.deep.include(['duplicate', [twice]])
    expect(split.violationCounts.phantom).to.equal(undefined)
    await sql.end({timeout: 1})
    for (const withLog of [true, false]) {
      const result = await atlas([
        'verify',
        '--ledger-balance',
        '--db',
        url,
        '--json',
        ...(withLog ? ['--run-dir', runDir] : []),
      ])
      expect(result.code, `with run log: ${withLog}`).to.equal(4)
      const json = JSON.parse(result.stdout)
      const duplicates = json.violations.filter((v: {kind: string}) => v.kind === 'duplicate')
      expect(duplicates.length, `with run log: ${withLog}`).to.be.greaterThan(0)
      expect(duplicates[0].ids).to.deep.equal([twice])
    }
  })

  it('a negative balance where forbidden: exit 4, names the account', async () => {
    const {url, sql} = await ledgerAfterWorkload(20)
    await sql.unsafe('ALTER TABLE accounts DROP CONSTRAINT accounts_balance_not_negative')
    const [{balance}] = await sql.unsafe('SELECT balance FROM accounts WHERE id = 4')
    await sql.unsafe('UPDATE accounts SET balance = balance - $1 WHERE id = 4', [Number(balance) + 1])
    await sql.unsafe('UPDATE accounts SET balance = balance + $1 WHERE id = 5', [Number(balance) + 1])
    await sql.end({timeout: 1})
    const result = await atlas(['verify', '--ledger-balance', '--db', url, '--json'])
    expect(result.code).to.equal(4)
    const json = JSON.parse(result.stdout)
    expect(json.violations.find((v: {kind: string}) => v.kind === 'negative_balance').accounts).to.deep.equal([4])
  })

  it('big run logs are partitioned by id prefix with the same verdict (lost and phantom found across partitions)', async () => {
    const {sql, runDir, acked} = await ledgerAfterWorkload(300)
    const {verifyLedger} = await import('../../src/lib/ledger/verify/index.js')
    const whole = await verifyLedger({sql, runLogs: [runDir]})
    // a partition target of 5 ids forces 16 (or 256) partitions
    const split = await verifyLedger({sql, runLogs: [runDir], partitionIds: 5, perRowJoin: true})
    expect(split.ok).to.equal(true)
    expect(split.summary).to.deep.equal(whole.summary)
    const victim = acked[42]
    const [row] = await sql.unsafe('DELETE FROM transfers WHERE id = $1 RETURNING from_account, to_account, amount', [
      victim,
    ])
    const phantom = randomUUID()
    await sql.unsafe(
      "INSERT INTO transfers (id, from_account, to_account, amount, origin_region) VALUES ($1, $2, $3, $4, 'us')",
      [phantom, row.from_account, row.to_account, row.amount],
    )
    const altered = acked[77]
    await alterTransfer(sql, altered, {amount: 999})
    const verdict = await verifyLedger({sql, runLogs: [runDir], partitionIds: 5})
    await sql.end({timeout: 1})
    expect(verdict.violations.map((v) => [v.kind, v.ids])).to.have.deep.members([
      ['lost', [victim]],
      ['phantom', [phantom]],
      ['altered', [altered]],
    ])
    expect(verdict.checks.find((c) => c.name === 'replay')!.ok).to.equal(true)
  })

  it('the run-log join (binary COPY, ids as 128-bit keys) finds a lost acknowledged id, unknown ids committed and not, a mismatch and a damaged id, whole and partitioned', async () => {
    const {sql, runDir, acked} = await ledgerAfterWorkload(200)
    const {transfer} = await import('../../src/lib/ledger/transfer.js')
    const {RunLogWriter} = await import('../../src/lib/ledger/runlog-writer.js')
    const {verifyLedger} = await import('../../src/lib/ledger/verify/index.js')
    const lost = acked[9]
    const [row] = await sql.unsafe('DELETE FROM transfers WHERE id = $1 RETURNING from_account, to_account, amount', [
      lost,
    ])
    await sql.unsafe('UPDATE accounts SET balance = balance + $2 WHERE id = $1', [row.from_account, row.amount])
    await sql.unsafe('UPDATE accounts SET balance = balance - $2 WHERE id = $1', [row.to_account, row.amount])
    const altered = acked[23]
    const before = await alterTransfer(sql, altered, {amount: 4321})
    // a second client whose answers were lost: one of its requests committed, one did not
    const log = new RunLogWriter(path.join(tmp, `unknown-${database}`))
    const committed = {id: randomUUID().toUpperCase(), from: 1, to: 2, amount: 3, originRegion: 'us'}
    const notCommitted = {id: randomUUID(), from: 2, to: 1, amount: 4, originRegion: 'us'}
    log.attempt(committed)
    expect((await transfer(sql, {...committed, id: committed.id.toLowerCase()})).outcome).to.equal('applied')
    log.outcome(committed.id, 'unknown', 'connection reset')
    log.attempt(notCommitted)
    log.outcome(notCommitted.id, 'unknown', 'connection reset')
    // a damaged line: 36 characters that are not a UUID, acknowledged
    const damaged = 'zzzzzzzz-not-a-uuid-but-36-chars-xyz'
    log.outcome(damaged, 'applied')
    log.close()
    const runLogs = [runDir, path.dirname(log.file)]
    const whole = await verifyLedger({sql, runLogs})
    const split = await verifyLedger({sql, runLogs, partitionIds: 5})
    await sql.end({timeout: 1})
    for (const verdict of [whole, split]) {
      expect(verdict.violations.map((v) => [v.kind, v.ids])).to.have.deep.members([
        ['lost', [lost]],
        ['lost', [damaged]],
        ['altered', [altered]],
      ])
      expect(verdict.violations.find((v) => v.kind === 'altered')!.message).to.equal(
        `transfer ${altered} is stored as from ${before.from} to ${before.to} amount 4321, but the client sent from ${before.from} to ${before.to} amount ${before.amount} (amount differs)`,
      )
      expect(verdict.summary.runLogIds).to.deep.include({
        attempted: 203,
        acknowledged: 201,
        unknown: 2,
        unknownCommitted: 1,
        unknownNotCommitted: 1,
      })
      expect(verdict.summary.integrity!.comparedWithRequest).to.equal(200)
      expect(verdict.checks.filter((c) => !c.ok).map((c) => c.name)).to.have.members(['durability', 'integrity'])
    }

    expect(split.summary).to.deep.equal(whole.summary)
  })

  /** a verdict without its timing, to compare two ways of reaching it */
  const verdictOf = (v: VerifyResult) => ({...v, durationSeconds: 0})

  /** verify with the digests allowed (and what its progress said), and the per-row join forced, on the same ledger */
  async function digestAndJoin(sql: LedgerSql, runLogs: string[]) {
    const {verifyLedger} = await import('../../src/lib/ledger/verify/index.js')
    const said: string[] = []
    const fast = await verifyLedger({sql, runLogs, onProgress: (m) => said.push(m)})
    const join = await verifyLedger({sql, runLogs, perRowJoin: true})
    return {fast, join, said: said.join('\n')}
  }

  it('the digest fast path: a plain run log is decided by count and hash sum, with the verdict and summary of the per-row join', async () => {
    const {sql, runDir} = await ledgerAfterWorkload(200)
    const {fast, join, said} = await digestAndJoin(sql, [runDir])
    await sql.end({timeout: 1})
    expect(said).to.include(
      'run logs: 200 acknowledged requests, exactly the stored transfers (count and hash sum agree)',
    )
    expect(fast.ok).to.equal(true)
    expect(verdictOf(fast)).to.deep.equal(verdictOf(join))
    expect(fast.summary.runLogIds).to.deep.include({attempted: 200, acknowledged: 200})
    expect(fast.summary.integrity).to.deep.equal({comparedWithRequest: 200, comparedWithAudit: 0})
  })

  it('the digest fast path hands over to the per-row join, which names the ids: a lost id, a changed amount, a phantom, a failed request committed, unknown outcomes', async () => {
    const {transfer} = await import('../../src/lib/ledger/transfer.js')
    const {RunLogWriter} = await import('../../src/lib/ledger/runlog-writer.js')
    const faults: Array<{
      /** what the fast path's progress must say */
      handedOver: RegExp
      /** breaks the ledger or adds run logs: returns the violations expected and the extra run logs */
      inject(
        sql: LedgerSql,
        acked: string[],
      ): Promise<{extraLogs?: string[]; summary?: Record<string, number>; violations: Array<[string, string[]]>}>
      name: string
    }> = [
      {
        name: 'lost',
        handedOver: /differ from the acknowledged requests/,
        async inject(sql, acked) {
          const [row] = await sql.unsafe(
            'DELETE FROM transfers WHERE id = $1 RETURNING from_account, to_account, amount',
            [acked[5]],
          )
          await sql.unsafe('UPDATE accounts SET balance = balance + $2 WHERE id = $1', [row.from_account, row.amount])
          await sql.unsafe('UPDATE accounts SET balance = balance - $2 WHERE id = $1', [row.to_account, row.amount])
          return {violations: [['lost', [acked[5]]]]}
        },
      },
      {
        // the count still agrees: only the hash sum tells
        name: 'amount changed',
        handedOver: /differ from the acknowledged requests/,
        async inject(sql, acked) {
          const {amount} = await alterTransfer(sql, acked[8], {amount: 7777})
          expect(amount).to.not.equal(7777)
          return {violations: [['altered', [acked[8]]]]}
        },
      },
      {
        name: 'phantom',
        handedOver: /differ from the acknowledged requests/,
        async inject(sql) {
          return {violations: [['phantom', [await injectPhantom(sql)]]]}
        },
      },
      {
        name: 'failed but committed, unknown committed and not',
        handedOver: /outcomes other than acknowledgements/,
        async inject(sql) {
          const log = new RunLogWriter(path.join(tmp, `faults-${database}`))
          const failed = {id: randomUUID(), from: 1, to: 2, amount: 5, originRegion: 'us'}
          const unknownCommitted = {id: randomUUID(), from: 2, to: 3, amount: 6, originRegion: 'us'}
          const unknownNot = {id: randomUUID(), from: 3, to: 4, amount: 7, originRegion: 'us'}
          for (const request of [failed, unknownCommitted, unknownNot]) log.attempt(request)
          expect((await transfer(sql, failed)).outcome).to.equal('applied')
          expect((await transfer(sql, unknownCommitted)).outcome).to.equal('applied')
          log.outcome(failed.id, 'failed', 'retries exhausted')
          log.outcome(unknownCommitted.id, 'unknown', 'connection reset')
          log.outcome(unknownNot.id, 'unknown', 'connection reset')
          log.close()
          return {
            extraLogs: [path.dirname(log.file)],
            summary: {unknown: 2, unknownCommitted: 1, unknownNotCommitted: 1, notCommitted: 1},
            violations: [['committed_despite_failure', [failed.id]]],
          }
        },
      },
    ]
    for (const fault of faults) {
      const {sql, runDir, acked} = await ledgerAfterWorkload(100)
      const {extraLogs = [], summary = {}, violations} = await fault.inject(sql, acked)
      const {fast, join, said} = await digestAndJoin(sql, [runDir, ...extraLogs])
      await sql.end({timeout: 1})
      expect(said, fault.name).to.match(fault.handedOver)
      expect(said, fault.name).to.not.include('exactly the stored transfers')
      expect(fast.ok, fault.name).to.equal(false)
      expect(
        fast.violations.map((v) => [v.kind, v.ids]),
        fault.name,
      ).to.have.deep.members(violations)
      expect(fast.summary.runLogIds, fault.name).to.deep.include(summary)
      expect(verdictOf(fast), fault.name).to.deep.equal(verdictOf(join))
    }
  })

  it("the run log's trailer: the same verdicts as reading every line, on a good ledger and on damaged ones; a trailer that does not hold is read past", async () => {
    const {verifyLedger} = await import('../../src/lib/ledger/verify/index.js')
    const {TRAILER_KIND} = await import('../../src/lib/ledger/verify/digest.js')
    /** what must agree: the verdict, each check, the violations and the run-log counters */
    const outcome = (v: VerifyResult) => ({
      ok: v.ok,
      checks: v.checks,
      violations: v.violations,
      counts: v.violationCounts,
      runLogIds: v.summary.runLogIds,
      transfers: v.summary.transfers,
    })
    /** verify reading the run log in `dir` (trailer or not), and the per-row join over it; returns what progress said */
    async function verifyBoth(sql: LedgerSql, dir: string, name: string) {
      const said: string[] = []
      const fast = await verifyLedger({sql, runLogs: [dir], onProgress: (m) => said.push(m)})
      const join = await verifyLedger({sql, runLogs: [dir], perRowJoin: true})
      expect(outcome(fast), name).to.deep.equal(outcome(join))
      return {fast, said: said.join('\n')}
    }

    /** a copy of the run log as `change` leaves it, in a run directory of its own */
    async function variant(runDir: string, name: string, change: (text: string) => string): Promise<string> {
      const text = await readFile(path.join(runDir, 'transfers.log'), 'utf8')
      const dir = path.join(tmp, `variant-${database}-${name.replaceAll(/\W+/g, '-')}`)
      await mkdir(dir, {recursive: true})
      await writeFile(path.join(dir, 'transfers.log'), change(text))
      return dir
    }

    const withoutTrailer = (text: string) => text.slice(0, text.trimEnd().lastIndexOf('\n') + 1)
    const fromTrailer = /run logs: [1-9]\d* bytes summed up by their writers' trailers, 0 bytes read/
    const read = /run logs: 0 bytes summed up by their writers' trailers, [1-9]\d* bytes read/

    // a good ledger: every variant of its run log gives the verdict of the per-row join
    const good = await ledgerAfterWorkload(150)
    const text = await readFile(path.join(good.runDir, 'transfers.log'), 'utf8')
    expect(text.trimEnd().split('\n').at(-1)).to.match(new RegExp(`^# ${TRAILER_KIND} \\{"from":0,`))
    const intact = await verifyBoth(good.sql, good.runDir, 'intact')
    expect(intact.fast.ok).to.equal(true)
    expect(intact.said).to.match(fromTrailer)
    expect(intact.said).to.include('run logs: 150 acknowledged requests, exactly the stored transfers')
    const lastId = text
      .match(/^attempt\t([^\t]+)/gm)!
      .at(-1)!
      .slice('attempt\t'.length)
    const logVariants: Array<[string, (t: string) => string, boolean]> = [
      ['without its trailer', withoutTrailer, true],
      ['an acknowledgement appended after the trailer', (t) => t + `applied\t${good.acked[3]}\t1\n`, true],
      ['a comment appended after the trailer', (t) => `${t}# note\n`, true],
      ['the trailer cut short', (t) => `${t.slice(0, -30)}\n`, true],
      [
        'a sum in the trailer changed',
        (t) => t.replace(/"requests":"(\d+)"/, (_, n) => `"requests":"${BigInt(n) ^ 1n}"`),
        true,
      ],
      ["the trailer's range changed", (t) => t.replace(/"from":0/, '"from":1'), true],
      // the log cut short: the transfers whose lines are gone are phantoms now
      [
        'the last transfer removed, trailer kept',
        (t) =>
          t
            .split('\n')
            .filter((line) => !line.includes(lastId))
            .join('\n'),
        false,
      ],
      ['cut in the middle', (t) => t.slice(0, t.indexOf('\n', Math.floor(t.length / 2)) + 1), false],
    ]
    for (const [name, change, ok] of logVariants) {
      const {fast, said} = await verifyBoth(good.sql, await variant(good.runDir, name, change), name)
      expect(fast.ok, name).to.equal(ok)
      expect(said, name).to.match(read)
      if (!ok) expect(new Set(fast.violations.map((v) => v.kind)), name).to.deep.equal(new Set(['phantom']))
    }

    await good.sql.end({timeout: 1})

    // damaged ledgers: the trailer and the lines read say the same, and the join names the ids
    const damages: Array<[string, (sql: LedgerSql, acked: string[]) => Promise<Array<[string, string[]]>>]> = [
      [
        'a lost acknowledged transfer',
        async (sql, acked) => {
          const [row] = await sql.unsafe(
            'DELETE FROM transfers WHERE id = $1 RETURNING from_account, to_account, amount',
            [acked[5]],
          )
          await sql.unsafe('UPDATE accounts SET balance = balance + $2 WHERE id = $1', [row.from_account, row.amount])
          await sql.unsafe('UPDATE accounts SET balance = balance - $2 WHERE id = $1', [row.to_account, row.amount])
          return [['lost', [acked[5]]]]
        },
      ],
      ['a phantom', async (sql) => [['phantom', [await injectPhantom(sql)]]]],
      [
        'an altered amount',
        async (sql, acked) => {
          await alterTransfer(sql, acked[8], {amount: 7777})
          return [['altered', [acked[8]]]]
        },
      ],
    ]
    for (const [name, damage] of damages) {
      const {sql, runDir, acked} = await ledgerAfterWorkload(100)
      const violations = await damage(sql, acked)
      const withTrailer = await verifyBoth(sql, runDir, name)
      const without = await verifyBoth(sql, await variant(runDir, name, withoutTrailer), `${name}, no trailer`)
      await sql.end({timeout: 1})
      expect(withTrailer.said, name).to.match(fromTrailer)
      expect(without.said, name).to.match(read)
      expect(withTrailer.fast.ok, name).to.equal(false)
      expect(
        withTrailer.fast.violations.map((v) => [v.kind, v.ids]),
        name,
      ).to.have.deep.members(violations)
      expect(outcome(withTrailer.fast), name).to.deep.equal(outcome(without.fast))
    }
  })

  it('more accounts than one replay statement takes: the hash sum is a statement of its own beside the replay chunks, with the same verdicts', async () => {
    const {ACCOUNT_CHUNK} = await import('../../src/lib/ledger/verify/model.js')
    const {sql, runDir, acked} = await ledgerAfterWorkload(60, undefined, ACCOUNT_CHUNK + 5)
    const plain = await digestAndJoin(sql, [runDir])
    expect(plain.said).to.include(
      'run logs: 60 acknowledged requests, exactly the stored transfers (count and hash sum agree)',
    )
    expect(plain.fast.ok).to.equal(true)
    expect(plain.fast.summary.accounts).to.equal(ACCOUNT_CHUNK + 5)
    expect(verdictOf(plain.fast)).to.deep.equal(verdictOf(plain.join))
    await alterTransfer(sql, acked[3], {amount: 4242})
    const altered = await digestAndJoin(sql, [runDir])
    await sql.end({timeout: 1})
    expect(altered.said).to.match(/differ from the acknowledged requests/)
    expect(altered.fast.violations.map((v) => [v.kind, v.ids])).to.deep.equal([['altered', [acked[3]]]])
    expect(verdictOf(altered.fast)).to.deep.equal(verdictOf(altered.join))
  })

  it("the client's fused transfer hash is the server's TRANSFER_HASH at the edges of int8's 32-bit halves and of exact doubles", async () => {
    const {TRANSFER_HASH} = await import('../../src/lib/ledger/sql.js')
    const {hashed, hashRequest, hashUuidText} = await import('../../src/lib/ledger/verify/digest.js')
    const {parsedRequest} = await import('../../src/lib/ledger/verify/runlog-scan.js')
    // account ids and amounts: 0 and 1, around 2^31 and 2^32 (where the high half starts), the largest exact double,
    // and negatives (the schema refuses them for amounts; hashint8extended folds the high half in with ~ for them)
    const edges = [
      0,
      1,
      2 ** 31 - 1,
      2 ** 31,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 32 + 1,
      2 ** 53 - 1,
      -1,
      -(2 ** 32),
      -(2 ** 53 - 1),
    ]
    const ids: string[] = []
    const values: number[][] = []
    for (const from of edges)
      for (const to of edges)
        for (const amount of edges) {
          ids.push(randomUUID())
          values.push([from, to, amount])
        }

    ids[0] = '00000000-0000-0000-0000-000000000000'
    ids[1] = 'ffffffff-ffff-ffff-ffff-ffffffffffff'
    const sql = await connectLedger(pg.url, {max: 1})
    // each column as one comma-separated text parameter (postgres.js sends parameters as text)
    const column = (field: number) => values.map((v) => String(v[field])).join(',')
    const rows = await sql.unsafe(
      `SELECT (${TRANSFER_HASH})::text AS hash
       FROM unnest(string_to_array($1, ',')::uuid[], string_to_array($2, ',')::int8[], string_to_array($3, ',')::int8[],
         string_to_array($4, ',')::int8[]) WITH ORDINALITY AS t(id, from_account, to_account, amount, n)
       ORDER BY n`,
      [ids.join(','), column(0), column(1), column(2)],
    )
    await sql.end({timeout: 1})
    expect(rows.length).to.equal(edges.length ** 3)
    const mismatches: string[] = []
    for (const [i, row] of rows.entries()) {
      expect(hashUuidText(Buffer.from(ids[i]), 0)).to.equal(true)
      parsedRequest.set(values[i])
      hashRequest()
      const client = BigInt.asIntN(64, (BigInt(hashed[0]) << 32n) | BigInt(hashed[1])).toString()
      if (client !== row.hash) mismatches.push(`${ids[i]} ${values[i].join(' ')}: server ${row.hash}, client ${client}`)
    }

    expect(mismatches).to.deep.equal([])
  })

  it('a server that refuses the digest statement (no EXECUTE on uuid_hash_extended, as CockroachDB has none): the per-row join decides', async () => {
    const {sql, url, runDir} = await ledgerAfterWorkload(100)
    const {verifyLedger} = await import('../../src/lib/ledger/verify/index.js')
    const join = await verifyLedger({sql, runLogs: [runDir], perRowJoin: true})
    await sql.unsafe('CREATE ROLE verify_no_hash LOGIN')
    await sql.unsafe('GRANT SELECT ON ALL TABLES IN SCHEMA public TO verify_no_hash')
    // per database: this test's own
    await sql.unsafe('REVOKE EXECUTE ON FUNCTION uuid_hash_extended(uuid, bigint) FROM PUBLIC')
    await sql.end({timeout: 1})
    const said: string[] = []
    const verdict = await verifyLedger({
      db: url.replace('//atlas@', '//verify_no_hash@'),
      runLogs: [runDir],
      onProgress: (m) => said.push(m),
    })
    expect(said.join('\n')).to.match(
      /the server refused the hash sum \(permission denied for function uuid_hash_extended\)/,
    )
    expect(said.join('\n')).to.not.include('hash sum agree')
    expect(verdict.ok).to.equal(true)
    expect(verdictOf(verdict)).to.deep.equal(verdictOf(join))
  })

  it('ledger init and workload through the CLI: idempotent init, --json alone on stdout, progress on stderr', async () => {
    const admin = await connectLedger(pg.url, {max: 1})
    await admin.unsafe('CREATE DATABASE cli_flow')
    await admin.end({timeout: 1})
    const url = pg.url.replace(/\/postgres$/, '/cli_flow')
    const first = await atlas(['ledger', 'init', '--db', url, '--accounts', '12', '--opening-balance', '500', '--json'])
    expect(first.code, first.stderr).to.equal(0)
    expect(JSON.parse(first.stdout)).to.deep.include({minted: true, migrationsApplied: [1]})
    const again = await atlas(['ledger', 'init', '--db', url, '--accounts', '12', '--opening-balance', '500', '--json'])
    expect(JSON.parse(again.stdout)).to.deep.include({minted: false, migrationsApplied: []})
    const different = await atlas(['ledger', 'init', '--db', url, '--accounts', '13', '--opening-balance', '500'])
    expect(different.code).to.equal(3)
    expect(different.stderr).to.match(/already minted with different settings/)

    const runDir = path.join(tmp, 'cli-flow-run')
    const workload = await atlas([
      'workload',
      '--db',
      url,
      '--count',
      '150',
      '--concurrency',
      '3',
      '--run-dir',
      runDir,
      '--no-audit',
      '--json',
    ])
    expect(workload.code, workload.stderr).to.equal(0)
    const result = JSON.parse(workload.stdout)
    expect(result.stats.attempted).to.equal(150)
    // direct to the database, four transfers in flight on each connection unless --pipeline says
    expect(result.pipeline).to.equal(4)
    expect(result.runLog).to.equal(path.join(runDir, 'transfers.log'))
    const verdict = await atlas(['verify', '--db', url, '--run-dir', runDir, '--json'])
    expect(verdict.code).to.equal(0)
    expect(JSON.parse(verdict.stdout).summary.runLogIds.acknowledged).to.equal(result.stats.acknowledged)
    const text = await atlas([
      'workload',
      '--db',
      url,
      '--count',
      '30',
      '--concurrency',
      '3',
      '--run-dir',
      path.join(tmp, 'text-run'),
      '--no-audit',
    ])
    expect(text.code).to.equal(0)
    expect(text.stderr).to.include('workload: 3 connections to the database, 4 transfers in flight on each')
    expect(text.stdout).to.match(/^30 attempted: \d+ acknowledged/)
    // the password of a URL never reaches --json output
    const masked = await atlas([
      'workload',
      '--db',
      url.replace('atlas@', 'atlas:hunter22@'),
      '--count',
      '1',
      '--run-dir',
      path.join(tmp, 'masked'),
      '--no-audit',
      '--json',
    ])
    expect(masked.stdout).to.not.include('hunter22')
    expect(JSON.parse(masked.stdout).database).to.match(/atlas:\*\*\*@/)
  })

  it("by default every run log of the world's ledger is read: no false phantoms from a run log left out, none from another ledger's", async () => {
    const {url, sql} = await ledgerAfterWorkload(0)
    await sql.end({timeout: 1})
    const other = await ledgerAfterWorkload(0)
    await other.sql.end({timeout: 1})
    const baseDir = path.join(tmp, 'world-runs')
    const runsDir = path.join(baseDir, 'runs')
    const configFile = path.join(tmp, 'world-runs.yaml')
    await writeFile(
      configFile,
      `regions:\n  - {name: us, awsRegion: us-east-1, role: primary}\n  - {name: eu, awsRegion: eu-central-1, role: secondary}\n  - {name: witness, awsRegion: us-west-2, role: witness}\nlocal: {baseDir: ${JSON.stringify(baseDir)}}\n`,
    )
    const env = {ATLAS_CONFIG: configFile}
    // issue 15.1: a workload in the default run dir, then a second one (as blast-radius runs it) in runs/fresh-blast
    const first = await atlas(['workload', '--db', url, '--count', '100', '--no-audit', '--json'], env)
    expect(first.code, first.stdout + first.stderr).to.equal(0)
    const firstLog = JSON.parse(first.stdout).runLog as string
    expect(path.dirname(path.dirname(firstLog))).to.equal(runsDir)
    const freshBlast = path.join(runsDir, 'fresh-blast')
    expect(
      (await atlas(['workload', '--db', url, '--count', '20', '--no-audit', '--run-dir', freshBlast], env)).code,
    ).to.equal(0)
    // a run log of another ledger in the same runs dir: read, its acknowledged transfers would be "lost"
    expect(
      (
        await atlas(
          [
            'workload',
            '--db',
            other.url,
            '--count',
            '10',
            '--no-audit',
            '--run-dir',
            path.join(runsDir, 'other-ledger'),
          ],
          env,
        )
      ).code,
    ).to.equal(0)

    const verdict = await atlas(['verify', '--ledger-balance', '--db', url, '--run-dir', freshBlast, '--json'], env)
    expect(verdict.code, verdict.stdout).to.equal(0)
    const {summary} = JSON.parse(verdict.stdout)
    expect(summary.runLogs.files).to.have.members([path.join(freshBlast, 'transfers.log'), firstLog])
    expect(summary.runLogs.skipped.map((s: {file: string}) => s.file)).to.deep.equal([
      path.join(runsDir, 'other-ledger', 'transfers.log'),
    ])
    expect(summary.runLogs.skipped[0].reason).to.match(/another ledger/)
    expect(summary.runLogIds.attempted).to.equal(120)

    // narrower only when asked: the phantoms then say which logs were read and how to add one
    const narrow = await atlas(
      ['verify', '--ledger-balance', '--db', url, '--run-dir', freshBlast, '--only-run-dir'],
      env,
    )
    expect(narrow.code).to.equal(4)
    expect(narrow.stdout).to.include(`run logs read (1): ${path.join(freshBlast, 'transfers.log')}`)
    expect(narrow.stdout).to.match(
      /\[phantom\] transfer [0-9a-f-]{36} is stored but no client attempted it \(it is in none of the 1 run log\(s\) read\)/,
    )
    expect(narrow.stdout).to.include('pass its --run-dir')

    // a workload whose --run-dir is outside <baseDir>/runs records it in the runs index: found by default
    const elsewhere = path.join(tmp, 'elsewhere-run')
    expect(
      (await atlas(['workload', '--db', url, '--count', '15', '--no-audit', '--run-dir', elsewhere], env)).code,
    ).to.equal(0)
    const all = await atlas(['verify', '--ledger-balance', '--db', url, '--json'], env)
    expect(all.code, all.stdout).to.equal(0)
    expect(JSON.parse(all.stdout).summary.runLogs.files).to.include(path.join(elsewhere, 'transfers.log'))
    expect(JSON.parse(all.stdout).summary.runLogIds.attempted).to.equal(135)
  })

  it('a frozen database (SIGSTOP): verify ends with exit 3 within --timeout, naming the host, instead of waiting (CLI: a new connection)', async () => {
    const {url, sql, runDir} = await ledgerAfterWorkload(20)
    await sql.end({timeout: 1})
    await pg.kill('SIGSTOP')
    try {
      const started = Date.now()
      const result = await atlas([
        'verify',
        '--ledger-balance',
        '--db',
        url,
        '--run-dir',
        runDir,
        '--timeout',
        '2s',
        '--json',
      ])
      expect(result.code, result.stdout + result.stderr).to.equal(3)
      expect(Date.now() - started, 'gave up near the bound').to.be.below(20_000)
      const {error} = JSON.parse(result.stdout)
      expect(error.code).to.equal('DATABASE_NOT_ANSWERING')
      expect(error.message).to.equal(
        `the database server 127.0.0.1:${pg.port} did not answer within 2 s (reading the mint record)`,
      )
    } finally {
      await pg.kill('SIGCONT')
    }
  })

  it('a database frozen under an open connection: the statement is bounded too, and progress is reported while waiting', async () => {
    const {url, sql, runDir} = await ledgerAfterWorkload(20)
    const {verifyLedger} = await import('../../src/lib/ledger/verify/index.js')
    const {PreconditionError} = await import('../../src/lib/errors.js')
    // open the pool's connections first, so the freeze hits statements, not the connect
    await Promise.all([1, 2, 3, 4].map(() => sql.unsafe('SELECT pg_sleep(0.05)')))
    const messages: string[] = []
    await pg.kill('SIGSTOP')
    try {
      const started = Date.now()
      const error = await verifyLedger({
        sql,
        db: url,
        runLogs: [runDir],
        timeoutMs: 1500,
        progressIntervalMs: 200,
        onProgress: (m) => messages.push(m),
      }).then(
        () => {},
        (error_: Error) => error_,
      )
      expect(error).to.be.instanceOf(PreconditionError)
      expect(error!.message).to.equal(
        `the database server 127.0.0.1:${pg.port} did not answer within 1.5 s (reading the mint record)`,
      )
      expect(Date.now() - started).to.be.within(1400, 5000)
      expect(
        messages.filter((m) => /^\d+ s: reading the mint record; 0 accounts replayed, 0 transfer rows read$/.test(m))
          .length,
      ).to.be.at.least(3)
    } finally {
      await pg.kill('SIGCONT')
    }

    // after the thaw the same pool verifies normally, and progress names the phases
    const ok = await verifyLedger({sql, runLogs: [runDir], progressIntervalMs: 1})
    expect(ok.ok).to.equal(true)
    await sql.end({timeout: 1})
  })

  it('usage and precondition errors have their exit codes', async () => {
    const noLedger = await atlas(['verify', '--db', pg.url, '--json'])
    expect(noLedger.code).to.equal(3)
    expect(JSON.parse(noLedger.stdout).error.code).to.equal('LEDGER_NOT_INITIALISED')
    const badRunDir = await atlas([
      'verify',
      '--db',
      pg.url.replace(/\/postgres$/, '/verify_1'),
      '--run-dir',
      path.join(tmp, 'nope'),
    ])
    expect(badRunDir.code).to.equal(2)
    const badTimeout = await atlas(['verify', '--db', pg.url.replace(/\/postgres$/, '/verify_1'), '--timeout', 'soon'])
    expect(badTimeout.code).to.equal(2)
    expect(badTimeout.stderr).to.match(/invalid duration "soon"/)
    const badWorkload = await atlas(['workload', '--db', pg.url])
    expect(badWorkload.code).to.equal(2)
    expect(badWorkload.stderr).to.match(/--duration or --count/)
  })
})
