import path from 'node:path'
import {primaryRegion} from '../config/regions.js'
import {PreconditionError} from '../errors.js'
import {ATLAS_NAMESPACE, k3dTopology, regionTopology} from '../gitops/topology.js'
import {silentProgress} from '../progress.js'
import {CommandRunner, type PlannedCommand} from '../tools/runner.js'
import type {VerifyResult} from '../ledger/verify.js'
import type {PlanStep, ProgressReporter} from '../world/types.js'
import type {K3dWorld} from '../world/k3d/index.js'
import {backupCollectionUri, LEDGER_DATABASE, redactCollectionUri, VERIFY_USER} from '../world/k3d/ddl.js'
import {sqlJob, type K3dStep} from '../world/k3d/plan.js'
import {runPipeline} from '../world/k3d/pipeline.js'
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
  /** point-in-time target: RESTORE … AS OF SYSTEM TIME */
  toTime?: Date
  /** the clock the scratch database is named after (tests pin it) */
  now?: Date
  dryRun?: boolean
  /** keep the scratch database (no DROP) */
  keep?: boolean
  signal?: AbortSignal
  progress?: ProgressReporter
  onProgress?: (message: string) => void
}

export interface K3dRestoreResult {
  driver: 'k3d'
  dryRun: boolean
  /** the backup collection, credentials redacted */
  collection: string
  /** the database the backup is restored into; never the live one */
  scratchDatabase: string
  /** what is restored: the newest backup, or a point in time */
  target: string
  steps: PlanStep[]
  /** every command in order */
  plan: PlannedCommand[]
  planLegend: Record<string, string>
  missingTools?: string[]
  /** the RESTORE job until it finished, seconds (0 in a dry run) */
  restoreSeconds: number
  verify?: VerifyResult
  verdict: 'verified' | 'violations' | 'not verified' | 'planned'
  /** whether the scratch database was left (--keep) */
  kept: boolean
}

/** Prefix of every scratch database: a DROP is only ever rendered for a name with it. */
export const SCRATCH_DATABASE_PREFIX = 'ledger_restore_'

/** ledger_restore_20261130t023000: one per restore, named after its start (UTC). */
export function scratchDatabaseName(now: Date): string {
  return `${SCRATCH_DATABASE_PREFIX}${now.toISOString().replace(/\.\d+Z$/, '').replace(/[-:]/g, '').toLowerCase()}`
}

/** AS OF SYSTEM TIME takes a timestamp string; always UTC, microseconds as CockroachDB keeps them. */
export function asOfSystemTime(at: Date): string {
  return `${at.toISOString().replace('T', ' ').replace('Z', '')}000+00:00`
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`
const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`

/**
 * The restore script, run by root in a SQL Job: list the collection (the Job's log keeps
 * it), RESTORE the newest full backup (FROM LATEST) under a new name, as of --to-time when
 * given, then let the read-only verify user read the copy as it reads the ledger.
 */
export function restoreStatements(input: {collection: string; database: string; scratch: string; verifyUser: string; toTime?: Date}): string[] {
  const scratch = quoteIdent(input.scratch)
  const who = quoteIdent(input.verifyUser)
  return [
    `SHOW BACKUPS IN ${sqlString(input.collection)};`,
    `RESTORE DATABASE ${quoteIdent(input.database)} FROM LATEST IN ${sqlString(input.collection)}${input.toTime ? ` AS OF SYSTEM TIME ${sqlString(asOfSystemTime(input.toTime))}` : ''} WITH new_db_name = ${sqlString(input.scratch)};`,
    `GRANT CONNECT ON DATABASE ${scratch} TO ${who};`,
    `GRANT SELECT ON TABLE ${scratch}.accounts, ${scratch}.transfers, ${scratch}.ledger_mint TO ${who};`,
  ]
}

/** The DROP of the copy; refuses any name that is not a scratch database's. */
export function dropStatements(scratch: string): string[] {
  if (!scratch.startsWith(SCRATCH_DATABASE_PREFIX)) throw new Error(`refusing to drop "${scratch}": not a scratch database`)
  return [`DROP DATABASE IF EXISTS ${quoteIdent(scratch)} CASCADE;`]
}

/**
 * The k3d world's restore: a dry run returns the plan; a real run needs the world up
 * (Docker, the clusters, backups in the collection) and runs the same steps.
 */
export async function restoreK3d(world: K3dWorld, options: K3dRestoreOptions = {}): Promise<K3dRestoreResult> {
  const dryRun = options.dryRun ?? false
  const progress = options.progress ?? silentProgress
  const config = world.config
  const layout = world.layout
  const scratch = scratchDatabaseName(options.now ?? new Date())
  const collection = backupCollectionUri(config)
  const target = options.toTime ? `the ledger as of ${options.toTime.toISOString()} (AS OF SYSTEM TIME)` : 'the newest backup in the collection (FROM LATEST)'
  if (!config.backup.schedule) {
    const message = 'atlas.yaml sets no backup.schedule: the k3d world takes no backups, so the collection is empty and RESTORE would find nothing'
    if (!dryRun) throw new PreconditionError(message, {code: 'NO_BACKUPS', hint: 'set backup.schedule (e.g. 6h) in atlas.yaml and run `atlas up --driver k3d`: its SQL job creates the schedule'})
    progress.info(`warning: ${message}`)
  }
  const primary = regionTopology(k3dTopology(config), primaryRegion(config).name)
  const job = {restore: `${config.namePrefix}-restore`, drop: `${config.namePrefix}-restore-drop`}
  const files = {restore: path.join(layout.sqlDir, 'restore-job.yaml'), drop: path.join(layout.sqlDir, 'restore-drop-job.yaml')}
  const restoreSql = restoreStatements({collection, database: LEDGER_DATABASE, scratch, verifyUser: VERIFY_USER, toTime: options.toTime})
  const dropSql = dropStatements(scratch)
  const script = (statements: string[]) => `-- Rendered by atlas restore (k3d world): the live "${LEDGER_DATABASE}" database is never written.\n${statements.join('\n')}\n`
  const image = await cockroachImage()
  const ns = ['--context', primary.context, '--namespace', ATLAS_NAMESPACE]
  let restoreStarted = 0
  let restoreSeconds = 0
  let verify: VerifyResult | undefined

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
      throw new PreconditionError('the k3d world is not up: a restore needs its running clusters (Docker) and the backups its schedule took', {code: 'WORLD_NOT_UP', hint: 'run `atlas up --driver k3d` first; `atlas restore --driver k3d --dry-run` prints the plan anywhere'})
    }
    if (!kubectl.ok) throw new PreconditionError('the k3d restore needs kubectl', {code: 'TOOL_MISSING', hint: 'run `atlas doctor`'})
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
      before: async (dry) => {
        if (dry) return
        const {mkdir, writeFile} = await import('node:fs/promises')
        await mkdir(layout.sqlDir, {recursive: true})
        // 0600: the scripts carry the collection's credentials
        await writeFile(files.restore, sqlJobManifest({name: job.restore, sql: script(restoreSql), image}), {mode: 0o600})
        await writeFile(files.drop, sqlJobManifest({name: job.drop, sql: script(dropSql), image}), {mode: 0o600})
      },
    },
    {
      id: 'restore',
      title: `restore ${target} as the new database ${scratch} (beside the live ${LEDGER_DATABASE}), and let ${VERIFY_USER} read it`,
      kind: 'sql',
      hint: `the Job's log says why: kubectl ${ns.join(' ')} logs job/${job.restore} (SHOW BACKUPS lists what the collection holds; --to-time other than the newest backup's end time needs backups taken WITH revision_history, which the schedule does not set)`,
      always: true,
      sql: restoreSql.map(redactCollectionUri),
      before: async () => {
        restoreStarted = Date.now()
      },
      commands: [
        ...sqlJob(primary.context, job.restore, files.restore),
        {
          tool: 'kubectl',
          args: [...ns, 'logs', `job/${job.restore}`],
          cwd: '.',
          after: async (result) => {
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
      before: async (dry) => {
        if (dry) return
        const urls = (await world.databaseUrls('verify')).map((u) => {
          const url = new URL(u)
          url.pathname = `/${scratch}`
          return url.toString()
        })
        const {verifyLedger} = await import('../ledger/verify.js')
        // a restored copy has no run log of its own: the checks that hold for any consistent copy
        verify = await verifyLedger({db: urls, signal: options.signal, onProgress: options.onProgress})
      },
    },
  ]
  const dropStep: K3dStep = {
    id: 'drop',
    title: `drop the scratch database ${scratch}`,
    kind: 'cleanup',
    hint: `drop it by hand: kubectl ${ns.join(' ')} logs job/${job.drop}`,
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
    // the copy never outlives a failed restore or verify (unless --keep)
    if (!dryRun && !options.keep && restoreStarted > 0) await runPipeline([dropStep], pipeline).catch(() => undefined)
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
