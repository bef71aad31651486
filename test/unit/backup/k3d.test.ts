// The k3d world's restore: the dry-run plan (golden), what it restores into, and a
// real run against the stub tools (test/fixtures/k3d/stub-tool; CockroachDB cannot
// run here): refused before anything is written when the world is not up, and the
// scratch copy dropped whatever stopped the run (a failed verify, a failed wait, Ctrl-C),
// or, when even that drop fails, the error says so and how to drop it by hand.
import {expect} from 'chai'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {
  asOfSystemTime,
  dropStatements,
  type K3dRestoreResult,
  restoreK3d,
  restoreStatements,
  scratchDatabaseName,
} from '../../../src/lib/backup/k3d.js'
import {DEFAULT_CONFIG} from '../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../src/lib/config/load.js'
import {AtlasError, ExitCode} from '../../../src/lib/errors.js'
import {K3dWorld} from '../../../src/lib/world/k3d/index.js'
import {emptyDir, FIXTURES, removeTempDirs, stubToolDir, withEnv} from '../../fixtures/k3d/stubs.js'

const scheduled = () => parseConfigObject({...DEFAULT_CONFIG, backup: {...DEFAULT_CONFIG.backup, schedule: '6h'}})
const NOW = new Date('2026-11-30T04:30:15.123Z')

function golden(name: string, actual: unknown): void {
  const file = path.join(FIXTURES, name)
  const text = `${JSON.stringify(actual, null, 2)}\n`
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text)
  expect(JSON.parse(text), `${name} (UPDATE_GOLDEN=1 regenerates it)`).to.deep.equal(
    JSON.parse(readFileSync(file, 'utf8')),
  )
}

/** The plan as it is the same on every machine: without the legend's absolute paths. */
const portable = (r: K3dRestoreResult) => ({...r, planLegend: Object.keys(r.planLegend)})
const sqlOf = (r: K3dRestoreResult) => r.steps.flatMap((s) => s.sql ?? [])

describe('k3d restore plan (--dry-run)', () => {
  let restore: () => void
  let baseDir: string

  beforeEach(() => {
    restore = withEnv({PATH: emptyDir('atlas-nopath-'), ATLAS_TOOL_DIRS: ''})
    baseDir = emptyDir('atlas-k3d-base-')
  })

  afterEach(() => restore())

  it('matches test/fixtures/k3d/restore-plan.json and writes nothing', async () => {
    const result = await restoreK3d(new K3dWorld(scheduled(), {baseDir}), {dryRun: true, now: NOW})
    golden('restore-plan.json', portable(result))
    expect(readdirSync(baseDir), 'files in the base dir after a dry run').to.deep.equal([])
    expect(result.steps.map((s) => s.id)).to.deep.equal(['doctor', 'render', 'restore', 'verify', 'drop'])
    expect(result.verdict).to.equal('planned')
  })

  it("restores FROM LATEST in the schedule's collection into a scratch database, never over the live one, and drops it last", async () => {
    const result = await restoreK3d(new K3dWorld(scheduled(), {baseDir}), {dryRun: true, now: NOW})
    const {backupScheduleStatements, backupCollectionUri} = await import('../../../src/lib/world/k3d/ddl.js')
    // the collection the schedule writes to, with the S3-compatible parameters, credentials redacted
    expect(backupScheduleStatements(scheduled())[0]).to.include(`INTO '${backupCollectionUri(scheduled())}'`)
    expect(result.collection).to.equal(
      's3://atlas-audit-us/cockroach-backups?AWS_ACCESS_KEY_ID=<redacted>&AWS_SECRET_ACCESS_KEY=<redacted>&AWS_ENDPOINT=http%3A%2F%2Fatlas-localstack%3A4566&AWS_REGION=us-east-1&AWS_USE_PATH_STYLE=true',
    )
    expect(result.scratchDatabase).to.equal('ledger_restore_20261130t043015')
    const restoreJobs =
      "SELECT job_id FROM [SHOW JOBS] WHERE job_type = 'RESTORE' AND description LIKE '%ledger_restore_20261130t043015%'"
    expect(sqlOf(result)).to.deep.equal([
      `SHOW BACKUPS IN '${result.collection}';`,
      `SELECT replace(end_time::STRING, ' ', 'T') || 'Z' AS end_time_utc FROM [SHOW BACKUP FROM LATEST IN '${result.collection}'] ORDER BY end_time DESC LIMIT 1;`,
      `RESTORE DATABASE "ledger" FROM LATEST IN '${result.collection}' WITH new_db_name = 'ledger_restore_20261130t043015';`,
      'REVOKE CREATE ON SCHEMA "ledger_restore_20261130t043015".public FROM public;',
      'REVOKE CONNECT ON DATABASE "ledger_restore_20261130t043015" FROM public;',
      'GRANT CONNECT ON DATABASE "ledger_restore_20261130t043015" TO "atlas_verify";',
      'GRANT SELECT ON TABLE "ledger_restore_20261130t043015".accounts, "ledger_restore_20261130t043015".transfers, "ledger_restore_20261130t043015".ledger_mint TO "atlas_verify";',
      `CANCEL JOBS (${restoreJobs} AND status IN ('pending', 'running', 'paused'));`,
      `SHOW JOBS WHEN COMPLETE (${restoreJobs});`,
      'DROP DATABASE IF EXISTS "ledger_restore_20261130t043015" CASCADE;',
    ])
    // no credential anywhere in what is shown
    expect(JSON.stringify(result)).to.not.match(/AWS_SECRET_ACCESS_KEY=test|AWS_ACCESS_KEY_ID=test/)
    // the SQL runs in the primary region as root, through the same suspended-Job flow as up's SQL steps
    const restoreStep = result.steps.find((s) => s.id === 'restore')!
    expect(restoreStep.commands.map((c) => c.argv.join(' '))).to.include(
      'kubectl --context k3d-dc-us --namespace atlas apply --server-side --field-manager=atlas --filename <base>/k3d/sql/restore-job.yaml',
    )
    expect(restoreStep.commands.at(-1)!.argv.join(' ')).to.equal(
      'kubectl --context k3d-dc-us --namespace atlas logs job/atlas-restore',
    )
    // --keep leaves the copy: no drop step
    const kept = await restoreK3d(new K3dWorld(scheduled(), {baseDir}), {dryRun: true, now: NOW, keep: true})
    expect(kept.steps.map((s) => s.id)).to.not.include('drop')
  })

  it('maps --to-time to AS OF SYSTEM TIME (UTC)', async () => {
    const toTime = new Date('2026-11-30T02:30:00.250+01:00')
    const result = await restoreK3d(new K3dWorld(scheduled(), {baseDir}), {dryRun: true, now: NOW, toTime})
    expect(asOfSystemTime(toTime)).to.equal('2026-11-30 01:30:00.250000+00:00')
    expect(sqlOf(result)[2]).to.equal(
      `RESTORE DATABASE "ledger" FROM LATEST IN '${result.collection}' AS OF SYSTEM TIME '2026-11-30 01:30:00.250000+00:00' WITH new_db_name = 'ledger_restore_20261130t043015';`,
    )
    expect(result.target).to.include('2026-11-30T01:30:00.250Z')
  })

  it('closes the copy to `public` (CONNECT on it, CREATE in its schema) before it lets the verify user read it', () => {
    // a RESTORE into a new database gives `public` CONNECT on it and CREATE on its public schema
    const sql = restoreStatements({
      collection: 's3://b/p',
      database: 'ledger',
      scratch: 'ledger_restore_x',
      verifyUser: 'atlas_verify',
    })
    const at = (re: RegExp) => sql.findIndex((s) => re.test(s))
    const restoreAt = at(/^RESTORE /)
    const revokeConnect = at(/^REVOKE CONNECT ON DATABASE "ledger_restore_x" FROM public;$/)
    const revokeCreate = at(/^REVOKE CREATE ON SCHEMA "ledger_restore_x"\.public FROM public;$/)
    const firstGrant = at(/^GRANT /)
    for (const [what, i] of [
      ['REVOKE CONNECT', revokeConnect],
      ['REVOKE CREATE', revokeCreate],
    ] as const) {
      expect(i, what).to.be.greaterThan(restoreAt)
      expect(i, `${what} before the GRANTs`).to.be.lessThan(firstGrant)
    }

    // the copy's own revokes only: the built-in databases are the schema Job's business
    expect(sql.join('\n')).to.not.match(/defaultdb|postgres|"ledger"\.public/)
    // and nothing is granted to anyone but the verify user
    expect(sql.filter((s) => s.startsWith('GRANT')).every((s) => s.endsWith('TO "atlas_verify";'))).to.equal(true)
  })

  it("lists the newest backup's end time, the one --to-time a backup without revision_history accepts", () => {
    const sql = restoreStatements({
      collection: 's3://b/p',
      database: 'ledger',
      scratch: 'ledger_restore_x',
      verifyUser: 'atlas_verify',
    })
    expect(
      sql.indexOf(
        "SELECT replace(end_time::STRING, ' ', 'T') || 'Z' AS end_time_utc FROM [SHOW BACKUP FROM LATEST IN 's3://b/p'] ORDER BY end_time DESC LIMIT 1;",
      ),
    ).to.be.within(0, sql.findIndex((s) => s.startsWith('RESTORE')) - 1)
  })

  it('the drop cancels a RESTORE of the copy still running in CockroachDB, and waits for it to end, before the DROP', () => {
    const sql = dropStatements('ledger_restore_x')
    expect(sql).to.have.length(3)
    expect(sql[0]).to.match(
      /^CANCEL JOBS \(SELECT job_id FROM \[SHOW JOBS\] WHERE job_type = 'RESTORE' AND description LIKE '%ledger_restore_x%' AND status IN \('pending', 'running', 'paused'\)\);$/,
    )
    expect(sql[1]).to.equal(
      "SHOW JOBS WHEN COMPLETE (SELECT job_id FROM [SHOW JOBS] WHERE job_type = 'RESTORE' AND description LIKE '%ledger_restore_x%');",
    )
    expect(sql[2]).to.equal('DROP DATABASE IF EXISTS "ledger_restore_x" CASCADE;')
  })

  it('never renders a DROP of anything but a scratch database', () => {
    expect(() => dropStatements('ledger')).to.throw(/not a scratch database/)
    expect(scratchDatabaseName(NOW)).to.match(/^ledger_restore_\d{8}t\d{6}$/)
  })

  it('warns in a dry run, and refuses a real run, when atlas.yaml sets no backup.schedule', async () => {
    const infos: string[] = []
    const progress = {step: () => () => {}, info: (m: string) => void infos.push(m)}
    const world = new K3dWorld(parseConfigObject(DEFAULT_CONFIG), {baseDir})
    await restoreK3d(world, {dryRun: true, now: NOW, progress})
    expect(infos.join('\n')).to.match(/no backup\.schedule/)
    const error = await restoreK3d(world, {now: NOW}).then(
      () => {},
      (error_: AtlasError) => error_,
    )
    expect(error).to.be.instanceOf(AtlasError)
    expect(error!.code).to.equal('NO_BACKUPS')
    expect(readdirSync(baseDir)).to.deep.equal([])
  })
})

describe('k3d restore, run against stub tools', () => {
  let restore: () => void
  let baseDir: string
  let log: string
  const calls = () => (existsSync(log) ? readFileSync(log, 'utf8') : '')

  beforeEach(() => {
    baseDir = emptyDir('atlas-k3d-run-')
    log = path.join(baseDir, 'stub-calls.log')
    restore = withEnv({
      PATH: `${stubToolDir()}:/usr/bin:/bin`,
      ATLAS_TOOL_DIRS: '',
      ATLAS_STUB_LOG: log,
      ATLAS_STUB_FAIL: undefined,
      ATLAS_STUB_FAIL_RE: undefined,
    })
  })

  afterEach(() => restore())

  /** A world whose `up` completed (its state says so), without the verify certificate: its verify step fails. */
  async function upWorld(): Promise<K3dWorld> {
    const world = new K3dWorld(scheduled(), {baseDir})
    const {StepState} = await import('../../../src/lib/world/k3d/state.js')
    await (await StepState.load(world.layout.stateFile)).markDone('ledger-synced', 'x')
    return world
  }

  const kubectlCalls = () =>
    calls()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('kubectl --context'))
  const DROP_JOB_APPLY = /apply --server-side --field-manager=atlas --filename .*\/restore-drop-job\.yaml$/
  const DROP_JOB_WAIT = /wait --for=condition=complete --timeout=300s job\/atlas-restore-drop$/
  const recorder = () => {
    const infos: string[] = []
    return {infos, progress: {step: () => () => {}, info: (m: string) => void infos.push(m)}}
  }

  it('refuses clearly, before writing or running anything, when the k3d world is not up', async () => {
    const error = await restoreK3d(new K3dWorld(scheduled(), {baseDir}), {now: NOW}).then(
      () => {},
      (error_: AtlasError) => error_,
    )
    expect(error).to.be.instanceOf(AtlasError)
    expect(error!.message).to.match(/the k3d world is not up/)
    expect(error!.hint).to.include('--dry-run')
    expect(existsSync(path.join(baseDir, 'k3d')), 'nothing under the base dir').to.equal(false)
    expect(calls()).to.not.include('kubectl --context')
  })

  it('runs the planned commands, and drops the copy when its verify fails', async () => {
    const world = new K3dWorld(scheduled(), {baseDir})
    // up completed (its state says so); no verify certificate: the verify step fails
    const {StepState} = await import('../../../src/lib/world/k3d/state.js')
    await (await StepState.load(world.layout.stateFile)).markDone('ledger-synced', 'x')
    const plan = await restoreK3d(world, {dryRun: true, now: NOW})
    const error = await restoreK3d(world, {now: NOW}).then(
      () => {},
      (error_: AtlasError) => error_,
    )
    expect(error, 'the verify step fails').to.be.instanceOf(AtlasError)
    expect(error!.message).to.match(/verify ledger_restore_20261130t043015 .* failed: .*client certificate/)
    const ran = calls()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('kubectl --context'))
    // every command of the plan's restore and drop steps, in order, with the live Job's uid in the owner patch
    const planned = plan.steps
      .filter((s) => s.id === 'restore' || s.id === 'drop')
      .flatMap((s) => s.commands.map((c) => c.argv.join(' ')))
    expect(ran).to.deep.equal(
      planned.map((c) =>
        c
          .replaceAll('<base>', world.layout.baseDir)
          .replace(/<uid of job\/[^>]+>/, '00000000-0000-4000-8000-000000000001')
          .replace(/<uid of job\/[^>]+>/, '00000000-0000-4000-8000-000000000001'),
      ),
    )
    // the scripts the Jobs ran (their Secrets): the restore with its real collection, the drop of the copy alone
    const {parseAllDocuments} = await import('yaml')
    const script = (file: string) =>
      parseAllDocuments(readFileSync(path.join(baseDir, 'k3d', 'sql', file), 'utf8'))
        .map((d) => d.toJS())
        .find((o) => o.kind === 'Secret').stringData['script.sql'] as string
    expect(script('restore-job.yaml'))
      .to.include('AWS_SECRET_ACCESS_KEY=test&AWS_ENDPOINT=http%3A%2F%2Fatlas-localstack%3A4566')
      .and.include("WITH new_db_name = 'ledger_restore_20261130t043015';")
    expect(script('restore-drop-job.yaml').trim().split('\n').slice(1)).to.deep.equal(
      dropStatements('ledger_restore_20261130t043015'),
    )
  })

  it('the restore Job runs its script once (backoffLimit 0, restartPolicy Never): a retry would fail on the existing copy and hide the first error', async () => {
    const world = await upWorld()
    await restoreK3d(world, {now: NOW}).catch(() => {})
    const {parseAllDocuments} = await import('yaml')
    const job = (file: string) =>
      parseAllDocuments(readFileSync(path.join(baseDir, 'k3d', 'sql', file), 'utf8'))
        .map((d) => d.toJS())
        .find((o) => o.kind === 'Job')
    const restoreJob = job('restore-job.yaml')
    expect(restoreJob.spec.backoffLimit).to.equal(0)
    expect(restoreJob.spec.template.spec.restartPolicy).to.equal('Never')
    // the drop is idempotent (cancel, wait, DROP IF EXISTS): it may run again
    const dropJob = job('restore-drop-job.yaml')
    expect(dropJob.spec.backoffLimit).to.be.greaterThan(0)
    expect(dropJob.spec.template.spec.restartPolicy).to.equal('OnFailure')
  })

  it('Ctrl-C during the run still drops the copy: the drop runs with its own signal, not the aborted one', async () => {
    const world = await upWorld()
    const controller = new AbortController()
    const interrupt = new AtlasError('interrupted by SIGINT', 130, 'INTERRUPTED')
    // the restore step's last command (its Job's log) reports progress: Ctrl-C lands there
    const error = await restoreK3d(world, {
      now: NOW,
      signal: controller.signal,
      onProgress: () => controller.abort(interrupt),
    }).then(
      () => {},
      (error_: unknown) => error_,
    )
    expect(controller.signal.aborted).to.equal(true)
    expect(error, 'the interrupt is what the run reports').to.equal(interrupt)
    const ran = kubectlCalls()
    const logsAt = ran.findIndex((c) => c.endsWith('logs job/atlas-restore'))
    expect(logsAt, 'the restore ran').to.be.greaterThan(-1)
    expect(
      ran.slice(logsAt + 1).some((c) => DROP_JOB_APPLY.test(c)),
      'the drop Job applied after the interrupt',
    ).to.equal(true)
    expect(
      ran.slice(logsAt + 1).some((c) => DROP_JOB_WAIT.test(c)),
      'and waited for',
    ).to.equal(true)
  })

  it('a restore Job that never completes (kubectl wait fails): the copy is still dropped, after its RESTORE is cancelled', async () => {
    const world = await upWorld()
    process.env.ATLAS_STUB_FAIL_RE = 'wait --for=condition=complete --timeout=300s job/atlas-restore$'
    process.env.ATLAS_STUB_FAIL_MESSAGE = 'error: timed out waiting for the condition on jobs/atlas-restore'
    const error = await restoreK3d(world, {now: NOW}).then(
      () => {},
      (error_: AtlasError) => error_,
    )
    delete process.env.ATLAS_STUB_FAIL_MESSAGE
    expect(error).to.be.instanceOf(AtlasError)
    expect(error!.message).to.match(/restore the newest backup .* failed: .*timed out waiting/s)
    const ran = kubectlCalls()
    const waitAt = ran.findIndex((c) => c.endsWith('job/atlas-restore'))
    expect(
      ran.slice(waitAt + 1).some((c) => c.endsWith('logs job/atlas-restore')),
      'nothing more of the restore step',
    ).to.equal(false)
    expect(
      ran.slice(waitAt + 1).some((c) => DROP_JOB_WAIT.test(c)),
      'the drop Job ran',
    ).to.equal(true)
    expect(error!.details?.step).to.equal('restore')
    // what that Job runs: the RESTORE still going in CockroachDB (a client gone does not stop it) is
    // cancelled and waited for, then the DROP, which would otherwise find no public database to drop
    const {parseAllDocuments} = await import('yaml')
    const dropScript = parseAllDocuments(
      readFileSync(path.join(baseDir, 'k3d', 'sql', 'restore-drop-job.yaml'), 'utf8'),
    )
      .map((d) => d.toJS())
      .find((o) => o.kind === 'Secret').stringData['script.sql'] as string
    const lines = dropScript.trim().split('\n')
    const cancelAt = lines.findIndex((l) => l.startsWith('CANCEL JOBS') && l.includes('ledger_restore_20261130t043015'))
    const waitAt2 = lines.findIndex(
      (l) => l.startsWith('SHOW JOBS WHEN COMPLETE') && l.includes('ledger_restore_20261130t043015'),
    )
    const dropAt = lines.findIndex((l) => l.startsWith('DROP DATABASE'))
    expect(cancelAt, 'CANCEL JOBS').to.be.greaterThan(0)
    expect(waitAt2, 'SHOW JOBS WHEN COMPLETE after the cancel').to.be.greaterThan(cancelAt)
    expect(dropAt, 'DROP last').to.be.greaterThan(waitAt2)
  })

  it('a drop that fails too: warns, and the error says the copy is left and the SQL that drops it', async () => {
    const world = await upWorld()
    process.env.ATLAS_STUB_FAIL = 'job/atlas-restore-drop'
    const {infos, progress} = recorder()
    const error = await restoreK3d(world, {now: NOW, progress}).then(
      () => {},
      (error_: AtlasError) => error_,
    )
    expect(error, 'the first failure (the verify) is what the run reports').to.be.instanceOf(AtlasError)
    expect(error!.message).to.match(/verify ledger_restore_20261130t043015 .* failed/)
    expect(error!.message).to.include('ledger_restore_20261130t043015 was not dropped')
    for (const statement of dropStatements('ledger_restore_20261130t043015')) {
      expect(error!.hint, 'the hint carries the manual drop').to.include(statement)
      expect(infos.join('\n'), 'and so does the warning').to.include(statement)
    }

    expect(error!.hint).to.include('restore-drop-job.yaml')
    expect(error!.details).to.deep.include({scratchDatabase: 'ledger_restore_20261130t043015', dropped: false})
    // the exit code and code of the first failure (the verify's: no client certificate, a precondition)
    expect(error!.exitCode).to.equal(ExitCode.Precondition)
    expect(error!.code).to.equal('K3D_STEP_FAILED')
  })
})

after(removeTempDirs)
