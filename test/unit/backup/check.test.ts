// blast-radius --backup-check: the verdicts and what the report says, with a fake
// backup store (fed results shaped as LocalBackups.restore returns them); the real
// restore runs in test/integration/blast-backup-check.test.ts.
import {expect} from 'chai'

import type {RestoreResult} from '../../../src/lib/backup/local.js'

import {
  BackupCheck,
  backupCheckFailed,
  backupCheckMarkdown,
  type BackupStore,
  prepareBackupCheck,
} from '../../../src/lib/backup/check.js'
import {DEFAULT_CONFIG} from '../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../src/lib/config/load.js'
import {AtlasError, ExitCode} from '../../../src/lib/errors.js'
import {K3dWorld} from '../../../src/lib/world/k3d/index.js'
import {emptyDir, removeTempDirs} from '../../fixtures/k3d/stubs.js'

const restored = (verify: {ok: boolean; violationCounts: Record<string, number>}): RestoreResult => ({
  dryRun: false,
  backup: '20261130-021623F',
  target: 'end of the archived WAL',
  restoreSeconds: 4.25,
  recoveryPoint: {
    transfers: 321,
    newestTransferId: '0b7e…',
    newestTransferAt: '2026-11-30T02:20:00.000Z',
    transferIdsSha256: 'ab',
  },
  verify: verify as RestoreResult['verify'],
  verdict: verify.ok ? 'verified' : 'violations',
  scratch: {dir: '/base/restore/x', port: 5999, kept: false},
})

/** A fake pgBackRest repository: restore answers what it is given. */
function fakeStore(restore: () => Promise<RestoreResult>): BackupStore & {calls: unknown[]} {
  const calls: unknown[] = []
  return {
    calls,
    list: async () => ({stanza: 'atlas', bucket: 'atlas-backup-us', backups: [], status: 'ok'}),
    async backup() {
      throw new Error('not used')
    },
    async restore(options) {
      calls.push(options)
      return restore()
    },
  }
}

describe('blast-radius --backup-check', () => {
  it('restores the last backup with verify, and passes with a verified copy', async () => {
    const store = fakeStore(async () => restored({ok: true, violationCounts: {}}))
    const events: string[] = []
    const result = await new BackupCheck(store, {label: '20261130-021623F', durationSeconds: 2.5}).run({
      note: (e) => void events.push(e),
    })
    expect(store.calls).to.have.length(1)
    expect(store.calls[0]).to.include({verify: true})
    // no --backup, no --to-time: the newest backup and all archived WAL, as `atlas restore --verify`
    expect(store.calls[0]).to.not.have.property('backup')
    expect(store.calls[0]).to.not.have.property('toTime')
    expect(result).to.deep.include({backup: '20261130-021623F', restoreSeconds: 4.25, verdict: 'verified'})
    expect(result.recoveryPoint!.transfers).to.equal(321)
    expect(backupCheckFailed({backupCheck: result})).to.equal(false)
    expect(events[0]).to.match(
      /^backup check: PASS: 20261130-021623F \(taken before the round: there was none\) restored in 4\.3 s; recovery point 321 transfers/,
    )
    const md = backupCheckMarkdown(result).join('\n')
    expect(md).to.include('## Backup check')
    expect(md).to.include(
      '| backup | 20261130-021623F (taken by this run before the round, in 2.5 s: there was none) |',
    )
    expect(md).to.include('| restore time (restore + WAL replay until promoted) | 4.3 s |')
    expect(md).to.include(
      '| recovery point (newest transfer present) | 0b7e… at 2026-11-30T02:20:00.000Z (321 transfers) |',
    )
    expect(md).to.include('| verdict | verified |')
  })

  it('fails (exit 4 in the command) when the restored copy has violations, or the restore fails', async () => {
    const bad = await new BackupCheck(
      fakeStore(async () => restored({ok: false, violationCounts: {conservation: 1}})),
    ).run()
    expect(bad).to.deep.include({verdict: 'violations', violations: {conservation: 1}})
    expect(backupCheckFailed({backupCheck: bad})).to.equal(true)
    const broken = await new BackupCheck(
      fakeStore(async () => {
        throw new Error('pgbackrest: unable to find a valid repository')
      }),
    ).run()
    expect(broken).to.deep.include({
      verdict: 'failed',
      restoreSeconds: null,
      error: 'pgbackrest: unable to find a valid repository',
    })
    expect(backupCheckFailed({backupCheck: broken})).to.equal(true)
    expect(backupCheckMarkdown(broken).join('\n')).to.include(
      '| verdict | failed: pgbackrest: unable to find a valid repository |',
    )
    // no backup check asked for: never a failure
    expect(backupCheckFailed({})).to.equal(false)
  })

  it('is refused in the k3d world before anything starts', async () => {
    const world = new K3dWorld(parseConfigObject(DEFAULT_CONFIG), {baseDir: emptyDir('atlas-k3d-base-')})
    const error = await prepareBackupCheck(world, {regions: ['us']}).then(
      () => {},
      (error_: AtlasError) => error_,
    )
    expect(error).to.be.instanceOf(AtlasError)
    expect(error!.code).to.equal('BACKUP_CHECK_UNSUPPORTED')
    expect(error!.exitCode).to.equal(ExitCode.Usage)
    expect(error!.hint).to.include('atlas restore --driver k3d --dry-run')
  })
})

after(removeTempDirs)
