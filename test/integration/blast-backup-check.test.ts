// blast-radius --backup-check on the real local world (etcd, Patroni, PostgreSQL,
// moto, pgBackRest): after the round, the last backup and the WAL archived after it
// are restored into a scratch PostgreSQL and verified, and the report says so.
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import type {BackupCheckResult} from '../../src/lib/backup/check.js'
import type {BackupListing} from '../../src/lib/backup/local.js'

import {parseJsonOutput} from '../helpers/cli.js'
import {createTestWorld, requirePgbackrest, type TestWorld} from '../helpers/world.js'

interface BlastJson {
  acknowledged: number
  backupCheck?: BackupCheckResult
  failover: boolean
  lost: number
  report: {json: string; markdown: string}
  verified: boolean
}

describe('blast-radius --backup-check (real pgBackRest and PostgreSQL)', function () {
  this.timeout(300_000)
  let world: TestWorld

  /** sha256 of the sorted ids of every transfer in the world's ledger, as restore reports it */
  async function liveTransferDigest(): Promise<{count: number; digest: string}> {
    const {connectLedger} = await import('../../src/lib/ledger/db.js')
    const {LocalWorld} = await import('../../src/lib/world/local/index.js')
    const sql = await connectLedger(
      await new LocalWorld(world.config, {baseDir: world.baseDir}).databaseUrls('verify'),
      {max: 1},
    )
    try {
      const ids = (await sql.unsafe<Array<{id: string}>>('SELECT id::text AS id FROM transfers'))
        .map((r) => r.id)
        .sort()
      return {count: ids.length, digest: createHash('sha256').update(ids.join(',')).digest('hex')}
    } finally {
      await sql.end({timeout: 1})
    }
  }

  before(async function () {
    await requirePgbackrest(this)

    world = await createTestWorld('blastbackup')
    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, `${up.stdout}${up.stderr}`).to.equal(0)
  })

  after(async () => {
    await world?.destroy()
  })

  it('is refused in the k3d world before anything starts (exit 2)', async () => {
    const result = await world.atlas(['blast-radius', '--driver', 'k3d', '--region', 'us', '--backup-check', '--json'])
    expect(result.exitCode, result.stderr).to.equal(2)
    expect(parseJsonOutput<{error: {code: string}}>(result).error.code).to.equal('BACKUP_CHECK_UNSUPPORTED')
    // the local world was not touched: still no backup, no run directory
    expect(parseJsonOutput<BackupListing>(await world.atlas(['backup', 'list', '--json'])).backups).to.deep.equal([])
    expect(
      existsSync(path.join(world.baseDir, 'runs')) ? await readdir(path.join(world.baseDir, 'runs')) : [],
    ).to.deep.equal([])
  })

  it('with no backup yet: takes one before the round, restores it with the archived WAL after the round, and the copy holds every transfer', async () => {
    const result = await world.atlas(
      ['blast-radius', '--region', 'witness', '--duration', '5s', '--backup-check', '--json'],
      {timeoutMs: 280_000},
    )
    expect(result.exitCode, `${result.stdout}${result.stderr}`).to.equal(0)
    const json = parseJsonOutput<BlastJson>(result)
    expect(json.verified).to.equal(true)
    expect(json.lost).to.equal(0)
    const check = json.backupCheck!
    expect(check.verdict).to.equal('verified')
    expect(check.takenBeforeRound!.label).to.match(/^\d{8}-\d{6}F$/)
    expect(check.backup).to.equal(check.takenBeforeRound!.label)
    expect(check.restoreSeconds).to.be.a('number').and.greaterThan(0)
    // restored to the end of the archive: every transfer of the round is in the copy
    const live = await liveTransferDigest()
    expect(json.acknowledged).to.be.greaterThan(0)
    expect(check.recoveryPoint!.transfers).to.equal(live.count)
    expect(check.recoveryPoint!.transferIdsSha256).to.equal(live.digest)
    const listing = parseJsonOutput<BackupListing>(await world.atlas(['backup', 'list', '--json']))
    expect(listing.backups.map((b) => b.label)).to.deep.equal([check.backup])
    // the report and the summary say so
    const report = JSON.parse(await readFile(json.report.json, 'utf8')) as BlastJson
    expect(report.backupCheck).to.deep.equal(check)
    const markdown = await readFile(json.report.markdown, 'utf8')
    expect(markdown).to.include('## Backup check')
    expect(markdown).to.include(`| backup | ${check.backup} (taken by this run before the round`)
    expect(markdown).to.include('| verdict | verified |')
    const text = await world.atlas(['blast-radius', '--region', 'witness', '--duration', '3s', '--backup-check'], {
      timeoutMs: 280_000,
    })
    expect(text.exitCode, text.stderr).to.equal(0)
    // a backup exists now: the second round takes none and restores that one
    expect(text.stdout).to.match(
      new RegExp(`backup check: PASS: ${check.backup} restored in [\\d.]+ s; recovery point \\d+ transfers`),
    )
    expect(text.stderr).to.not.include('no backup yet')
    console.log(
      `      backup check: ${check.backup} restored in ${check.restoreSeconds!.toFixed(1)} s, ${check.recoveryPoint!.transfers} transfers (load ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')})`,
    )
  })

  it('after a failover (kill of the leader region), the restore follows the new timeline and still holds every transfer', async () => {
    const status = parseJsonOutput<{health?: {leaderRegion?: string}}>(await world.atlas(['status', '--json']))
    const leader = status.health!.leaderRegion!
    const result = await world.atlas(
      ['blast-radius', '--region', leader, '--duration', '10s', '--backup-check', '--json'],
      {timeoutMs: 280_000},
    )
    expect(result.exitCode, `${result.stdout}${result.stderr}`).to.equal(0)
    const json = parseJsonOutput<BlastJson>(result)
    expect(json.failover).to.equal(true)
    expect(json.backupCheck!.verdict).to.equal('verified')
    expect(json.backupCheck!.takenBeforeRound).to.equal(undefined)
    const live = await liveTransferDigest()
    expect(json.backupCheck!.recoveryPoint!.transferIdsSha256).to.equal(live.digest)
  })
})
