// The k3d world run for real against stub tools (test/fixtures/k3d/stub-tool):
// every step's failure gives the step, the tool's message, what to do next and
// the right exit code; a re-run resumes after the last completed step.
import {expect} from 'chai'
import {existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {DEFAULT_CONFIG} from '../../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../../src/lib/config/load.js'
import {AtlasError, ExitCode} from '../../../../src/lib/errors.js'
import {PACKAGE_ROOT} from '../../../../src/lib/paths.js'
import {type K3dPlan, K3dWorld} from '../../../../src/lib/world/k3d/index.js'
import {emptyDir, removeTempDirs, stubToolDir, withEnv} from '../../../fixtures/k3d/stubs.js'

const defaults = () => parseConfigObject(DEFAULT_CONFIG)

interface Fixture {
  baseDir: string
  calls: () => string[]
  log: string
}

function stubbedWorld(fail?: string, tools?: string[]): {fixture: Fixture; restore: () => void} {
  const baseDir = emptyDir('atlas-k3d-run-')
  const log = path.join(baseDir, 'stub-calls.log')
  // the stubs come first; bash and coreutils from the system dirs
  const restore = withEnv({
    PATH: `${stubToolDir(tools)}:/usr/bin:/bin`,
    ATLAS_TOOL_DIRS: '',
    ATLAS_STUB_LOG: log,
    ATLAS_STUB_FAIL: fail,
  })
  const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [])
  return {fixture: {baseDir, log, calls}, restore}
}

async function expectAtlasError(promise: Promise<unknown>): Promise<AtlasError> {
  try {
    await promise
  } catch (error) {
    expect(error).to.be.instanceOf(AtlasError)
    return error as AtlasError
  }

  throw new Error('expected the operation to fail')
}

/** The uid test/fixtures/k3d/stub-tool gives every Job. */
const STUB_UID = '00000000-0000-4000-8000-000000000001'
/** A plan's command as it really runs: placeholders replaced by this machine's paths and the live Job's uid. */
const concrete = (text: string, baseDir: string) =>
  text
    .split('<base>')
    .join(baseDir)
    .split('<package>')
    .join(PACKAGE_ROOT)
    .replaceAll(/<uid of job\/[^>]+>/g, STUB_UID)
const commandsOf = (steps: K3dPlan['steps'], baseDir: string) =>
  steps.flatMap((s) => s.commands.map((c) => concrete(c.argv.join(' '), baseDir)))

/** Versions and readiness probes of the doctor step, which are not part of the plan. */
/** Steps every up runs, even when it resumes past them (plan.ts `always` steps with commands). */
const ALWAYS = new Set(['sql-leftovers'])
/** What a resumed up runs from step `index` on: the always steps before it, then every step from it. */
const resumedFrom = (steps: K3dPlan['steps'], index: number, baseDir: string) => [
  ...commandsOf(
    steps.slice(0, index).filter((s) => ALWAYS.has(s.id)),
    baseDir,
  ),
  ...commandsOf(steps.slice(index), baseDir),
]
const isProbe = (call: string) =>
  /^(docker (--version|info|inspect|container inspect)|k3d cluster list|k3d version|kubectl version|helm version|terraform version|ansible-playbook --version)/.test(
    call,
  )

/** A substring of the step's first command that no other command contains. */
function failureMatch(step: K3dPlan['steps'][number]): string {
  return step.commands[0].argv.join(' ')
}

describe('k3d world against stub tools', function () {
  this.timeout(120_000)
  let upPlan: K3dPlan
  let downPlan: K3dPlan

  before(async () => {
    const {fixture, restore} = stubbedWorld()
    try {
      const world = new K3dWorld(defaults(), {baseDir: fixture.baseDir})
      upPlan = await world.plan('up')
      downPlan = await world.plan('down')
    } finally {
      restore()
    }
  })

  it('runs up end to end, rendering files and running exactly the planned commands', async () => {
    const {fixture, restore} = stubbedWorld()
    try {
      const world = new K3dWorld(defaults(), {baseDir: fixture.baseDir})
      const result = await world.up()
      expect(result.started).to.equal(true)
      expect(fixture.calls().filter((c) => !isProbe(c))).to.deep.equal(commandsOf(upPlan.steps, fixture.baseDir))
      for (const file of upPlan.renderedFiles)
        expect(existsSync(file.replace('<base>', fixture.baseDir)), file).to.equal(true)
      const extraVars = JSON.parse(readFileSync(path.join(fixture.baseDir, 'k3d', 'ansible-extra-vars.json'), 'utf8'))
      for (const cluster of extraVars.atlas_clusters) expect(existsSync(cluster.config), cluster.config).to.equal(true)
      // the outputs of `terraform output -json` are kept and used for the endpoints
      expect(result.regions.find((r) => r.region === 'us')?.queueUrl).to.equal(
        'http://127.0.0.1:4566/000000000000/atlas-transactions-us',
      )
      expect((await world.status()).up).to.equal(true)
    } finally {
      restore()
    }
  })

  it('makes a database password once, keeps it out of logs, and gives one pgwire URL per reachable region', async () => {
    const {fixture, restore} = stubbedWorld()
    try {
      const world = new K3dWorld(defaults(), {baseDir: fixture.baseDir})
      await expectAtlasError(world.databaseUrls()) // not up yet
      await world.up()
      const file = path.join(fixture.baseDir, 'k3d', 'database-password')
      const password = readFileSync(file, 'utf8').trim()
      expect(password).to.have.length.greaterThan(20)
      expect(statSync(file).mode & 0o777).to.equal(0o600)
      await new K3dWorld(defaults(), {baseDir: fixture.baseDir}).up()
      expect(readFileSync(file, 'utf8').trim(), 'the password survives a second up').to.equal(password)
      // the schema Job sets it; the log never shows it
      expect(readFileSync(path.join(fixture.baseDir, 'k3d', 'sql', 'ledger-schema-job.yaml'), 'utf8')).to.include(
        password,
      )
      expect(readFileSync(path.join(fixture.baseDir, 'k3d', 'logs', 'k3d.log'), 'utf8')).to.not.include(password)

      const urls = await world.databaseUrls()
      expect(urls).to.have.length(3)
      // the node is verified against the world's CA (ansible/roles/cluster_secrets writes it there)
      const ca = path.join(fixture.baseDir, 'k3d', 'cockroach-certs', 'ca.crt')
      expect(urls[0]).to.equal(
        `postgresql://atlas:${encodeURIComponent(password)}@172.28.0.10:30257/ledger?sslmode=verify-ca&sslrootcert=${encodeURIComponent(ca)}`,
      )
      const {tlsOptions} = await import('../../../../src/lib/ledger/db.js')
      mkdirSync(path.dirname(ca), {recursive: true})
      writeFileSync(ca, 'PEM of the world CA')
      expect(tlsOptions(urls[0]).ssl).to.include({rejectUnauthorized: true, ca: 'PEM of the world CA'})
      process.env.ATLAS_STUB_FAIL = 'docker inspect --format {{json .NetworkSettings.Networks}} k3d-dc-us-server-0'
      expect(await world.databaseUrls(), 'a region whose container is gone is left out').to.have.length(2)
    } finally {
      restore()
    }
  })

  it('verify connects as the read-only user with its client certificate, never with the atlas password', async () => {
    const {fixture, restore} = stubbedWorld()
    try {
      const world = new K3dWorld(defaults(), {baseDir: fixture.baseDir})
      const certs = path.join(fixture.baseDir, 'k3d', 'cockroach-certs')
      // no certificate yet (ansible/roles/cluster_secrets issues it during up): a clear error, before any connection
      const missing = await expectAtlasError(world.databaseUrls('verify'))
      expect(missing.code).to.equal('WORLD_NOT_UP')
      expect(missing.message).to.include(`client.atlas_verify.crt`)
      mkdirSync(certs, {recursive: true})
      writeFileSync(path.join(certs, 'ca.crt'), 'PEM of the world CA')
      writeFileSync(path.join(certs, 'client.atlas_verify.crt'), 'PEM of the verify certificate')
      writeFileSync(path.join(certs, 'client.atlas_verify.key'), 'PEM of the verify key', {mode: 0o600})
      // no password file exists: the verify user needs none
      expect(existsSync(path.join(fixture.baseDir, 'k3d', 'database-password'))).to.equal(false)
      const urls = await world.databaseUrls('verify')
      expect(urls).to.have.length(3)
      const url = new URL(urls[0])
      expect([url.username, url.password, url.host, url.pathname]).to.deep.equal([
        'atlas_verify',
        '',
        '172.28.0.10:30257',
        '/ledger',
      ])
      expect(Object.fromEntries(url.searchParams)).to.deep.equal({
        sslmode: 'verify-ca',
        sslrootcert: path.join(certs, 'ca.crt'),
        sslcert: path.join(certs, 'client.atlas_verify.crt'),
        sslkey: path.join(certs, 'client.atlas_verify.key'),
      })
      const {tlsOptions} = await import('../../../../src/lib/ledger/db.js')
      expect(tlsOptions(urls[0]).ssl).to.include({
        rejectUnauthorized: true,
        ca: 'PEM of the world CA',
        cert: 'PEM of the verify certificate',
        key: 'PEM of the verify key',
      })
      // the ledger role still logs in as atlas with its password, once up made it
      await expectAtlasError(world.databaseUrls('ledger'))
    } finally {
      restore()
    }
  })

  it('skips every completed step when up runs again', async () => {
    const {fixture, restore} = stubbedWorld()
    try {
      await new K3dWorld(defaults(), {baseDir: fixture.baseDir}).up()
      rmSync(fixture.log)
      const skipped: string[] = []
      const progress = {
        step: (title: string) => (o?: {skipped?: boolean}) => void (o?.skipped && skipped.push(title)),
        info() {},
      }
      await new K3dWorld(defaults(), {baseDir: fixture.baseDir}).up({progress})
      // only the leftover-Secret cleanup, which every up runs
      expect(
        fixture.calls().filter((c) => !isProbe(c)),
        'commands of the second run',
      ).to.deep.equal(resumedFrom(upPlan.steps, upPlan.steps.length, fixture.baseDir))
      expect(skipped).to.have.length(upPlan.steps.filter((s) => s.commands.length > 0 && !ALWAYS.has(s.id)).length)
    } finally {
      restore()
    }
  })

  it('runs up again from the foundation when LocalStack is no longer running (it keeps nothing)', async () => {
    const {fixture, restore} = stubbedWorld()
    try {
      await new K3dWorld(defaults(), {baseDir: fixture.baseDir}).up()
      rmSync(fixture.log)
      process.env.ATLAS_STUB_LOCALSTACK_RUNNING = 'false'
      await new K3dWorld(defaults(), {baseDir: fixture.baseDir}).up()
      const firstRerun = upPlan.steps.findIndex((s) => s.id === 'ansible-foundation')
      expect(fixture.calls().filter((c) => !isProbe(c))).to.deep.equal(
        resumedFrom(upPlan.steps, firstRerun, fixture.baseDir),
      )
    } finally {
      delete process.env.ATLAS_STUB_LOCALSTACK_RUNNING
      restore()
    }
  })

  it('re-runs the steps after render when atlas.yaml changed', async () => {
    const {fixture, restore} = stubbedWorld()
    try {
      await new K3dWorld(defaults(), {baseDir: fixture.baseDir}).up()
      rmSync(fixture.log)
      const changed = parseConfigObject({...DEFAULT_CONFIG, ledger: {allowNegativeBalances: true}})
      await new K3dWorld(changed, {baseDir: fixture.baseDir}).up()
      expect(fixture.calls().filter((c) => !isProbe(c))).to.have.length(upPlan.commands.length)
    } finally {
      restore()
    }
  })

  it('fails the doctor step with exit 3 when a tool is missing, before running anything', async () => {
    const {fixture, restore} = stubbedWorld(undefined, ['docker', 'kubectl', 'helm', 'terraform', 'ansible-playbook'])
    try {
      const error = await expectAtlasError(new K3dWorld(defaults(), {baseDir: fixture.baseDir}).up())
      expect(error.exitCode).to.equal(ExitCode.Precondition)
      expect(error.code).to.equal('TOOL_MISSING')
      expect(error.message).to.match(/step 1\/18 "check the tools of the k3d world" failed: the k3d world needs k3d$/)
      expect(error.hint).to.include('atlas doctor')
      expect(fixture.calls().filter((c) => !isProbe(c))).to.deep.equal([])
    } finally {
      restore()
    }
  })

  it('fails the doctor step when the Docker CLI has no engine', async () => {
    const {fixture, restore} = stubbedWorld('docker info')
    try {
      const error = await expectAtlasError(new K3dWorld(defaults(), {baseDir: fixture.baseDir}).up())
      expect(error.exitCode).to.equal(ExitCode.Precondition)
      expect(error.message).to.include('the k3d world needs docker')
    } finally {
      restore()
    }
  })

  describe('up: a failing tool in each step', () => {
    // built before the tests run, from the plan: one test per command step
    const stepIds = [
      'ansible-foundation',
      'terraform-init',
      'terraform-apply',
      'terraform-output',
      'ansible-clusters',
      'argocd-apply',
      'argocd-applications',
      'cockroachdb-synced',
      'cockroachdb-ready',
      'ledger-schema',
      'multi-region',
      'ledger-synced',
    ]
    for (const id of stepIds) {
      it(`${id}: names the step and the tool's error, says what to do, exits 1, and resumes there`, async () => {
        const index = upPlan.steps.findIndex((s) => s.id === id)
        const step = upPlan.steps[index]
        expect(step.commands, `${id} has commands`).to.not.be.empty
        const {fixture, restore} = stubbedWorld()
        process.env.ATLAS_STUB_FAIL = concrete(failureMatch(step), fixture.baseDir)
        try {
          const error = await expectAtlasError(new K3dWorld(defaults(), {baseDir: fixture.baseDir}).up())
          expect(error.exitCode).to.equal(ExitCode.Unexpected)
          expect(error.code).to.equal('K3D_STEP_FAILED')
          expect(error.message).to.include(`step ${index + 1}/${upPlan.steps.length} "${step.title}" failed`)
          expect(error.message).to.include('stub ' + step.commands[0].argv[0] + ': simulated failure')
          expect(error.message).to.include(step.commands[0].argv[0])
          expect(error.hint).to.match(/atlas up --driver k3d` again: completed steps are skipped/)
          expect(error.details?.step).to.equal(id)

          // the fix is in: the re-run starts at the failed step
          rmSync(fixture.log)
          process.env.ATLAS_STUB_FAIL = ''
          await new K3dWorld(defaults(), {baseDir: fixture.baseDir}).up()
          const rerun = fixture.calls().filter((c) => !isProbe(c))
          expect(rerun).to.deep.equal(resumedFrom(upPlan.steps, index, fixture.baseDir))
        } finally {
          restore()
        }
      })
    }
  })

  describe('down: a failing tool in each step', () => {
    for (const id of ['k3d-delete', 'terraform-destroy', 'git-remove', 'localstack-remove', 'network-remove']) {
      it(`${id}: names the step, says what to do and exits 1`, async () => {
        const index = downPlan.steps.findIndex((s) => s.id === id)
        const step = downPlan.steps[index]
        const {fixture, restore} = stubbedWorld()
        try {
          await new K3dWorld(defaults(), {baseDir: fixture.baseDir}).up()
          process.env.ATLAS_STUB_FAIL = concrete(failureMatch(step), fixture.baseDir)
          const error = await expectAtlasError(new K3dWorld(defaults(), {baseDir: fixture.baseDir}).down())
          expect(error.exitCode).to.equal(ExitCode.Unexpected)
          expect(error.message).to.include(`step ${index + 1}/${downPlan.steps.length} "${step.title}" failed`)
          expect(error.message).to.include('simulated failure')
          expect(error.hint).to.match(/atlas down/)
          // up's state survives a failed down, so the next down knows what is left
          expect((await new K3dWorld(defaults(), {baseDir: fixture.baseDir}).status()).up).to.equal(true)
        } finally {
          restore()
        }
      })
    }
  })

  it('down after up runs every undo step and forgets the state; a second down has nothing to undo', async () => {
    const {fixture, restore} = stubbedWorld()
    try {
      const world = new K3dWorld(defaults(), {baseDir: fixture.baseDir})
      await world.up()
      rmSync(fixture.log)
      const result = await world.down()
      expect(result.stopped).to.deep.equal([
        'k3d-delete',
        'terraform-destroy',
        'git-remove',
        'localstack-remove',
        'network-remove',
      ])
      expect(fixture.calls().filter((c) => !isProbe(c))).to.deep.equal(commandsOf(downPlan.steps, fixture.baseDir))
      expect((await world.status()).up).to.equal(false)
      expect(existsSync(path.join(fixture.baseDir, 'k3d', 'state.json'))).to.equal(false)
    } finally {
      restore()
    }
  })

  it('down tolerates what is already gone (docker: "No such container")', async () => {
    const {fixture, restore} = stubbedWorld()
    try {
      const world = new K3dWorld(defaults(), {baseDir: fixture.baseDir})
      await world.up()
      process.env.ATLAS_STUB_FAIL = 'docker rm --force atlas-localstack'
      process.env.ATLAS_STUB_FAIL_MESSAGE = 'Error response from daemon: No such container: atlas-localstack'
      const result = await world.down()
      expect(result.stopped).to.include('localstack-remove')
      expect((await world.status()).up).to.equal(false)
    } finally {
      delete process.env.ATLAS_STUB_FAIL_MESSAGE
      restore()
    }
  })
})

after(removeTempDirs)
