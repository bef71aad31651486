import path from 'node:path'

import type {VerifyResult} from '../ledger/verify/index.js'
import type {K3dWorld} from '../world/k3d/index.js'
import type {PlanStep, ProgressReporter} from '../world/types.js'

import {primaryRegion} from '../config/regions.js'
import {AtlasError, ExitCode, PreconditionError} from '../errors.js'
import {ATLAS_NAMESPACE, k3dTopology, regionTopology} from '../gitops/topology.js'
import {silentProgress} from '../progress.js'
import {CommandRunner, type PlannedCommand} from '../tools/runner.js'
import {backupCollectionUri, LEDGER_DATABASE, redactCollectionUri, VERIFY_USER} from '../world/k3d/ddl.js'
import {runPipeline} from '../world/k3d/pipeline.js'
import {type K3dStep, sqlJob} from '../world/k3d/plan.js'
import {publicRoleRevokes} from '../world/k3d/render.js'
import {cockroachImage, sqlJobManifest} from '../world/k3d/sql-job.js'
import {StepState} from '../world/k3d/state.js'

/**
 * A restore in the k3d world: CockroachDB's own RESTORE of the ledger database
 * from the backup collection its schedule writes (ddl.ts backupScheduleStatements)
 * into a scratch database beside the live one, a verify of that copy as the
 * read-only verify user, then a DROP of the copy. The plan a dry run prints is
 * built by the same function as the steps a real run executes.
 */
export interface K3dRestoreOptions {
  dryRun?: boolean
  /** keep the scratch database (no DROP) */
  keep?: boolean
  /** the clock the scratch database is named after (tests pin it) */
  now?: Date
  onProgress?: (message: string) => void
  progress?: ProgressReporter
  signal?: AbortSignal
  /** point-in-time target: RESTORE … AS OF SYSTEM TIME */
  toTime?: Date
}

export interface K3dRestoreResult {
  /** the backup collection, credentials redacted */
  collection: string
  driver: 'k3d'
  dryRun: boolean
  /** whether the scratch database was left (--keep) */
  kept: boolean
  missingTools?: string[]
  /** every command in order */
  plan: PlannedCommand[]
  planLegend: Record<string, string>
  /** the RESTORE job until it finished, seconds (0 in a dry run) */
  restoreSeconds: number
  /** the database the backup is restored into; never the live one */
  scratchDatabase: string
  steps: PlanStep[]
  /** what is restored: the newest backup, or a point in time */
  target: string
  verdict: 'not verified' | 'planned' | 'verified' | 'violations'
  verify?: VerifyResult
}

/** Prefix of every scratch database: a DROP is only ever rendered for a name with it. */
export const SCRATCH_DATABASE_PREFIX = 'ledger_restore_'

/** ledger_restore_20261130t023000: one per restore, named after its start (UTC). */
export function scratchDatabaseName(now: Date): string {
  return `${SCRATCH_DATABASE_PREFIX}${now
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replaceAll(/[-:]/g, '')
    .toLowerCase()}`
}

/** AS OF SYSTEM TIME takes a timestamp string; always UTC, microseconds as CockroachDB keeps them. */
export function asOfSystemTime(at: Date): string {
  return `${at.toISOString().replace('T', ' ').replace('Z', '')}000+00:00`
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`
const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`

/**
 * The restore script, run by root in a SQL Job: list the collection and the newest
 * backup's end time (the Job's log keeps both: without revision_history that end time is
 * the one --to-time CockroachDB accepts), RESTORE the newest full backup (FROM LATEST)
 * under a new name, as of --to-time when given, then let the read-only verify user read
 * the copy as it reads the ledger. A RESTORE into a new database gives `public` (every
 * user) CONNECT on it and CREATE on its public schema: both are taken back first, as the
 * schema Job does on the ledger (publicRoleRevokes).
 */
export function restoreStatements(input: {
  collection: string
  database: string
  scratch: string
  toTime?: Date
  verifyUser: string
}): string[] {
  const scratch = quoteIdent(input.scratch)
  const who = quoteIdent(input.verifyUser)
  const collection = sqlString(input.collection)
  return [
    `SHOW BACKUPS IN ${collection};`,
    `SELECT replace(end_time::STRING, ' ', 'T') || 'Z' AS end_time_utc FROM [SHOW BACKUP FROM LATEST IN ${collection}] ORDER BY end_time DESC LIMIT 1;`,
    `RESTORE DATABASE ${quoteIdent(input.database)} FROM LATEST IN ${collection}${input.toTime ? ` AS OF SYSTEM TIME ${sqlString(asOfSystemTime(input.toTime))}` : ''} WITH new_db_name = ${sqlString(input.scratch)};`,
    ...publicRoleRevokes(input.scratch, []),
    `GRANT CONNECT ON DATABASE ${scratch} TO ${who};`,
    `GRANT SELECT ON TABLE ${scratch}.accounts, ${scratch}.transfers, ${scratch}.ledger_mint TO ${who};`,
  ]
}

/**
 * The DROP of the copy; refuses any name that is not a scratch database's. A RESTORE is
 * a CockroachDB job that goes on when its client is gone (a timed-out wait, Ctrl-C), and
 * while it runs its database is not public, so a DROP finds nothing and the copy appears
 * afterwards: the RESTORE of this copy (its job description names new_db_name) is
 * cancelled first, which reverts what it wrote, and waited for. Idempotent.
 */
export function dropStatements(scratch: string): string[] {
  if (!scratch.startsWith(SCRATCH_DATABASE_PREFIX))
    throw new Error(`refusing to drop "${scratch}": not a scratch database`)
  const restoreJobs = `SELECT job_id FROM [SHOW JOBS] WHERE job_type = 'RESTORE' AND description LIKE ${sqlString(`%${scratch}%`)}`
  return [
    `CANCEL JOBS (${restoreJobs} AND status IN ('pending', 'running', 'paused'));`,
    `SHOW JOBS WHEN COMPLETE (${restoreJobs});`,
    `DROP DATABASE IF EXISTS ${quoteIdent(scratch)} CASCADE;`,
  ]
}

/**
 * The k3d world's restore: a dry run returns the plan; a real run needs the world up
 * (Docker, the clusters, backups in the collection) and runs the same steps.
 */
export async function restoreK3d(world: K3dWorld, options: K3dRestoreOptions = {}): Promise<K3dRestoreResult> {
  const dryRun = options.dryRun ?? false
  const progress = options.progress ?? silentProgress
  const {config} = world
  const {layout} = world
  const scratch = scratchDatabaseName(options.now ?? new Date())
  const collection = backupCollectionUri(config)
  const target = options.toTime
    ? `the ledger as of ${options.toTime.toISOString()} (AS OF SYSTEM TIME)`
    : 'the newest backup in the collection (FROM LATEST)'
  if (!config.backup.schedule) {
    const message =
      'atlas.yaml sets no backup.schedule: the k3d world takes no backups, so the collection is empty and RESTORE would find nothing'
    if (!dryRun)
      throw new PreconditionError(message, {
        code: 'NO_BACKUPS',
        hint: 'set backup.schedule (e.g. 6h) in atlas.yaml and run `atlas up --driver k3d`: its SQL job creates the schedule',
      })
    progress.info(`warning: ${message}`)
  }

  const primary = regionTopology(k3dTopology(config), primaryRegion(config).name)
  const job = {restore: `${config.namePrefix}-restore`, drop: `${config.namePrefix}-restore-drop`}
  const files = {
    restore: path.join(layout.sqlDir, 'restore-job.yaml'),
    drop: path.join(layout.sqlDir, 'restore-drop-job.yaml'),
  }
  const restoreSql = restoreStatements({
    collection,
    database: LEDGER_DATABASE,
    scratch,
    verifyUser: VERIFY_USER,
    toTime: options.toTime,
  })
  const dropSql = dropStatements(scratch)
  const image = await cockroachImage()
  const ns = ['--context', primary.context, '--namespace', ATLAS_NAMESPACE]
  let restoreStarted = 0
  let restoreSeconds = 0
  let verify: undefined | VerifyResult

  // before anything is written (the runner makes its log directory): a dry run only warns
  const preflight = async (dry: boolean) => {
    const {inspectTool} = await import('../tools/discovery.js')
    const {TOOL_CATALOG} = await import('../tools/catalog.js')
    const kubectl = await inspectTool(TOOL_CATALOG.find((t) => t.name === 'kubectl')!)
    if (dry) {
      if (!kubectl.ok) progress.info('warning: kubectl not found or not usable here (the plan is still exact)')
      return
    }

    const state = await StepState.load(layout.stateFile)
    if (!state.wasDone('ledger-synced')) {
      throw new PreconditionError(
        'the k3d world is not up: a restore needs its running clusters (Docker) and the backups its schedule took',
        {
          code: 'WORLD_NOT_UP',
          hint: 'run `atlas up --driver k3d` first; `atlas restore --driver k3d --dry-run` prints the plan anywhere',
        },
      )
    }

    if (!kubectl.ok)
      throw new PreconditionError('the k3d restore needs kubectl', {code: 'TOOL_MISSING', hint: 'run `atlas doctor`'})
  }

  await preflight(dryRun)

  const steps: K3dStep[] = [
    {
      id: 'doctor',
      title: 'check the tools (kubectl) and that the k3d world is up',
      kind: 'check',
      hint: '`atlas doctor` says what is missing',
      commands: [],
      always: true,
    },
    {
      id: 'render',
      title: `render the restore and drop SQL Jobs (scratch database ${scratch})`,
      kind: 'render',
      hint: 'check that the base dir is writable',
      commands: [],
      always: true,
      files: [files.restore, files.drop],
      async before(dry) {
        if (dry) return
        const {mkdir, writeFile} = await import('node:fs/promises')
        await mkdir(layout.sqlDir, {recursive: true})
        // 0600: the scripts carry the collection's credentials
        const manifests = restoreJobManifests({names: job, restoreSql, dropSql, image})
        await writeFile(files.restore, manifests.restore, {mode: 0o600})
        await writeFile(files.drop, manifests.drop, {mode: 0o600})
      },
    },
    {
      id: 'restore',
      title: `restore ${target} as the new database ${scratch} (beside the live ${LEDGER_DATABASE}), and let ${VERIFY_USER} read it`,
      kind: 'sql',
      hint: `the Job's log says why: kubectl ${ns.join(' ')} logs job/${job.restore} (SHOW BACKUPS lists the collection's backups, the end_time_utc line is the newest backup's end time, in the form --to-time takes; the schedule takes no revision_history, so --to-time must be exactly that end time, which restores the same copy as no --to-time)`,
      always: true,
      sql: restoreSql.map(redactCollectionUri),
      async before() {
        restoreStarted = Date.now()
      },
      commands: [
        ...sqlJob(primary.context, job.restore, files.restore),
        {
          tool: 'kubectl',
          args: [...ns, 'logs', `job/${job.restore}`],
          cwd: '.',
          async after(result) {
            restoreSeconds = (Date.now() - restoreStarted) / 1000
            options.onProgress?.(redactCollectionUri(result.stdout.trim()))
          },
        },
      ],
    },
    {
      id: 'verify',
      title: `verify ${scratch} as ${VERIFY_USER} over TLS with its client certificate (conservation, replay, balances, duplicates)`,
      kind: 'check',
      hint: 'see the violations above; the copy is dropped in the next step (--keep leaves it)',
      commands: [],
      always: true,
      async before(dry) {
        if (dry) return
        const urls = (await world.databaseUrls('verify')).map((u) => {
          const url = new URL(u)
          url.pathname = `/${scratch}`
          return url.toString()
        })
        const {verifyLedger} = await import('../ledger/verify/index.js')
        // a restored copy has no run log of its own: the checks that hold for any consistent copy
        verify = await verifyLedger({db: urls, signal: options.signal, onProgress: options.onProgress})
      },
    },
  ]
  // how to drop the copy when atlas could not: the drop Job's own script, run again
  const manualDrop = `as root: ${dropSql.join(' ')} (the drop Job runs exactly this: kubectl ${ns.join(' ')} delete job ${job.drop} --ignore-not-found && kubectl ${ns.join(' ')} apply --server-side --filename ${files.drop} && kubectl ${ns.join(' ')} patch job ${job.drop} --type=merge --patch '{"spec":{"suspend":false}}')`
  const dropStep: K3dStep = {
    id: 'drop',
    title: `drop the scratch database ${scratch}`,
    kind: 'cleanup',
    hint: `kubectl ${ns.join(' ')} logs job/${job.drop} says why; drop it ${manualDrop}`,
    always: true,
    sql: dropSql,
    commands: sqlJob(primary.context, job.drop, files.drop),
  }
  if (!options.keep) steps.push(dropStep)

  const runner = new CommandRunner({dryRun, ...(dryRun ? {} : {logFile: layout.logFile})})
  const state = await StepState.load(path.join(layout.k3dDir, 'restore-state.json'))
  const pipeline = {runner, state, progress, dryRun, inputsDigest: scratch, signal: options.signal}
  let planSteps: PlanStep[]
  try {
    planSteps = await runPipeline(steps, pipeline)
  } catch (error) {
    // the copy does not outlive a failed or interrupted restore or verify (unless --keep); the
    // drop runs without the run's signal, which may be what stopped it (Ctrl-C; a second one
    // ends the process). When the drop fails too, the error says what is left and how to drop it.
    if (dryRun || options.keep || restoreStarted === 0) throw error
    try {
      await runPipeline([dropStep], {...pipeline, signal: undefined})
    } catch (dropError) {
      const why = dropError instanceof Error ? dropError.message : String(dropError)
      progress.info(
        `warning: the scratch database ${scratch} may be left in the cluster (its drop failed); drop it ${manualDrop}`,
      )
      throw copyLeftError(error, {scratch, why, manualDrop})
    }

    throw error
  }

  const normalised = world.placeholders(planSteps)
  return {
    driver: 'k3d',
    dryRun,
    collection: redactCollectionUri(collection),
    scratchDatabase: scratch,
    target,
    steps: normalised,
    plan: normalised.flatMap((s) => s.commands),
    planLegend: world.planLegend(),
    ...(dryRun && runner.missingTools.size > 0 ? {missingTools: [...runner.missingTools].sort()} : {}),
    restoreSeconds,
    ...(verify ? {verify} : {}),
    verdict: dryRun ? 'planned' : verify ? (verify.ok ? 'verified' : 'violations') : 'not verified',
    kept: Boolean(options.keep) && !dryRun,
  }
}

/**
 * The restore and drop Jobs. The restore runs its script once: run again in a new pod,
 * the RESTORE would fail on the copy the first run made, and the Job's log would show that
 * instead of the first error. The drop is idempotent and may run again.
 */
export function restoreJobManifests(input: {
  dropSql: string[]
  image: string
  names: {drop: string; restore: string}
  restoreSql: string[]
}): {drop: string; restore: string} {
  const script = (statements: string[]) =>
    `-- Rendered by atlas restore (k3d world): the live "${LEDGER_DATABASE}" database is never written.\n${statements.join('\n')}\n`
  return {
    restore: sqlJobManifest({name: input.names.restore, sql: script(input.restoreSql), image: input.image, retries: 0}),
    drop: sqlJobManifest({name: input.names.drop, sql: script(input.dropSql), image: input.image}),
  }
}

/** The run's own failure, saying that the copy was not dropped and how to drop it (exit code and code kept). */
function copyLeftError(error: unknown, left: {manualDrop: string; scratch: string; why: string}): AtlasError {
  const first = error instanceof AtlasError ? error : undefined
  const message = error instanceof Error ? error.message : String(error)
  return new AtlasError(
    `${message}; the scratch database ${left.scratch} was not dropped: ${left.why}`,
    first?.exitCode ?? ExitCode.Unexpected,
    first?.code ?? 'K3D_RESTORE_FAILED',
    {
      hint: `drop ${left.scratch} ${left.manualDrop}`,
      cause: error,
      details: {...first?.details, scratchDatabase: left.scratch, dropped: false},
    },
  )
}
