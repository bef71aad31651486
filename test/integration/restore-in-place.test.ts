// `atlas restore --in-place`: a verified point-in-time copy replaces the world's database,
// on real processes (etcd, Patroni, PostgreSQL, moto, pgBackRest). Asked for first; the world
// holds exactly the restored transfers afterwards, takes writes, archives WAL again, and a later
// restore from the new base backup holds the writes made after the in-place restore.
import {expect} from 'chai'
import {existsSync} from 'node:fs'
import {readdir} from 'node:fs/promises'
import path from 'node:path'

import type {InPlaceResult} from '../../src/lib/backup/in-place.js'
import type {BackupListing, RestoreResult} from '../../src/lib/backup/local.js'

import {parseJsonOutput} from '../helpers/cli.js'
import {createTestWorld, requirePgbackrest, runWorkload, type TestWorld} from '../helpers/world.js'

describe('atlas restore --in-place (real pgBackRest, PostgreSQL, Patroni, etcd, moto)', function () {
  this.timeout(300_000)
  let world: TestWorld

  /** ids of every transfer in the world's ledger, sorted */
  async function transferIds(): Promise<string[]> {
    const {connectLedger} = await import('../../src/lib/ledger/db.js')
    const {LocalWorld} = await import('../../src/lib/world/local/index.js')
    const w = new LocalWorld(world.config, {baseDir: world.baseDir})
    const sql = await connectLedger(await w.databaseUrls(), {max: 1})
    try {
      return (await sql.unsafe<Array<{id: string}>>('SELECT id::text AS id FROM transfers ORDER BY id::text')).map(
        (r) => r.id,
      )
    } finally {
      await sql.end({timeout: 1})
    }
  }

  before(async function () {
    await requirePgbackrest(this)

    world = await createTestWorld('inplace')
    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, `${up.stdout}${up.stderr}`).to.equal(0)
    const backup = await world.atlas(['backup', '--json'])
    expect(backup.exitCode, backup.stderr).to.equal(0)
  })

  after(async () => {
    await world?.destroy()
  })

  it('is refused without --yes off a terminal, with --keep, and in the k3d world (exit 2), and changes nothing', async () => {
    await runWorkload(world, 20)
    const before = await transferIds()
    const restoreDir = path.join(world.baseDir, 'restore')
    for (const [args, code] of [
      [['--in-place'], 'CONFIRMATION_REQUIRED'],
      [['--in-place', '--yes', '--keep'], 'IN_PLACE_KEEP'],
      [['--in-place', '--yes', '--driver', 'k3d'], 'IN_PLACE_UNSUPPORTED'],
    ] as const) {
      const result = await world.atlas(['restore', ...args, '--json'])
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).to.equal(2)
      expect(parseJsonOutput<{error: {code: string}}>(result).error.code).to.equal(code)
    }

    expect(existsSync(restoreDir) ? await readdir(restoreDir) : []).to.deep.equal([])
    expect(await transferIds()).to.deep.equal(before)
    // --dry-run prints the restore commands and the steps after them, and writes nothing
    const dry = await world.atlas(['restore', '--in-place', '--dry-run', '--json'])
    expect(dry.exitCode, dry.stderr).to.equal(0)
    const plan = parseJsonOutput<InPlaceResult>(dry)
    expect(plan.inPlace.applied).to.equal(false)
    expect(plan.inPlace.steps.join('\n')).to.match(/delete Patroni's cluster state from etcd/)
    expect(existsSync(restoreDir) ? await readdir(restoreDir) : []).to.deep.equal([])
  })

  it('--in-place --yes to a time between two batches: the world holds exactly the first batch, takes writes and archives again', async () => {
    const first = await transferIds()
    await new Promise((r) => setTimeout(r, 1500))
    const between = new Date()
    await new Promise((r) => setTimeout(r, 1500))
    await runWorkload(world, 30)
    expect(await transferIds()).to.have.length(first.length + 30)

    const result = await world.atlas(['restore', '--to-time', between.toISOString(), '--in-place', '--yes', '--json'], {
      timeoutMs: 290_000,
    })
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).to.equal(0)
    const restored = parseJsonOutput<InPlaceResult>(result)
    console.log(
      `      in-place restore: copy in ${restored.restoreSeconds.toFixed(1)} s, database down ${restored.inPlace.downSeconds!.toFixed(1)} s`,
    )
    expect(restored.verdict).to.equal('verified')
    expect(restored.inPlace.applied).to.equal(true)
    expect(restored.inPlace.transfersBefore).to.equal(first.length + 30)
    expect(restored.inPlace.transfersAfter).to.equal(first.length)
    expect(restored.inPlace.leader).to.equal('us')
    // the world is the copy: exactly the transfers committed before the target time
    expect(await transferIds()).to.deep.equal(first)
    // the data directories from before are kept aside, one per region
    expect(Object.keys(restored.inPlace.replaced!).sort()).to.deep.equal(['eu', 'us', 'witness'])
    for (const dir of Object.values(restored.inPlace.replaced!))
      expect(existsSync(path.join(dir, 'PG_VERSION')), dir).to.equal(true)

    // what the restore dropped is what verify reports lost: the 30 transfers acknowledged after the target time
    const verify = await world.atlas(['verify', '--ledger-balance', '--json'])
    expect(verify.exitCode, verify.stderr).to.equal(4)
    expect(parseJsonOutput<{violationCounts: Record<string, number>}>(verify).violationCounts).to.deep.equal({lost: 30})

    // every region is back and in sync (the other two cloned the restored primary)
    const status = parseJsonOutput<{health?: {converged?: boolean; leaderRegion?: string}}>(
      await world.atlas(['status', '--json']),
    )
    expect(status.health?.leaderRegion).to.equal('us')

    // the restored world takes writes, and archives them: a restore to the end of the archive from the
    // full backup taken after the in-place restore holds them
    const listing = parseJsonOutput<BackupListing>(await world.atlas(['backup', 'list', '--json']))
    expect(listing.backups.map((b) => b.label)).to.include(restored.inPlace.backupAfter)
    await runWorkload(world, 25)
    const all = await transferIds()
    expect(all).to.have.length(first.length + 25)
    const later = await world.atlas(['restore', '--verify', '--json'], {timeoutMs: 280_000})
    expect(later.exitCode, later.stderr).to.equal(0)
    const copy = parseJsonOutput<RestoreResult>(later)
    expect(copy.backup).to.equal(restored.inPlace.backupAfter)
    expect(copy.verdict).to.equal('verified')
    expect(copy.recoveryPoint!.transfers).to.equal(all.length)
  })
})
