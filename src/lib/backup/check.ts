import type {ProgressReporter, World} from '../world/types.js'
import type {BackupListing, BackupResult, RestoreOptions, RestoreResult} from './local.js'

import {PreconditionError, UsageError} from '../errors.js'
import {assessRegionLoss} from '../health/quorum.js'
import {runStep, silentProgress} from '../progress.js'

/**
 * `blast-radius --backup-check`: after the round (fault, restore, convergence,
 * verify), the last backup is restored into a scratch PostgreSQL beside the world
 * and verified, as `atlas restore --verify` does. Local world only: the k3d world
 * is refused before anything starts (its restore is CockroachDB's, see
 * `atlas restore --driver k3d --dry-run`). A world with no backup yet gets a full
 * one before the round, and the report says so.
 */
export interface BackupCheckResult {
  /** the backup set pgBackRest restored */
  backup?: string
  /** why the restore failed (verdict failed) */
  error?: string
  /** the newest transfer in the restored copy */
  recoveryPoint?: RestoreResult['recoveryPoint']
  /** pgBackRest restore + WAL replay until the copy was promoted, seconds */
  restoreSeconds: null | number
  /** a full backup this run took before the round, because there was none */
  takenBeforeRound?: {durationSeconds: number; label: string}
  /** what was restored: the newest backup and every archived WAL segment after it */
  target: string
  verdict: 'failed' | 'verified' | 'violations'
  /** violation counts of the restored copy's verify */
  violations?: Record<string, number>
}

/** What the check needs of the local world's backups (backup/local.ts LocalBackups). */
export interface BackupStore {
  backup(options?: {type?: 'full'}): Promise<BackupResult>
  list(): Promise<BackupListing>
  restore(options: RestoreOptions): Promise<RestoreResult>
}

export class BackupCheck {
  constructor(
    private readonly backups: BackupStore,
    readonly takenBeforeRound?: {durationSeconds: number; label: string},
  ) {}

  /** Restores the last backup (and the archived WAL after it) into a scratch PostgreSQL and verifies the copy; never throws for a failed restore. */
  async run(
    context: {note?: (event: string) => void; progress?: ProgressReporter; signal?: AbortSignal} = {},
  ): Promise<BackupCheckResult> {
    const progress = context.progress ?? silentProgress
    const done = progress.step('backup check: restore the last backup into a scratch PostgreSQL and verify it')
    const base = {
      target: 'the newest backup and every archived WAL segment after it',
      ...(this.takenBeforeRound ? {takenBeforeRound: this.takenBeforeRound} : {}),
    }
    let result: BackupCheckResult
    try {
      const restored = await this.backups.restore({
        verify: true,
        signal: context.signal,
        onProgress: (m) => progress.info(m),
      })
      result = {
        ...base,
        backup: restored.backup,
        restoreSeconds: restored.restoreSeconds,
        recoveryPoint: restored.recoveryPoint,
        verdict: restored.verdict === 'verified' ? 'verified' : 'violations',
        ...(restored.verify && !restored.verify.ok
          ? {violations: {...restored.verify.violationCounts} as Record<string, number>}
          : {}),
      }
      done(
        result.verdict === 'verified'
          ? {note: `${restored.backup ?? '?'} restored in ${restored.restoreSeconds.toFixed(1)} s, verified`}
          : {error: new Error(`the restored copy has violations: ${formatViolations(result.violations)}`)},
      )
    } catch (error) {
      context.signal?.throwIfAborted()
      result = {...base, restoreSeconds: null, verdict: 'failed', error: (error as Error).message}
      done({error: error as Error})
    }

    context.note?.(`backup check: ${describeBackupCheck(result)}`)
    return result
  }
}

/**
 * Before anything of the round starts: refuses the k3d world and a world without
 * backups to restore from (pgBackRest missing, no repository), and takes a full
 * backup when the repository holds none yet (not when the round is going to be
 * refused anyway).
 */
export async function prepareBackupCheck(
  world: World,
  options: {force?: boolean; progress?: ProgressReporter; regions: string[]},
): Promise<BackupCheck> {
  if (world.driver !== 'local') {
    throw new UsageError(
      '--backup-check restores a pgBackRest backup into a scratch PostgreSQL: the local world only',
      {
        code: 'BACKUP_CHECK_UNSUPPORTED',
        hint: 'in the k3d world, `atlas restore --driver k3d --dry-run` shows how CockroachDB restores its scheduled backups into a scratch database',
      },
    )
  }

  const progress = options.progress ?? silentProgress
  const {LocalBackups} = await import('./local.js')
  if (!(await LocalBackups.available())) {
    throw new PreconditionError('--backup-check needs pgBackRest, and a world that archives its WAL with it', {
      code: 'PGBACKREST_MISSING',
      hint: 'apt-get install pgbackrest (npm run setup does), then `atlas down && atlas up`',
    })
  }

  if (!(await world.status()).up)
    throw new PreconditionError('the world is not running', {hint: 'run `atlas up` first'})
  const backups = await (world as import('../world/local/index.js').LocalWorld).backups()
  const listing = await backups.list()
  if (listing.backups.length > 0 || (!assessRegionLoss(world.regions, options.regions).survives && !options.force))
    return new BackupCheck(backups)
  const taken = await runStep(
    progress,
    'backup check: no backup yet, take a full backup before the round',
    async () => {
      const {backup, durationSeconds} = await backups.backup({type: 'full'})
      if (!backup)
        throw new PreconditionError('pgBackRest reported no backup after `backup`', {
          hint: 'see `atlas backup list` and <baseDir>/logs/atlas.log',
        })
      return {label: backup.label, durationSeconds}
    },
    (t) => `${t.label} in ${t.durationSeconds.toFixed(1)} s`,
  )
  return new BackupCheck(backups, taken)
}

/** Whether a round's backup check (if it had one) failed: exit 4, as a verify violation. */
export function backupCheckFailed(result: {backupCheck?: BackupCheckResult}): boolean {
  return result.backupCheck !== undefined && result.backupCheck.verdict !== 'verified'
}

function formatViolations(violations?: Record<string, number>): string {
  return (
    Object.entries(violations ?? {})
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none counted'
  )
}

/** One line: what was restored, how long it took, up to which transfer, the verdict. */
export function describeBackupCheck(r: BackupCheckResult): string {
  const taken = r.takenBeforeRound ? ` (taken before the round: there was none)` : ''
  if (r.verdict === 'failed') return `FAIL: the restore failed: ${r.error ?? 'unknown error'}`
  const rp = r.recoveryPoint
  return `${r.verdict === 'verified' ? 'PASS' : 'FAIL'}: ${r.backup ?? '?'}${taken} restored in ${r.restoreSeconds?.toFixed(1) ?? '?'} s; recovery point ${rp ? `${rp.transfers} transfers, newest ${rp.newestTransferAt ?? '-'}` : 'n/a'}${r.verdict === 'violations' ? `; violations: ${formatViolations(r.violations)}` : ''}`
}

/** The report's section (report.md). */
export function backupCheckMarkdown(r: BackupCheckResult): string[] {
  const rp = r.recoveryPoint
  return [
    '## Backup check',
    '',
    `The last backup restored into a scratch PostgreSQL beside the world and verified: **${r.verdict === 'verified' ? 'PASS' : 'FAIL'}**.`,
    '',
    '| | |',
    '| --- | --- |',
    `| backup | ${r.backup ?? '-'}${r.takenBeforeRound ? ` (taken by this run before the round, in ${r.takenBeforeRound.durationSeconds.toFixed(1)} s: there was none)` : ''} |`,
    `| restored | ${r.target} |`,
    `| restore time (restore + WAL replay until promoted) | ${r.restoreSeconds === null ? 'n/a' : `${r.restoreSeconds.toFixed(1)} s`} |`,
    `| recovery point (newest transfer present) | ${rp ? `${rp.newestTransferId ?? '-'} at ${rp.newestTransferAt ?? '-'} (${rp.transfers} transfers)` : 'n/a'} |`,
    `| verdict | ${r.verdict}${r.verdict === 'violations' ? ` (${formatViolations(r.violations)})` : ''}${r.error ? `: ${r.error.split('\n')[0].replaceAll('|', String.raw`\|`)}` : ''} |`,
    '',
  ]
}
