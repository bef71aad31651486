// blast-radius on the real local world: one world shared by every round, short
// fault durations. Each round must end with the world converged and verify
// passing with zero acknowledged transfers lost.
import {expect} from 'chai'
import {execa} from 'execa'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {WorldStatus} from '../../src/lib/world/types.js'

import {parseJsonOutput, REPO_ROOT} from '../helpers/cli.js'
import {createTestWorld, type TestWorld} from '../helpers/world.js'

interface BlastJson {
  acknowledged: number
  component: string
  converged: boolean
  etcdLeaderTarget?: boolean
  events: Array<{event: string; t: number}>
  failover: boolean
  faultDescription: string
  faultInjectedAt: string
  healthModel: {sampleIntervalSeconds: number; samples: number; unavailableSeconds: null | number}
  leaderAfterFault: null | string
  leaderBefore: null | string
  longestWriteGap: null | {fromSeconds: number; open: boolean; seconds: number; toSeconds: number}
  longestWriteGapSeconds: null | number
  lost: number
  mode: string
  recoveredDuringFault: boolean
  region: string
  regions: string[]
  report: {json: string; markdown: string; uploaded?: string}
  rtoSeconds: null | number
  runDir: string
  unavailableSeconds: null | number
  unknown: number
  verified: boolean
  verify?: {summary: {runLogs?: {files: string[]}}}
}

describe('blast-radius on the local world', function () {
  this.timeout(180_000)
  let world: TestWorld

  before(async () => {
    world = await createTestWorld('blast')
    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, up.stderr).to.equal(0)
  })

  after(async () => {
    await world?.destroy()
  })

  const blast = async (args: string[]) => {
    const result = await world.atlas(['blast-radius', '--json', ...args])
    return {
      result,
      json: result.exitCode === 0 || result.exitCode === 4 ? parseJsonOutput<BlastJson>(result) : undefined,
    }
  }

  const leader = async () => parseJsonOutput<WorldStatus>(await world.atlas(['status', '--json'])).health?.leaderRegion

  it('kill of the leader region fails over, recovers, and verify passes with zero acknowledged transfers lost', async () => {
    const before = await leader()
    const {result, json} = await blast(['--region', before!, '--mode', 'kill', '--duration', '12s'])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(json!.verified).to.equal(true)
    expect(json!.lost).to.equal(0)
    expect(json!.acknowledged).to.be.greaterThan(0)
    expect(json!.failover).to.equal(true)
    expect(json!.leaderAfterFault).to.not.equal(before)
    expect(json!.recoveredDuringFault, 'writes resumed while the region was down').to.equal(true)
    expect(json!.rtoSeconds).to.be.a('number').and.to.be.within(0.5, 12)
    expect(json!.converged).to.equal(true)
    // the whole region: etcd, Patroni, and PostgreSQL with its (setsid'd) backends and walsenders
    expect(json!.faultDescription).to.match(
      new RegExp(
        `^SIGKILL to etcd-${before} \\(pgid \\d+\\), patroni-${before} watchdog \\(pgid \\d+\\), patroni-${before} \\(pgid \\d+\\), postgres-${before} \\(postmaster \\d+ and [1-9]\\d* child processes\\)$`,
      ),
    )
    console.log(
      `      kill ${before}: RTO ${json!.rtoSeconds} s, ${json!.acknowledged} acknowledged, ${json!.unknown} unknown`,
    )
  })

  it('kill of the other data region (now leading) fails back over, again with nothing lost', async () => {
    const before = await leader()
    const {result, json} = await blast(['--region', before!, '--duration', '12s'])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(json!.region).to.equal(before)
    expect(json!.verified).to.equal(true)
    expect(json!.lost).to.equal(0)
    expect(json!.failover).to.equal(true)
    expect(json!.recoveredDuringFault).to.equal(true)
  })

  it('kill of the witness causes no failover and writes continue', async () => {
    const before = await leader()
    const {result, json} = await blast(['--region', 'witness', '--duration', '8s'])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(json!.verified).to.equal(true)
    expect(json!.lost).to.equal(0)
    expect(json!.failover).to.equal(false)
    expect(json!.leaderAfterFault).to.equal(before)
    expect(json!.recoveredDuringFault).to.equal(true)
    // losing the witness costs a Raft election (it led etcd) and a change of the synchronous standby set,
    // commits wait meanwhile; a failover would take longer (leader lease TTL 4 s + promotion)
    expect(json!.rtoSeconds).to.be.below(8)
  })

  it('stop mode (SIGSTOP, then SIGCONT) of the leader region loses nothing', async () => {
    const before = await leader()
    const {result, json} = await blast(['--region', before!, '--mode', 'stop', '--duration', '18s'])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(json!.mode).to.equal('stop')
    // clients stuck on the paused primary give up on it and reach the new leader while the fault holds
    expect(json!.recoveredDuringFault).to.equal(true)
    expect(json!.verified).to.equal(true)
    expect(json!.lost).to.equal(0)
    expect(json!.failover).to.equal(true)
    expect(json!.converged).to.equal(true)
  })

  it('verify after a round with its own --run-dir reads every run log of the world (no false phantoms); unavailability matches the run log', async () => {
    // issue 15.1: an earlier workload in the default run dir, and one whose run dir is outside <baseDir>/runs
    const earlier = await world.atlas(['workload', '--count', '100', '--json'])
    expect(earlier.exitCode, earlier.stderr).to.equal(0)
    const outside = path.join(world.dir, 'outside-run')
    expect((await world.atlas(['workload', '--count', '30', '--run-dir', outside])).exitCode).to.equal(0)
    const freshBlast = path.join(world.baseDir, 'runs', 'fresh-blast')
    const {result, json} = await blast(['--region', 'witness', '--duration', '6s', '--run-dir', freshBlast])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(json!.verified).to.equal(true)
    expect(json!.verify!.summary.runLogs!.files).to.include.members([
      parseJsonOutput<{runLog: string}>(earlier).runLog,
      path.join(outside, 'transfers.log'),
      path.join(freshBlast, 'transfers.log'),
    ])

    const verify = await world.atlas(['verify', '--ledger-balance', '--run-dir', freshBlast, '--json'])
    expect(verify.exitCode, verify.stdout).to.equal(0)
    const narrow = await world.atlas(['verify', '--ledger-balance', '--run-dir', freshBlast, '--only-run-dir'])
    expect(narrow.exitCode).to.equal(4)
    expect(narrow.stdout).to.include(`run logs read (1): ${path.join(freshBlast, 'transfers.log')}`)

    // issue 19.3: the report's unavailability is the longest gap between the acknowledgements in the round's own run log
    const fault = Date.parse(json!.faultInjectedAt)
    const applied = (await readFile(path.join(freshBlast, 'transfers.log'), 'utf8'))
      .split('\n')
      .map((line) => line.split('\t'))
      .filter((f) => f[0] === 'applied' && f.length === 3)
      .map((f) => Number(f[2]))
      .sort((a, b) => a - b)
    let previous = Math.max(...applied.filter((t) => t <= fault))
    let longest = 0
    for (const t of applied.filter((t) => t > fault)) {
      longest = Math.max(longest, t - previous)
      previous = t
    }

    expect(json!.longestWriteGap!.open).to.equal(false)
    expect(json!.longestWriteGapSeconds).to.be.closeTo(longest / 1000, 0.05)
    expect(json!.unavailableSeconds).to.equal(json!.longestWriteGapSeconds)
    expect(json!.healthModel.samples).to.be.greaterThan(0)
    const markdown = await readFile(json!.report.markdown, 'utf8')
    expect(markdown).to.include(
      `| not writable, as the workload saw it (longest gap between acknowledged writes) | ${json!.longestWriteGapSeconds!.toFixed(2)} s`,
    )
    expect(markdown).to.match(
      /\| not writable, health model's view \(member health sampled every 0\.25 s; not client writes\) \| /,
    )
    console.log(
      `      witness kill: longest write gap ${json!.longestWriteGapSeconds} s, health model ${json!.healthModel.unavailableSeconds} s, RTO ${json!.rtoSeconds} s`,
    )
  })

  it('--component etcd-leader (no --region): stops the leading etcd member only; another --region is refused (exit 3) before the workload', async () => {
    const status = parseJsonOutput<WorldStatus>(await world.atlas(['status', '--json']))
    const etcdLeader = status.health!.groups.find((g) => g.group === 'etcd')!.leaderRegion!
    const elsewhere = world.config.regions.map((r) => r.name).find((r) => r !== etcdLeader)!
    const refused = await world.atlas([
      'blast-radius',
      '--component',
      'etcd-leader',
      '--region',
      elsewhere,
      '--mode',
      'stop',
    ])
    expect(refused.exitCode, refused.stderr).to.equal(3)
    expect(refused.stderr.replaceAll(/\s+/g, ' ')).to.include(`--region ${elsewhere} does not hold the etcd leader`)
    expect(refused.stderr).to.not.match(/start the transfer workload/)
    const {result, json} = await blast(['--component', 'etcd-leader', '--mode', 'stop', '--duration', '6s'])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(json!.etcdLeaderTarget).to.equal(true)
    expect(json!.component).to.equal('etcd')
    // the leader at fault time: the one read before, unless it moved in between (the report says so)
    const moved = json!.events.find((e) => /the etcd leader moved/.test(e.event))
    if (!moved) expect(json!.regions).to.deep.equal([etcdLeader])
    expect(json!.faultDescription).to.match(new RegExp(`^SIGSTOP to etcd-${json!.regions[0]} \\(pgid \\d+\\)$`))
    expect(json!.verified).to.equal(true)
    expect(json!.lost).to.equal(0)
    expect(json!.converged).to.equal(true)
  })

  it('refuses us + witness without --force (exit 3) and explains the quorum arithmetic', async () => {
    const result = await world.atlas(['blast-radius', '--region', 'us', '--region', 'witness', '--json'])
    expect(result.exitCode).to.equal(3)
    const {error} = parseJsonOutput<{error: {code: string; message: string}}>(result)
    expect(error.code).to.equal('FAULT_REFUSED')
    expect(error.message).to.match(/leaves 1 of 3 voting regions; a Raft majority needs 2 of 3/)
  })

  it('us + witness with --force makes the ledger unavailable, but nothing is lost once restored', async () => {
    const {result, json} = await blast(['--region', 'us', '--region', 'witness', '--force', '--duration', '8s'])
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(json!.regions).to.deep.equal(['us', 'witness'])
    expect(json!.recoveredDuringFault, 'no write may be acknowledged without quorum').to.equal(false)
    expect(json!.verified).to.equal(true)
    expect(json!.lost).to.equal(0)
    expect(json!.converged).to.equal(true)
    expect(json!.rtoSeconds, 'writes resume after the restore').to.be.a('number').and.to.be.above(8)
  })

  it('Ctrl-C (SIGINT) mid-chaos restores the region before atlas exits', async () => {
    const child = execa(
      process.execPath,
      [path.join(REPO_ROOT, 'bin', 'run.js'), 'blast-radius', '--region', 'eu', '--mode', 'stop', '--duration', '60s'],
      {
        cwd: REPO_ROOT,
        env: {ATLAS_CONFIG: world.configFile, NO_COLOR: '1'},
        reject: false,
        stdin: 'ignore',
      },
    )
    let stderr = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no fault within 60 s:\n${stderr}`)), 60_000)
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (stderr.includes('fault injected')) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    await new Promise((resolve) => setTimeout(resolve, 2000))
    child.kill('SIGINT')
    const exited = await child
    expect(exited.exitCode).to.not.equal(0)
    expect(exited.stderr).to.match(/regions restored/)
    expect(exited.stderr).to.match(/interrupted/)
    // nothing of eu is left paused: every member answers again and the world converges
    const deadline = Date.now() + 60_000
    let status: undefined | WorldStatus
    while (Date.now() < deadline) {
      status = parseJsonOutput<WorldStatus>(await world.atlas(['status', '--json']))
      const members = status.health?.groups.flatMap((g) => g.members) ?? []
      if (members.length === 6 && members.every((m) => m.alive)) break
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }

    const members = status!.health!.groups.flatMap((g) => g.members)
    expect(members.filter((m) => !m.alive).map((m) => m.name)).to.deep.equal([])
    const verify = await world.atlas(['verify', '--ledger-balance', '--json'])
    expect(verify.exitCode, verify.stdout + verify.stderr).to.equal(0)
  })
})
