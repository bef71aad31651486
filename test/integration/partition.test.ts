// Network partitions of the real local world (nftables, as root): each region on its own
// loopback address and cgroup, one world shared by every round, short faults. Every round
// must end with the world converged, verify passing, zero acknowledged transfers lost, and
// no nftables table of this world left behind.
import {expect} from 'chai'
import {execa} from 'execa'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {BlastResult} from '../../src/lib/chaos/blast.js'
import type {CampaignResult} from '../../src/lib/chaos/campaign/index.js'
import type {WorldStatus} from '../../src/lib/world/types.js'

import {hasNetAdmin} from '../../src/lib/world/local/partition.js'
import {parseJsonOutput, REPO_ROOT} from '../helpers/cli.js'
import {createTestWorld, type TestWorld} from '../helpers/world.js'

const nft = async (args: string[]) => execa('nft', args, {reject: false})

describe('blast-radius --mode partition on the local world', function () {
  this.timeout(240_000)
  let world: TestWorld
  let tables: () => Promise<string[]>

  before(async function () {
    const found = await execa('nft', ['--version'], {reject: false}).catch(() => {})
    // partitions need nftables and CAP_NET_ADMIN (root); the exit-3 case without them is tested below
    if (!found || found.exitCode !== 0 || !(await hasNetAdmin())) this.skip()
    world = await createTestWorld('partition')
    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, up.stderr).to.equal(0)
    tables = async () =>
      (await nft(['list', 'tables', 'inet'])).stdout
        .split('\n')
        .map((l) => l.trim().replace(/^table inet /, ''))
        .filter((t) => t.startsWith(`atlas-${world.basePort}-`))
  })

  after(async () => {
    await world?.destroy()
  })

  // 14 s covers most rounds; a leader isolation must outlast the failover, which takes 8-11 s on an idle
  // machine (the Patroni leader lease, renewed in full when the etcd leader was in the cut-off region,
  // then the leader race) and has taken longer than 14 s at the end of a full run on 2 busy cores
  const blast = async (args: string[], duration = '14s') => {
    const result = await world.atlas(
      ['blast-radius', '--json', '--mode', 'partition', '--duration', duration, ...args],
      {timeoutMs: 230_000},
    )
    return {
      result,
      json: result.exitCode === 0 || result.exitCode === 4 ? parseJsonOutput<BlastResult>(result) : undefined,
    }
  }

  // the database leader once the world has one (right after a round it may still be settling)
  const leader = async () => {
    for (let attempt = 0; ; attempt++) {
      const region = parseJsonOutput<WorldStatus>(await world.atlas(['status', '--json'])).health?.leaderRegion
      if (region || attempt >= 60) return region
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }

  it('each region listens on its own loopback address', async () => {
    const status = parseJsonOutput<WorldStatus>(await world.atlas(['status', '--json']))
    const hosts = status.regions.map((r) => new URL(r.databaseUrl!).hostname)
    expect(hosts).to.deep.equal(['127.0.1.1', '127.0.2.1', '127.0.3.1'])
  })

  it('isolating the leader region fails over; the cut-off old primary acknowledges nothing that is lost', async () => {
    const before = await leader()
    const {result, json} = await blast(['--region', before!], '30s')
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(json!.partition).to.equal('isolate')
    expect(json!.failover, 'another region leads while the old one is cut off').to.equal(true)
    expect(json!.leaderAfterFault).to.not.equal(before)
    // the health timeline sees the new leader while the old one is still cut off (its stale view names itself)
    const report = JSON.parse(await readFile(json!.report!.json, 'utf8')) as {
      timeline: Array<{leaderRegion: null | string; t: number}>
    }
    expect(
      report.timeline.some((p) => p.t < json!.durationSeconds && p.leaderRegion !== null && p.leaderRegion !== before),
      'a new leader seen during the fault',
    ).to.equal(true)
    expect(json!.lost).to.equal(0)
    expect(json!.verified).to.equal(true)
    expect(json!.converged).to.equal(true)
    const w = json!.isolatedLeader!
    expect(w.region).to.equal(before)
    expect(w.attempted, 'the workload kept writing to the cut-off leader').to.be.above(0)
    expect(w.present).to.equal(w.acknowledged)
    expect(w.lost).to.equal(0)
    expect(json!.faultDescription).to.include(`atlas-${world.basePort}-${before}`)
    expect(await tables(), 'the table is gone after the restore').to.deep.equal([])
  })

  it('isolating a follower region keeps the leader (no failover)', async () => {
    const current = await leader()
    const follower = world.config.regions.find((r) => r.role !== 'witness' && r.name !== current)!.name
    const {result, json} = await blast(['--region', follower])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(json!.failover).to.equal(false)
    expect(json!.leaderAfterFault).to.equal(current)
    expect(json!.isolatedLeader, 'the leader was not cut off').to.equal(null)
    expect(json!.rtoSeconds, 'writes go on while a follower is cut off').to.be.a('number')
    expect(json!.lost).to.equal(0)
    expect(json!.verified).to.equal(true)
    expect(await tables()).to.deep.equal([])
  })

  it('a bridge (the data regions cut from each other, both still seeing the witness) loses nothing', async () => {
    const current = await leader()
    const {result, json} = await blast(['--region', current!, '--partition', 'bridge'])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(json!.partition).to.equal('bridge')
    expect(json!.faultDescription).to.match(/drops \S+ -> (us|eu) and (us|eu) -> /)
    expect(json!.faultDescription, 'the witness stays reachable').to.not.include('witness')
    expect(json!.lost).to.equal(0)
    expect(json!.verified).to.equal(true)
    expect(json!.converged).to.equal(true)
    expect(await tables()).to.deep.equal([])
  })

  it('a one-way partition of the leader (it sends, receives nothing) loses nothing', async () => {
    const current = await leader()
    const {result, json} = await blast(['--region', current!, '--partition', 'one-way-in'])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(json!.faultDescription).to.include(`drops ${current} -> none`)
    expect(json!.lost).to.equal(0)
    expect(json!.isolatedLeader?.lost ?? 0).to.equal(0)
    expect(json!.verified).to.equal(true)
    expect(await tables()).to.deep.equal([])
  })

  it('refuses a partition of one component before the workload starts', async () => {
    const result = await world.atlas([
      'blast-radius',
      '--region',
      'eu',
      '--mode',
      'partition',
      '--component',
      'etcd',
      '--json',
    ])
    expect(result.exitCode).to.equal(2)
    expect(result.stdout).to.match(/partitions whole regions/)
    expect(result.stderr).to.not.match(/start the transfer workload/)
    const bridge = await world.atlas([
      'blast-radius',
      '--region',
      'witness',
      '--mode',
      'partition',
      '--partition',
      'bridge',
    ])
    expect(bridge.exitCode).to.equal(2)
    expect(bridge.stderr).to.match(/is the witness/)
  })

  it('atlas chaos --faults kill,stop,partition: a seeded partition round among the others, nothing lost, no table left', async () => {
    // seed 2 over eu and witness: partition eu, then kill witness (pinned in test/unit/chaos/campaign.test.ts)
    const result = await world.atlas(
      [
        'chaos',
        '--rounds',
        '2',
        '--seed',
        '2',
        '--faults',
        'kill,stop,partition',
        '--targets',
        'eu,witness',
        '--duration',
        '5s',
        '--json',
      ],
      {timeoutMs: 230_000},
    )
    expect(result.exitCode, result.stderr).to.equal(0)
    const campaign = parseJsonOutput<CampaignResult>(result)
    expect(campaign.rounds.map((r) => `${r.kind} ${r.targets[0].region}`)).to.deep.equal([
      'partition eu',
      'kill witness',
    ])
    expect(campaign.plan[0]).to.include({mode: 'partition', partition: 'isolate'})
    expect(campaign.verified).to.equal(true)
    expect(campaign.totals.lost).to.equal(0)
    expect(campaign.totals.acknowledged).to.be.greaterThan(0)
    const round = JSON.parse(await readFile(path.join(campaign.rounds[0].runDir, 'report.json'), 'utf8')) as BlastResult
    expect(round.partition).to.equal('isolate')
    expect(await tables(), 'the partition table is gone').to.deep.equal([])
  })

  it('atlas chaos with partition-bridge, partition-one-way-out and partition-one-way-in rounds under one workload: nothing lost, no table left', async () => {
    // seed 7 over us, eu and witness: bridge us, one-way-out witness, one-way-in eu (pinned in test/unit/chaos/campaign.test.ts)
    const result = await world.atlas(
      [
        'chaos',
        '--rounds',
        '3',
        '--seed',
        '7',
        '--faults',
        'partition-bridge,partition-one-way-in,partition-one-way-out',
        '--targets',
        'us,eu,witness',
        '--duration',
        '5s',
        '--json',
      ],
      {timeoutMs: 400_000},
    )
    expect(result.exitCode, result.stderr).to.equal(0)
    const campaign = parseJsonOutput<CampaignResult>(result)
    expect(campaign.rounds.map((r) => `${r.kind} ${r.targets[0].region}`)).to.deep.equal([
      'partition-bridge us',
      'partition-one-way-out witness',
      'partition-one-way-in eu',
    ])
    expect(campaign.plan.map((p) => p.partition)).to.deep.equal(['bridge', 'one-way-out', 'one-way-in'])
    for (const round of campaign.rounds) {
      const report = JSON.parse(await readFile(path.join(round.runDir, 'report.json'), 'utf8')) as BlastResult
      expect(report.partition).to.equal(campaign.plan[round.index - 1].partition)
      expect(report.sharedWorkload!.runLog, "every round under the campaign's one workload").to.equal(
        campaign.workload.runLog,
      )
      expect(report.roundTransfers!.lost).to.equal(0)
      expect(report.isolatedLeader?.lost ?? 0).to.equal(0)
      expect(report.converged).to.equal(true)
    }

    // a bridge cuts the data regions from each other only
    const bridge = JSON.parse(
      await readFile(path.join(campaign.rounds[0].runDir, 'report.json'), 'utf8'),
    ) as BlastResult
    expect(bridge.faultDescription).to.match(/drops \S+ -> (us|eu) and (us|eu) -> /)
    expect(bridge.faultDescription).to.not.include('witness')
    expect(campaign.verify!.ok).to.equal(true)
    expect(campaign.totals.lost).to.equal(0)
    expect(campaign.verified).to.equal(true)
    expect(await tables(), 'no partition table is left').to.deep.equal([])
  })

  it('atlas chaos with partition rounds, without CAP_NET_ADMIN: exit 3 naming it, before any round starts', async () => {
    const result = await execa(
      'setpriv',
      [
        '--inh-caps=-net_admin',
        '--bounding-set=-net_admin',
        process.execPath,
        path.join(REPO_ROOT, 'bin', 'run.js'),
        'chaos',
        '--rounds',
        '2',
        '--seed',
        '2',
        '--faults',
        'kill,partition',
        '--targets',
        'eu',
      ],
      {
        cwd: REPO_ROOT,
        env: {ATLAS_CONFIG: world.configFile, NO_COLOR: '1'},
        reject: false,
      },
    )
    expect(result.exitCode, result.stderr).to.equal(3)
    expect(result.stderr).to.match(/CAP_NET_ADMIN/)
    expect(result.stderr).to.not.match(/round 1\/2|start the transfer workload|check that the world is up/)
  })

  it('without CAP_NET_ADMIN: exit 3 naming it, before the workload starts', async () => {
    const result = await execa(
      'setpriv',
      [
        '--inh-caps=-net_admin',
        '--bounding-set=-net_admin',
        process.execPath,
        path.join(REPO_ROOT, 'bin', 'run.js'),
        'blast-radius',
        '--region',
        'eu',
        '--mode',
        'partition',
      ],
      {
        cwd: REPO_ROOT,
        env: {ATLAS_CONFIG: world.configFile, NO_COLOR: '1'},
        reject: false,
      },
    )
    expect(result.exitCode, result.stderr).to.equal(3)
    expect(result.stderr).to.match(/CAP_NET_ADMIN/)
    expect(result.stderr).to.not.match(/start the transfer workload/)
  })

  it('Ctrl-C (SIGINT) mid-partition removes the table and exits 130', async () => {
    const child = execa(
      process.execPath,
      [
        path.join(REPO_ROOT, 'bin', 'run.js'),
        'blast-radius',
        '--region',
        'eu',
        '--mode',
        'partition',
        '--duration',
        '60s',
      ],
      {
        cwd: REPO_ROOT,
        env: {ATLAS_CONFIG: world.configFile, NO_COLOR: '1'},
        reject: false,
        stdin: 'ignore',
      },
    )
    let stderr = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no fault within 90 s:\n${stderr}`)), 90_000)
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (stderr.includes('fault injected')) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    expect(await tables(), 'the partition is in place').to.deep.equal([`atlas-${world.basePort}-eu`])
    await new Promise((resolve) => setTimeout(resolve, 2000))
    child.kill('SIGINT')
    const exited = await child
    expect(exited.exitCode).to.equal(130)
    expect(exited.stderr).to.match(/regions restored/)
    expect(await tables()).to.deep.equal([])
    const converged = await world.atlas(['status', '--json'])
    expect(converged.exitCode).to.equal(0)
  })

  it("a table left by a crash is deleted by the next `atlas up` and by `atlas down`; another world's is not", async () => {
    const ours = `atlas-${world.basePort}-us`
    const theirs = `atlas-${world.basePort + 5}-us`
    try {
      for (const t of [ours, theirs]) expect((await nft(['add', 'table', 'inet', t])).exitCode).to.equal(0)
      const up = await world.atlas(['up'])
      expect(up.exitCode, up.stderr).to.equal(0)
      expect(await tables()).to.deep.equal([])
      expect((await nft(['add', 'table', 'inet', ours])).exitCode).to.equal(0)
      const down = await world.atlas(['down'])
      expect(down.exitCode, down.stderr).to.equal(0)
      expect(await tables()).to.deep.equal([])
      expect((await nft(['list', 'table', 'inet', theirs])).exitCode, "another world's table stays").to.equal(0)
    } finally {
      await nft(['delete', 'table', 'inet', theirs])
    }
  })
})
