import {existsSync} from 'node:fs'
import {chown, copyFile, mkdir, readFile, rename, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {ProgressReporter, UpResult, WorldOperationOptions} from '../world/types.js'
import type {BackupWorld, LocalBackups, RestoreOptions, RestoreResult} from './local.js'

import {primaryRegion} from '../config/regions.js'
import {PreconditionError} from '../errors.js'
import {mkdirOwned, postgresOsUser} from '../proc/index.js'

/** What an in-place restore needs of the local world besides what backups need. */
export interface InPlaceWorld extends BackupWorld {
  clearClusterState(): Promise<void>
  databaseUrls(): Promise<string[]>
  stopDatabase(): Promise<string[]>
  up(options?: WorldOperationOptions): Promise<UpResult>
}

export interface InPlaceResult extends RestoreResult {
  inPlace: {
    /** false: the copy did not verify, and the world was not touched */
    applied: boolean
    /** the full backup taken of the restored world: point-in-time recovery from now on starts there */
    backupAfter?: string
    /** seconds the ledger database was down: Patroni stopped until the world converged again */
    downSeconds?: number
    leader?: string
    /** where each region's data directory from before the restore was moved (kept; remove it when done) */
    replaced?: Record<string, string>
    /** the steps after the restore (a dry run lists them) */
    steps: string[]
    /** transfers in the world's ledger before (undefined: it could not be read) and after */
    transfersAfter?: number
    transfersBefore?: number
  }
}

/** The steps of an in-place restore after the verified copy is made, in words (for --dry-run and the docs). */
export function inPlaceSteps(world: BackupWorld): string[] {
  const primary = world.regionLayout(primaryRegion(world.config).name)
  return [
    'refuse unless the restored copy verified (conservation, replay, balances, duplicates)',
    'stop the backup scheduler, every Patroni and its PostgreSQL (etcd and moto keep running)',
    `delete Patroni's cluster state from etcd (/service/${world.layout.scope}/, as patronictl remove does)`,
    `move every region's data directory aside into <copy>/replaced/<region>; the copy becomes ${primary.postgresDataDir} (the primary region's), the others start empty`,
    "strip what the scratch restore set in the copy's postgresql.auto.conf (archive_mode=off, restore_command, recovery targets); Patroni's own postgresql.conf and pg_hba.conf back in place",
    'atlas up: the primary region claims the cluster with the restored data, the other regions clone it, WAL archiving resumes',
    "check the world's ledger holds exactly the restored transfers (same digest), then take a full backup (the new base for point-in-time recovery)",
  ]
}

/**
 * Restores a backup over the local world: first into a scratch PostgreSQL with verify (the
 * world untouched), and only if that copy verifies, the copy replaces the world's database:
 * the primary region's node gets the restored data directory, the other nodes are cloned from
 * it, and every data directory from before is kept aside. Everything committed after the
 * recovery point is gone from the ledger afterwards. The caller asks for confirmation first.
 */
export async function restoreInPlace(
  world: InPlaceWorld,
  backups: LocalBackups,
  options: RestoreOptions & {progress?: ProgressReporter},
): Promise<InPlaceResult> {
  const steps = inPlaceSteps(world)
  if (options.dryRun) {
    const planned = await backups.restore({...options, verify: true, keep: false})
    return {...planned, inPlace: {applied: false, steps}}
  }

  const note = (m: string) => options.onProgress?.(m)
  let transfersBefore: number | undefined
  try {
    transfersBefore = (await ledgerRecoveryPoint(world)).transfers
  } catch {
    // the damaged world may not answer: the count before is then unknown, and the restore goes on
  }

  const restored = await backups.restore({...options, verify: true, keep: true})
  if (restored.verdict !== 'verified') {
    note(`the restored copy did not verify: the world was not touched (copy kept in ${restored.scratch.dir})`)
    return {...restored, inPlace: {applied: false, steps, transfersBefore}}
  }

  const user = await postgresOsUser()
  const copyData = path.join(restored.scratch.dir, 'data')
  const replacedDir = path.join(restored.scratch.dir, 'replaced')
  const primary = world.regionLayout(primaryRegion(world.config).name)
  const replaced: Record<string, string> = {}
  const downStarted = Date.now()
  // from here on nothing is interrupted half-way (no signal): a world with its data directories swapped must come up
  try {
    note('stopping the backup scheduler, Patroni and PostgreSQL')
    await world.stopDatabase()
    note("deleting Patroni's cluster state from etcd")
    await world.clearClusterState()
    await mkdir(replacedDir, {recursive: true, mode: 0o700})
    for (const r of world.layout.regions) {
      if (!(await exists(r.postgresDataDir))) continue
      replaced[r.region.name] = path.join(replacedDir, r.region.name)
      await rename(r.postgresDataDir, replaced[r.region.name])
    }

    await rename(copyData, primary.postgresDataDir)
    await prepareRestoredDataDir(primary.postgresDataDir, replaced[primary.region.name], user)
    for (const r of world.layout.regions)
      if (r.region.name !== primary.region.name) await mkdirOwned(r.postgresDataDir, user, 0o700)
    note(`starting the world on the restored data (${primary.region.name} first; the other regions clone it)`)
    await world.up({progress: options.progress})
  } catch (error) {
    const moved = Object.keys(replaced).length > 0
    ;(error as Error).message += moved
      ? `\nthe in-place restore stopped half-way: the data directories from before are in ${replacedDir}, the restored copy in ${existsSync(copyData) ? copyData : primary.postgresDataDir}`
      : `\nthe in-place restore stopped before any data directory was moved (the restored copy is in ${copyData}); \`atlas up\` starts the world as it was`
    throw error
  }

  const downSeconds = (Date.now() - downStarted) / 1000
  const now = await ledgerRecoveryPoint(world)
  if (now.transferIdsSha256 !== restored.recoveryPoint?.transferIdsSha256) {
    throw new PreconditionError(
      `after the in-place restore the world's ledger holds ${now.transfers} transfers, not the ${restored.recoveryPoint?.transfers} of the restored copy`,
      {hint: `the data directories from before are in ${replacedDir}`},
    )
  }

  const leader = (await world.health()).groups.find((g) => g.group === 'patroni')?.leaderRegion ?? undefined
  note('taking a full backup of the restored world')
  const after = await backups.backup({type: 'full'})
  return {
    ...restored,
    scratch: {...restored.scratch, kept: false},
    inPlace: {
      applied: true,
      steps,
      transfersBefore,
      transfersAfter: now.transfers,
      replaced,
      downSeconds,
      leader,
      backupAfter: after.backup?.label,
    },
  }
}

/**
 * The restored copy as the primary region's data directory: without the settings the scratch restore
 * made for itself (pgBackRest's archive_mode=off and recovery settings in postgresql.auto.conf, which
 * would override Patroni's archiving), and with that node's own postgresql.conf, postgresql.base.conf
 * and pg_hba.conf from before (Patroni rewrites the first and the last at start, from its config).
 */
export async function prepareRestoredDataDir(
  dataDir: string,
  before: string | undefined,
  user: Awaited<ReturnType<typeof postgresOsUser>>,
): Promise<void> {
  const auto = path.join(dataDir, 'postgresql.auto.conf')
  const text = await readFile(auto, 'utf8').catch(() => '')
  await writeFile(
    auto,
    text
      .split('\n')
      .filter((l) => !/^\s*(archive_mode|restore_command|recovery_target\w*)\s*=/.test(l))
      .join('\n'),
  )
  const files = ['postgresql.auto.conf']
  if (before) {
    for (const f of ['postgresql.conf', 'postgresql.base.conf', 'pg_hba.conf']) {
      if (!(await exists(path.join(before, f)))) continue
      await copyFile(path.join(before, f), path.join(dataDir, f))
      files.push(f)
    }
  }

  if (user) {
    for (const f of files) await chown(path.join(dataDir, f), user.uid, user.gid)
  }
}

async function ledgerRecoveryPoint(world: InPlaceWorld) {
  const [{connectLedger}, {recoveryPointOf}] = await Promise.all([import('../ledger/db.js'), import('./local.js')])
  const sql = await connectLedger(await world.databaseUrls(), {max: 1, applicationName: 'atlas-restore'})
  try {
    return await recoveryPointOf(sql)
  } finally {
    await sql.end({timeout: 5})
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  )
}
