// Faults other than a region kill, on a real local world (etcd, Patroni, PostgreSQL,
// moto): an interrupted `up`, Patroni dying alone on the leader and on a follower,
// and the primary's PostgreSQL frozen past its lease under the workload.
import {expect} from 'chai'
import {execa} from 'execa'
import path from 'node:path'
import postgres from 'postgres'

import type {BlastResult} from '../../src/lib/chaos/blast.js'
import type {WorldStatus} from '../../src/lib/world/types.js'

import {tlsOptions} from '../../src/lib/ledger/db.js'
import {isAlive} from '../../src/lib/proc/index.js'
import {sleep} from '../../src/lib/wait.js'
import {LocalWorld} from '../../src/lib/world/local/index.js'
import {childrenOf, postmasterPid} from '../../src/lib/world/local/processes.js'
import {parseJsonOutput, REPO_ROOT} from '../helpers/cli.js'
import {createTestWorld, type TestWorld} from '../helpers/world.js'

/** postgres.js on one of the world's URLs, with its libpq TLS parameters applied (verify-full against the world's CA) */
function connect(databaseUrl: string, options: postgres.Options<Record<string, never>>) {
  const {url, ssl} = tlsOptions(databaseUrl)
  return postgres(url, {...options, ...(ssl === undefined ? {} : {ssl})})
}

describe('faults beyond a region kill (real local world)', function () {
  this.timeout(300_000)
  let world: TestWorld
  let local: LocalWorld

  before(async () => {
    world = await createTestWorld('faults')
    local = new LocalWorld(world.config, {baseDir: world.baseDir})
  })

  after(async () => {
    await world?.destroy()
  })

  it('an `up` interrupted during the Patroni step leaves a half-built world that status names and the next `up` finishes', async () => {
    const child = execa(process.execPath, [path.join(REPO_ROOT, 'bin', 'run.js'), 'up'], {
      env: {ATLAS_CONFIG: world.configFile, NO_COLOR: '1'},
      reject: false,
      stdin: 'ignore',
    })
    let stderr = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`up never reached the Patroni step:\n${stderr}`)), 60_000)
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (stderr.includes('start PostgreSQL under Patroni')) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    child.kill('SIGINT')
    const interrupted = await child
    expect(interrupted.exitCode, interrupted.stderr).to.not.equal(0)

    const half = await world.atlas(['status', '--json'])
    expect(half.exitCode, 'status of a half-built world').to.equal(3)
    expect(parseJsonOutput<WorldStatus>(half).complete).to.equal(false)

    const resumed = await world.atlas(['up', '--json'])
    expect(resumed.exitCode, resumed.stderr).to.equal(0)
    const status = await world.atlas(['status', '--json'])
    expect(status.exitCode, status.stderr).to.equal(0)
    expect(parseJsonOutput<WorldStatus>(status).complete).to.equal(true)
    // what the interrupted run had not done yet is done now: the ledger is minted and the buckets exist
    const endpoints = await local.endpoints()
    expect(endpoints.find((r) => r.region === 'us')?.auditBucket).to.equal('atlas-audit-us')
    const sql = connect((await local.databaseUrls('verify'))[0], {max: 1, onnotice() {}})
    try {
      const [{total}] = await sql<[{total: string}]>`select sum(balance)::text as total from accounts`
      expect(Number(total)).to.equal(world.config.ledger.accounts * world.config.ledger.openingBalance)
    } finally {
      await sql.end({timeout: 5})
    }
  })

  it("the leader's Patroni killed alone: its watchdog kills the orphaned primary at once, never two primaries", async () => {
    const health = await local.waitConverged({timeoutMs: 60_000})
    const leader = health.leaderRegion!
    const leaderLayout = local.regionLayout(leader)
    const orphan = await postmasterPid(leaderLayout.postgresDataDir)
    expect(orphan, 'the leader runs a postmaster').to.be.a('number')
    const urls = await local.databaseUrls()
    const clients = urls.map((url) => connect(url, {max: 1, connect_timeout: 1, idle_timeout: 1, onnotice() {}}))
    const fault = await local.injectFault(leader, 'kill', {component: 'patroni'})
    let maxPrimaries = 0
    try {
      const until = Date.now() + 12_000
      while (Date.now() < until) {
        const answers = await Promise.all(
          clients.map(async (sql) => {
            try {
              const [row] = await Promise.race([
                sql<[{recovery: boolean}]>`select pg_is_in_recovery() as recovery`,
                sleep(500).then(() => [{recovery: true}] as [{recovery: boolean}]),
              ])
              return row.recovery === false
            } catch {
              return false
            }
          }),
        )
        maxPrimaries = Math.max(maxPrimaries, answers.filter(Boolean).length)
        await sleep(200)
      }

      // without a fence the orphan answered "primary" for ~16 s next to the promoted eu
      expect(isAlive(orphan!), 'the orphaned postmaster is gone').to.equal(false)
      expect(maxPrimaries).to.equal(1)
    } finally {
      await Promise.all(clients.map((sql) => sql.end({timeout: 1}).catch(() => {})))
      await fault.undo()
    }

    const after = await local.waitConverged({timeoutMs: 90_000})
    expect(after.leaderRegion).to.not.equal(null)
  })

  it("`up` adopts a follower's PostgreSQL left running by a dead Patroni instead of refusing its port", async () => {
    const health = await local.waitConverged({timeoutMs: 60_000})
    const follower = world.config.regions.find((r) => r.role !== 'witness' && r.name !== health.leaderRegion)!.name
    const r = local.regionLayout(follower)
    const pm = await postmasterPid(r.postgresDataDir)
    expect(pm).to.be.a('number')
    // the whole managed process (watchdog and Patroni) dies; a follower's watchdog is not armed, so PostgreSQL stays
    const watchdogPid = Number(
      (
        await import('node:fs/promises').then((fs) =>
          fs.readFile(path.join(world.baseDir, 'run', `patroni-${follower}.pid`), 'utf8'),
        )
      ).trim(),
    )
    const patroniPids = await childrenOf(watchdogPid)
    process.kill(-watchdogPid, 'SIGKILL')
    for (const p of patroniPids) process.kill(-p, 'SIGKILL')
    await sleep(500)
    expect(isAlive(pm!), 'the orphaned follower postmaster still runs').to.equal(true)

    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, up.stderr).to.equal(0)
    const after = await local.waitConverged({timeoutMs: 90_000})
    expect(after.groups.find((g) => g.group === 'patroni')!.members.every((m) => m.alive)).to.equal(true)
  })

  it("the primary's PostgreSQL frozen for 25 s (past its lease) under the workload: nothing acknowledged is lost", async () => {
    const health = await local.waitConverged({timeoutMs: 60_000})
    const result = await world.atlas(
      [
        'blast-radius',
        '--region',
        health.leaderRegion!,
        '--component',
        'postgres',
        '--mode',
        'stop',
        '--duration',
        '25s',
        '--json',
      ],
      {timeoutMs: 240_000},
    )
    expect(result.exitCode, result.stderr).to.equal(0)
    const blast = parseJsonOutput<BlastResult>(result)
    expect(blast.component).to.equal('postgres')
    expect(blast.acknowledged).to.be.above(0)
    expect(blast.lost).to.equal(0)
    expect(blast.verified).to.equal(true)
    expect(blast.rtoSeconds, 'writes came back while PostgreSQL was still frozen').to.be.below(25)
  })

  it('the witness frozen while it holds the etcd leader, three times: the primary never demotes, writes resume while it is frozen', async () => {
    // Raft leadership waits on the witness in steady state; freezing it used to stall the
    // primary's Patroni on etcd until it demoted itself (a failover out of a follower's fault)
    const up = await world.atlas(['up'])
    expect(up.exitCode, up.stderr).to.equal(0)
    for (let round = 1; round <= 3; round++) {
      const health = await local.waitConverged({timeoutMs: 60_000})
      expect(
        health.groups.find((g) => g.group === 'etcd')?.leaderRegion,
        'the etcd leader sits on the witness',
      ).to.equal('witness')
      const result = await world.atlas(
        ['blast-radius', '--region', 'witness', '--mode', 'stop', '--duration', '8s', '--json'],
        {timeoutMs: 240_000},
      )
      expect(result.exitCode, result.stderr).to.equal(0)
      const blast = parseJsonOutput<BlastResult>(result)
      const label = `round ${round}: ${JSON.stringify(blast.events.map((e) => e.event))}`
      expect(blast.failover, label).to.equal(false)
      expect(blast.leaderAfterFault, label).to.equal(health.leaderRegion)
      expect(blast.recoveredDuringFault, label).to.equal(true)
      expect(blast.lost, label).to.equal(0)
    }
  })
})
