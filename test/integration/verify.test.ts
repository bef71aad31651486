import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {connectLedger, type LedgerSql} from '../../src/lib/ledger/db.js'
import {initLedger} from '../../src/lib/ledger/schema.js'
import {runWorkload} from '../../src/lib/ledger/workload.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

const ROOT = path.resolve(import.meta.dirname, '..', '..')

/**
 * Runs an atlas command from the TypeScript sources (the command class itself,
 * through oclif's error handling), so the exit code is what `atlas` would return.
 */
function atlas(args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  const [id, ...rest] = args[0] === 'ledger' ? [`ledger/${args[1]}`, ...args.slice(2)] : args
  const script = `
    const {handle} = await import('@oclif/core')
    const {default: Command} = await import(${JSON.stringify(path.join(ROOT, 'src', 'commands', `${id}.ts`))})
    try { await Command.run(${JSON.stringify(rest)}, ${JSON.stringify(ROOT)}) } catch (error) { await handle(error) }
  `
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {cwd: ROOT, env: {...process.env, ATLAS_CONFIG: ''}, timeout: 60_000}, (error, stdout, stderr) => {
      resolve({code: error ? ((error as {code?: number}).code ?? 1) : 0, stdout, stderr})
    })
  })
}

describe('atlas verify --ledger-balance (CLI, real PostgreSQL)', function () {
  this.timeout(180_000)
  let pg: TestPostgres
  let tmp: string
  let database = 0

  /** a fresh database with a finished workload: returns its URL, a pool and the run dir */
  async function ledgerAfterWorkload(count = 200): Promise<{url: string; sql: LedgerSql; runDir: string; acked: string[]}> {
    database++
    const admin = await connectLedger(pg.url, {max: 1})
    await admin.unsafe(`CREATE DATABASE verify_${database}`)
    await admin.end({timeout: 1})
    const url = pg.url.replace(/\/postgres$/, `/verify_${database}`)
    const sql = await connectLedger(url, {max: 4})
    await initLedger(sql, {accounts: 10, openingBalance: 10_000, allowNegativeBalances: false})
    const runDir = path.join(tmp, `run-${database}`)
    const acked: string[] = []
    await runWorkload({db: url, count, concurrency: 4, runDir, originRegion: 'us', onOutcome: (e) => e.outcome === 'applied' && acked.push(e.id)})
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
    const [row] = await sql.unsafe('DELETE FROM transfers WHERE id = $1 RETURNING from_account, to_account, amount', [victim])
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
    const phantom = randomUUID()
    // a balanced transfer nobody attempted: conservation and replay still hold
    await sql.begin(async (tx) => {
      await tx.unsafe("INSERT INTO transfers (id, from_account, to_account, amount, origin_region) VALUES ($1, 1, 2, 3, 'us')", [phantom])
      await tx.unsafe('UPDATE accounts SET balance = balance - 3 WHERE id = 1')
      await tx.unsafe('UPDATE accounts SET balance = balance + 3 WHERE id = 2')
    })
    await sql.end({timeout: 1})
    const result = await atlas(['verify', '--ledger-balance', '--db', url, '--run-dir', runDir, '--json'])
    expect(result.code).to.equal(4)
    const json = JSON.parse(result.stdout)
    expect(json.violations).to.deep.equal([{kind: 'phantom', message: `transfer ${phantom} is stored but no client attempted it`, ids: [phantom]}])
    expect(json.checks.find((c: {name: string}) => c.name === 'replay').ok).to.equal(true)
  })

  it('a duplicated transfer (uniqueness lost): exit 4, "duplicate" names its id', async () => {
    const {url, sql, runDir, acked} = await ledgerAfterWorkload()
    const twice = acked[3]
    await sql.unsafe('ALTER TABLE transfers DROP CONSTRAINT transfers_pkey')
    await sql.begin(async (tx) => {
      const [t] = await tx.unsafe('SELECT from_account, to_account, amount FROM transfers WHERE id = $1', [twice])
      await tx.unsafe('INSERT INTO transfers (id, from_account, to_account, amount, origin_region) SELECT id, from_account, to_account, amount, origin_region FROM transfers WHERE id = $1', [twice])
      await tx.unsafe('UPDATE accounts SET balance = balance - $2 WHERE id = $1', [t.from_account, t.amount])
      await tx.unsafe('UPDATE accounts SET balance = balance + $2 WHERE id = $1', [t.to_account, t.amount])
    })
    await sql.end({timeout: 1})
    for (const withLog of [true, false]) {
      const result = await atlas(['verify', '--ledger-balance', '--db', url, '--json', ...(withLog ? ['--run-dir', runDir] : [])])
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
    const {verifyLedger} = await import('../../src/lib/ledger/verify.js')
    const whole = await verifyLedger({sql, runLogs: [runDir]})
    // a partition target of 5 ids forces 16 (or 256) partitions
    const split = await verifyLedger({sql, runLogs: [runDir], partitionIds: 5})
    expect(split.ok).to.equal(true)
    expect(split.summary).to.deep.equal(whole.summary)
    const victim = acked[42]
    const [row] = await sql.unsafe('DELETE FROM transfers WHERE id = $1 RETURNING from_account, to_account, amount', [victim])
    const phantom = randomUUID()
    await sql.unsafe("INSERT INTO transfers (id, from_account, to_account, amount, origin_region) VALUES ($1, $2, $3, $4, 'us')", [phantom, row.from_account, row.to_account, row.amount])
    const verdict = await verifyLedger({sql, runLogs: [runDir], partitionIds: 5})
    await sql.end({timeout: 1})
    expect(verdict.violations.map((v) => [v.kind, v.ids])).to.have.deep.members([
      ['lost', [victim]],
      ['phantom', [phantom]],
    ])
    expect(verdict.checks.find((c) => c.name === 'replay')!.ok).to.equal(true)
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
    const workload = await atlas(['workload', '--db', url, '--count', '150', '--concurrency', '3', '--run-dir', runDir, '--no-audit', '--json'])
    expect(workload.code, workload.stderr).to.equal(0)
    const result = JSON.parse(workload.stdout)
    expect(result.stats.attempted).to.equal(150)
    expect(result.runLog).to.equal(path.join(runDir, 'transfers.log'))
    const verdict = await atlas(['verify', '--db', url, '--run-dir', runDir, '--json'])
    expect(verdict.code).to.equal(0)
    expect(JSON.parse(verdict.stdout).summary.runLogIds.acknowledged).to.equal(result.stats.acknowledged)
    const text = await atlas(['workload', '--db', url, '--count', '30', '--concurrency', '3', '--run-dir', path.join(tmp, 'text-run'), '--no-audit'])
    expect(text.code).to.equal(0)
    expect(text.stderr).to.include('workload: 3 workers, direct to the database')
    expect(text.stdout).to.match(/^30 attempted: \d+ acknowledged/)
    // the password of a URL never reaches --json output
    const masked = await atlas(['workload', '--db', url.replace('atlas@', 'atlas:hunter22@'), '--count', '1', '--run-dir', path.join(tmp, 'masked'), '--no-audit', '--json'])
    expect(masked.stdout).to.not.include('hunter22')
    expect(JSON.parse(masked.stdout).database).to.match(/atlas:\*\*\*@/)
  })

  it('usage and precondition errors have their exit codes', async () => {
    const noLedger = await atlas(['verify', '--db', pg.url, '--json'])
    expect(noLedger.code).to.equal(3)
    expect(JSON.parse(noLedger.stdout).error.code).to.equal('LEDGER_NOT_INITIALISED')
    const badRunDir = await atlas(['verify', '--db', pg.url.replace(/\/postgres$/, '/verify_1'), '--run-dir', path.join(tmp, 'nope')])
    expect(badRunDir.code).to.equal(2)
    const badWorkload = await atlas(['workload', '--db', pg.url])
    expect(badWorkload.code).to.equal(2)
    expect(badWorkload.stderr).to.match(/--duration or --count/)
  })
})
