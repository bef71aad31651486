// Backups with pgBackRest into the primary region's backup bucket on the world's
// S3 emulator, continuous WAL archiving, and verified point-in-time restores into a
// scratch PostgreSQL, on real processes (etcd, Patroni, PostgreSQL, moto, pgBackRest).
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {appendFile, readdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import type {BackupListing, BackupResult, RestoreResult} from '../../src/lib/backup/local.js'

import {parseJsonOutput} from '../helpers/cli.js'
import {createTestWorld, requirePgbackrest, runWorkload, type TestWorld} from '../helpers/world.js'

describe('atlas backup / restore (real pgBackRest, PostgreSQL, Patroni, etcd, moto)', function () {
  this.timeout(300_000)
  let world: TestWorld
  let backupLabel: string

  /** ids of every transfer in the world's ledger, and the same digest restore reports */
  async function transferIds(): Promise<string[]> {
    const {connectLedger} = await import('../../src/lib/ledger/db.js')
    const urls = (await import('../../src/lib/world/local/index.js')).LocalWorld
    const w = new urls(world.config, {baseDir: world.baseDir})
    const sql = await connectLedger(await w.databaseUrls(), {max: 1})
    try {
      return (await sql.unsafe<Array<{id: string}>>('SELECT id::text AS id FROM transfers ORDER BY id::text')).map(
        (r) => r.id,
      )
    } finally {
      await sql.end({timeout: 1})
    }
  }

  const digest = (ids: string[]) =>
    createHash('sha256')
      .update([...ids].sort().join(','))
      .digest('hex')

  before(async function () {
    await requirePgbackrest(this)

    world = await createTestWorld('backup')
    // a scheduled backup every minute (backup.schedule): the last test waits for one
    await appendFile(world.configFile, 'backup:\n  schedule: 1m\n')
    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, `${up.stdout}${up.stderr}`).to.equal(0)
  })

  after(async () => {
    await world?.destroy()
  })

  it("takes a full backup of the leader into the primary region's backup bucket; backup list shows it and the archived WAL", async () => {
    const result = await world.atlas(['backup', '--json'])
    expect(result.exitCode, result.stderr).to.equal(0)
    const backup = parseJsonOutput<BackupResult>(result)
    expect(backup.bucket).to.equal('atlas-backup-us')
    expect(backup.backup!.type).to.equal('full')
    backupLabel = backup.backup!.label
    expect(backupLabel).to.match(/^\d{8}-\d{6}F$/)
    console.log(
      `      full backup ${backupLabel}: ${backup.durationSeconds.toFixed(1)} s, ${(backup.backup!.databaseBytes / 1e6).toFixed(1)} MB database, ${(backup.backup!.repositoryBytes / 1e6).toFixed(1)} MB stored`,
    )
    const list = await world.atlas(['backup', 'list', '--json'])
    expect(list.exitCode, list.stderr).to.equal(0)
    const listing = parseJsonOutput<BackupListing>(list)
    expect(listing.backups.map((b) => b.label)).to.deep.equal([backupLabel])
    expect(listing.archive?.max).to.match(/^[0-9A-F]{24}$/)
  })

  it('restore --to-time between two batches of transfers: the copy balances and holds exactly the first batch', async () => {
    await runWorkload(world, 120)
    const first = await transferIds()
    expect(first).to.have.length(120)
    await new Promise((r) => setTimeout(r, 1500))
    const between = new Date()
    await new Promise((r) => setTimeout(r, 1500))
    await runWorkload(world, 80)
    expect(await transferIds()).to.have.length(200)

    const result = await world.atlas(['restore', '--to-time', between.toISOString(), '--verify', '--json'], {
      timeoutMs: 280_000,
    })
    expect(result.exitCode, result.stderr).to.equal(0)
    const restored = parseJsonOutput<RestoreResult>(result)
    console.log(`      point-in-time restore: ${restored.restoreSeconds.toFixed(1)} s`)
    expect(restored.backup).to.equal(backupLabel)
    expect(restored.verdict).to.equal('verified')
    expect(restored.verify!.ok).to.equal(true)
    expect(restored.recoveryPoint!.transfers).to.equal(120)
    expect(restored.recoveryPoint!.transferIdsSha256).to.equal(digest(first))
    expect(Date.parse(restored.recoveryPoint!.newestTransferAt!)).to.be.below(between.getTime())
    // the scratch copy is gone, and it never was the world: the world still has both batches
    expect(existsSync(restored.scratch.dir)).to.equal(false)
    expect(await transferIds()).to.have.length(200)
  })

  it('after a switchover the new primary keeps archiving: a restore to the end holds every transfer', async () => {
    const {LocalWorld} = await import('../../src/lib/world/local/index.js')
    const w = new LocalWorld(world.config, {baseDir: world.baseDir})
    const leader = (await w.health()).groups.find((g) => g.group === 'patroni')!.leaderRegion!
    const candidate = leader === 'us' ? 'eu' : 'us'
    const api = `http://${w.regionLayout(leader).address}:${w.regionLayout(leader).patroniApiPort}`
    // Patroni's unsafe endpoints take the REST API password from the world's secrets file
    const {restApiPassword} = JSON.parse(await readFile(path.join(world.baseDir, 'secrets.json'), 'utf8')) as {
      restApiPassword: string
    }
    const authorization = `Basic ${Buffer.from(`patroni:${restApiPassword}`).toString('base64')}`
    const response = await fetch(`${api}/switchover`, {
      method: 'POST',
      body: JSON.stringify({leader: `pg-${leader}`, candidate: `pg-${candidate}`}),
      headers: {'content-type': 'application/json', authorization},
    })
    expect(response.status, await response.text()).to.equal(200)
    await w.waitConverged({timeoutMs: 60_000})
    expect((await w.health()).groups.find((g) => g.group === 'patroni')!.leaderRegion).to.equal(candidate)
    await runWorkload(world, 50)
    const all = await transferIds()
    expect(all).to.have.length(250)
    const result = await world.atlas(['restore', '--verify', '--json'], {timeoutMs: 280_000})
    expect(result.exitCode, result.stderr).to.equal(0)
    const restored = parseJsonOutput<RestoreResult>(result)
    expect(restored.verdict).to.equal('verified')
    expect(restored.recoveryPoint!.transferIdsSha256).to.equal(digest(all))
  })

  it('bad input is refused with exit 2 and leaves nothing behind; --dry-run prints the plan and writes nothing', async () => {
    const restoreDir = path.join(world.baseDir, 'restore')
    const before = existsSync(restoreDir) ? await readdir(restoreDir) : []
    for (const args of [
      ['--to-time', 'yesterday'],
      ['--to-time', '2999-01-01T00:00:00Z'],
      ['--backup', 'nope'],
      ['--backup', '20000101-000000F'],
    ]) {
      const result = await world.atlas(['restore', ...args, '--json'])
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).to.equal(2)
    }

    const dry = await world.atlas([
      'restore',
      '--to-time',
      new Date(Date.now() - 1000).toISOString(),
      '--dry-run',
      '--json',
    ])
    expect(dry.exitCode, dry.stderr).to.equal(0)
    const plan = parseJsonOutput<RestoreResult>(dry).plan!.map((c) => c.argv.join(' '))
    expect(plan[0]).to.match(
      /^pgbackrest --config=\S+ --stanza=atlas .*--archive-mode=off .*--type=time --target=.* restore$/,
    )
    expect(plan[1]).to.match(/pg_ctl -D \S+ -w/)
    expect(existsSync(restoreDir) ? await readdir(restoreDir) : []).to.deep.equal(before)
    const backupDry = await world.atlas(['backup', '--dry-run', '--json'])
    expect(backupDry.exitCode, backupDry.stderr).to.equal(0)
    expect(parseJsonOutput<BackupResult>(backupDry).plan![0].argv.join(' ')).to.match(
      /pgbackrest --config=\S+ --stanza=atlas --type=full backup/,
    )
  })

  it('backup.schedule: up started the scheduler, which takes backups on its own; down stops it', async () => {
    const pid = Number((await readFile(path.join(world.baseDir, 'run', 'backup-schedule.pid'), 'utf8')).trim())
    expect(() => process.kill(pid, 0)).to.not.throw()
    const log = path.join(world.baseDir, 'logs', 'backup-schedule.log')
    const deadline = Date.now() + 150_000
    let text = ''
    while (Date.now() < deadline && !/full backup \d{8}-\d{6}F in /.test(text)) {
      await new Promise((r) => setTimeout(r, 2000))
      text = await readFile(log, 'utf8').catch(() => '')
    }

    const label = /full backup (\d{8}-\d{6}F) in /.exec(text)?.[1]
    expect(label, text).to.be.a('string')
    const listing = parseJsonOutput<BackupListing>(await world.atlas(['backup', 'list', '--json']))
    expect(listing.backups.map((b) => b.label)).to.include(label)
    const down = await world.atlas(['down', '--json'])
    expect(down.exitCode, down.stderr).to.equal(0)
    expect(() => process.kill(pid, 0)).to.throw()
  })
})
