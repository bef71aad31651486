/**
 * Restore time per million transfers: `atlas restore --verify` (pgBackRest from the
 * world's S3 backup bucket, WAL replay, promotion, then the ledger checks) against a
 * plain pg_dump -Fc of the same ledger and pg_restore into a fresh PostgreSQL, in the
 * same run on the same machine. A real local world (etcd, Patroni, PostgreSQL, moto,
 * pgBackRest); the transfers are inserted by SQL (set-up, not the ledger's path),
 * balances made consistent with them. Reports, never asserts.
 *
 *   node --import tsx bench/restore/run.ts   (BENCH_TRANSFERS, default 1,000,000)
 */
import {execa} from 'execa'
import {mkdtemp, rm, stat} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {BackupResult, RestoreResult} from '../../src/lib/backup/local.js'

import {connectLedger} from '../../src/lib/ledger/db.js'
import {findExecutable} from '../../src/lib/tools/discovery.js'
import {LocalWorld} from '../../src/lib/world/local/index.js'
import {parseJsonOutput} from '../../test/helpers/cli.js'
import {startPostgres} from '../../test/helpers/postgres.js'
import {createTestWorld} from '../../test/helpers/world.js'
import {seedRandomTransfers} from '../helpers/seed.js'

const transfers = Number(process.env.BENCH_TRANSFERS ?? 1_000_000)
// the machine is shared: the load average before and after goes with every figure
const loadBefore = os.loadavg()
const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ')
const world = await createTestWorld('bench-restore')
const tmp = await mkdtemp(path.join(os.tmpdir(), 'atlas-bench-restore-'))
const seconds = (since: number) => (performance.now() - since) / 1000
try {
  const up = await world.atlas(['up', '--json'])
  if (up.exitCode !== 0) throw new Error(up.stderr)
  const local = new LocalWorld(world.config, {baseDir: world.baseDir})
  const urls = await local.databaseUrls()
  const sql = await connectLedger(urls, {max: 1})
  let t = performance.now()
  const {accounts} = world.config.ledger
  await seedRandomTransfers(sql, accounts, transfers)
  const [{size}] = await sql.unsafe<Array<{size: string}>>('SELECT pg_database_size(current_database())::text AS size')
  await sql.end({timeout: 1})
  const setup = seconds(t)

  t = performance.now()
  const backup = await world.atlas(['backup', '--json'], {timeoutMs: 3_600_000})
  if (backup.exitCode !== 0) throw new Error(`backup exit ${backup.exitCode}: ${backup.stdout}\n${backup.stderr}`)
  const backupResult = parseJsonOutput<BackupResult>(backup)

  const restore = await world.atlas(['restore', '--verify', '--json'], {timeoutMs: 3_600_000})
  if (restore.exitCode !== 0) throw new Error(`restore exit ${restore.exitCode}: ${restore.stdout}\n${restore.stderr}`)
  const restored = parseJsonOutput<RestoreResult>(restore)
  if (restored.recoveryPoint?.transfers !== transfers)
    throw new Error(`restored ${restored.recoveryPoint?.transfers} transfers, expected ${transfers}`)

  // the same ledger with pg_dump (custom format) from the leader, pg_restore into a fresh PostgreSQL
  const binDir = path.dirname(await (await import('node:fs/promises')).realpath((await findExecutable('postgres'))!))
  // the superuser's URL: TLS with its client certificate (pg_hba wants both); the password goes by env, not argv
  const leader = new URL((await local.databaseUrls('admin'))[0])
  const env = {PGPASSWORD: decodeURIComponent(leader.password)}
  leader.password = ''
  const dumpFile = path.join(tmp, 'ledger.dump')
  t = performance.now()
  await execa(path.join(binDir, 'pg_dump'), ['-Fc', '-f', dumpFile, '-d', leader.toString()], {env})
  const dumpSeconds = seconds(t)
  const target = await startPostgres()
  t = performance.now()
  // the world's roles do not exist on the scratch server: restore data and schema, not grants
  await execa(path.join(binDir, 'pg_restore'), ['-d', target.url, '--no-owner', '--no-privileges', dumpFile])
  const pgRestoreSeconds = seconds(t)
  await target.stop()
  const dumpBytes = (await stat(dumpFile)).size

  const perMillion = (s: number) => (s * 1_000_000) / transfers
  const verifySeconds = restored.verify?.durationSeconds ?? 0
  console.log(
    `${new Date().toISOString()}: ${transfers} transfers (database ${(Number(size) / 1e6).toFixed(0)} MB; set-up ${setup.toFixed(1)} s), load average ${load(loadBefore)} before, ${load(os.loadavg())} after`,
  )
  console.log(
    `  pgBackRest: full backup ${backupResult.durationSeconds.toFixed(1)} s, ${(backupResult.backup!.repositoryBytes / 1e6).toFixed(0)} MB in S3; restore + WAL replay + promotion ${restored.restoreSeconds.toFixed(1)} s (${perMillion(restored.restoreSeconds).toFixed(1)} s per million), verify of the copy ${verifySeconds.toFixed(1)} s`,
  )
  console.log(
    `  pg_dump -Fc ${dumpSeconds.toFixed(1)} s (${(dumpBytes / 1e6).toFixed(0)} MB), pg_restore ${pgRestoreSeconds.toFixed(1)} s (${perMillion(pgRestoreSeconds).toFixed(1)} s per million); pgBackRest restore / pg_restore = ${(restored.restoreSeconds / pgRestoreSeconds).toFixed(2)}`,
  )
  console.log(
    JSON.stringify({
      bench: 'restore',
      at: new Date().toISOString(),
      loadBefore,
      loadAfter: os.loadavg(),
      transfers,
      databaseBytes: Number(size),
      backupSeconds: backupResult.durationSeconds,
      repositoryBytes: backupResult.backup!.repositoryBytes,
      restoreSeconds: restored.restoreSeconds,
      verifySeconds,
      pgDumpSeconds: dumpSeconds,
      dumpBytes,
      pgRestoreSeconds,
    }),
  )
} finally {
  await world.destroy()
  await rm(tmp, {recursive: true, force: true})
}
