// A chaos campaign on the real local world runs every round under ONE transfer workload:
// started before the first round, writing through every fault, restore and convergence,
// stopped after the last; one run log, verified once at the end. The etcd leader as a
// target is resolved when its round runs. (Partition kinds in campaigns: partition.test.ts.)
import {expect} from 'chai'
import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {BlastResult} from '../../src/lib/chaos/blast.js'
import type {CampaignResult} from '../../src/lib/chaos/campaign/index.js'
import type {VerifyResult} from '../../src/lib/ledger/verify/index.js'
import type {WorldStatus} from '../../src/lib/world/types.js'

import {parseJsonOutput} from '../helpers/cli.js'
import {createTestWorld, type TestWorld} from '../helpers/world.js'
import {findAll, parseXml} from '../helpers/xml.js'

describe('atlas chaos: one workload through the whole campaign (local world)', function () {
  this.timeout(600_000)
  let world: TestWorld

  before(async () => {
    world = await createTestWorld('campaign')
    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, up.stderr).to.equal(0)
  })

  after(async () => {
    await world?.destroy()
  })

  it('three rounds (kill etcd-leader, kill witness, stop eu:patroni + witness:etcd): one run log and workload, writes acknowledged during every fault, 0 lost, the run log verifies', async () => {
    const status = parseJsonOutput<WorldStatus>(await world.atlas(['status', '--json']))
    const etcdLeader = status.health?.groups.find((g) => g.group === 'etcd')?.leaderRegion
    expect(etcdLeader, 'the converged world has an etcd leader').to.be.a('string')

    // seed 19 over etcd-leader, eu and witness (pinned in test/unit/chaos/campaign.test.ts)
    const result = await world.atlas(
      [
        'chaos',
        '--rounds',
        '3',
        '--seed',
        '19',
        '--faults',
        'kill,stop',
        '--targets',
        'etcd-leader,eu,witness',
        '--duration',
        '8s',
        '--json',
      ],
      {timeoutMs: 580_000},
    )
    expect(result.exitCode, result.stderr).to.equal(0)
    const campaign = parseJsonOutput<CampaignResult>(result)
    const {describeRound} = await import('../../src/lib/chaos/campaign/index.js')
    expect(campaign.plan.map(describeRound)).to.deep.equal([
      'kill etcd-leader',
      'kill witness',
      'stop eu:patroni + witness:etcd',
    ])
    expect(campaign.rounds).to.have.length(3)

    // one workload: its run log in the campaign's directory, started before the first round's fault and ended after the last round's
    const {workload} = campaign
    expect(workload.runLog).to.equal(path.join(workload.runDir, 'transfers.log'))
    const log = (await readFile(workload.runLog, 'utf8')).split('\n')
    const starts = log.filter((l) => l.startsWith('# start '))
    const ends = log.filter((l) => l.startsWith('# end '))
    expect(starts, 'the workload started once').to.have.length(1)
    expect(ends, 'and stopped once').to.have.length(1)
    const startedAt = Date.parse((JSON.parse(starts[0].slice('# start '.length)) as {startedAt: string}).startedAt)
    const endedAt = Date.parse((JSON.parse(ends[0].slice('# end '.length)) as {endedAt: string}).endedAt)
    expect(startedAt).to.be.at.most(Date.parse(workload.startedAt))
    const reports: BlastResult[] = []
    for (const round of campaign.rounds) {
      const report = JSON.parse(await readFile(path.join(round.runDir, 'report.json'), 'utf8')) as BlastResult
      reports.push(report)
      // the same workload in every round: its run log, start time and process
      expect(report.sharedWorkload).to.deep.equal({
        runLog: workload.runLog,
        startedAt: workload.startedAt,
        pid: workload.pid,
      })
      expect(existsSync(path.join(round.runDir, 'transfers.log')), 'no round starts a workload of its own').to.equal(
        false,
      )
      const faultAt = Date.parse(report.faultInjectedAt)
      expect(faultAt).to.be.within(startedAt, endedAt)
      // writes went on while each fault held (every round keeps quorum), and every one acknowledged in the round is stored
      expect(round.keepsQuorum).to.equal(true)
      expect(
        round.acknowledgedDuringFault,
        `${describeRound(round)}: acknowledged while the fault held`,
      ).to.be.greaterThan(0)
      expect(report.acknowledgedDuringFault).to.equal(round.acknowledgedDuringFault)
      expect(round.acknowledged).to.be.at.least(round.acknowledgedDuringFault)
      expect(report.roundTransfers).to.deep.equal({
        acknowledged: report.roundTransfers!.present,
        present: report.roundTransfers!.present,
        lost: 0,
      })
      expect(report.roundTransfers!.present).to.be.greaterThan(0)
      expect(report.verified).to.equal(true)
      expect(report.converged).to.equal(true)
      // the round's picture series is its window of the workload
      expect(report.outcomes!.acknowledged.reduce((a, b) => a + b, 0)).to.equal(report.acknowledged)
    }

    // the rounds one after the other, all inside the one run
    expect(reports.map((r) => Date.parse(r.faultInjectedAt))).to.deep.equal(
      reports.map((r) => Date.parse(r.faultInjectedAt)).sort((a, b) => a - b),
    )
    expect(campaign.totals.acknowledged, 'between the rounds too').to.be.greaterThan(
      campaign.rounds.reduce((a, r) => a + r.acknowledged, 0),
    )
    expect(campaign.totals.acknowledged).to.equal(workload.stats!.acknowledged)

    // the etcd-leader round broke the etcd member of the region that led, and leadership moved away from it
    const hit = campaign.rounds[0].resolvedTargets
    expect(hit).to.deep.equal([{region: etcdLeader, component: 'etcd'}])
    expect(reports[0].etcdLeaderTarget).to.equal(true)
    expect(reports[0].faultDescription).to.include(`etcd-${etcdLeader}`)
    expect(
      reports[0].timeline.some((p) => p.t > 0 && p.raftLeaderRegion !== null && p.raftLeaderRegion !== etcdLeader),
      'another region led etcd while the leader was down',
    ).to.equal(true)
    expect(describeRound(campaign.rounds[0])).to.equal(`kill etcd-leader (${etcdLeader})`)

    // judged once, over the whole run log
    expect(campaign.verify!.ok).to.equal(true)
    expect(campaign.verify!.checks.find((c) => c.name === 'durability')).to.include({ok: true})
    expect(campaign.verify!.checks.find((c) => c.name === 'durability')!.checked).to.be.at.least(
      campaign.totals.acknowledged,
    )
    expect(campaign.totals.lost).to.equal(0)
    expect(campaign.verified).to.equal(true)
    const markdown = await readFile(campaign.report.markdown, 'utf8')
    expect(markdown).to.include('One workload ran through every round')
    expect(markdown).to.include(`kill etcd-leader (${etcdLeader})`)

    // the alerts of every round (monitoring runs: up started it): in its report, in the campaign's report.json,
    // report.md and picture; the member each round broke was seen down after its fault and back before the next
    const downAfterFault = (r: BlastResult, region: string) =>
      r.alerts!.find(
        (a) => a.name === 'AtlasEtcdMemberDown' && a.labels.region === region && a.detectSeconds! >= 0 && a.resolvedAt,
      )
    expect(downAfterFault(reports[0], etcdLeader!), JSON.stringify(reports[0].alerts)).to.not.equal(undefined)
    expect(downAfterFault(reports[1], 'witness'), JSON.stringify(reports[1].alerts)).to.not.equal(undefined)
    expect(downAfterFault(reports[2], 'witness'), JSON.stringify(reports[2].alerts)).to.not.equal(undefined)
    const saved = JSON.parse(await readFile(campaign.report.json, 'utf8')) as CampaignResult
    expect(saved.rounds.map((r) => r.alerts)).to.deep.equal(reports.map((r) => r.alerts))
    expect(markdown).to.include(
      `AtlasEtcdMemberDown (${etcdLeader}) ${downAfterFault(reports[0], etcdLeader!)!.detectSeconds!.toFixed(1)} s -> `,
    )
    const svg = parseXml(await readFile(campaign.report.picture, 'utf8'))
    const base = Date.parse(reports[0].faultInjectedAt)
    for (const r of reports) {
      const offset = (Date.parse(r.faultInjectedAt) - base) / 1000
      for (const a of r.alerts!.filter((x) => x.detectSeconds !== null)) {
        const band = `alert-${(a.labels.region ? `${a.name} (${a.labels.region})` : a.name).replaceAll(/[^A-Za-z0-9]+/g, '-').replace(/-$/, '')}`
        const drawn = findAll(
          svg,
          (e) =>
            e.attributes['data-band'] === band &&
            Math.abs(Number(e.attributes['data-from']) - (offset + a.detectSeconds!)) < 0.011,
        )
        expect(drawn, `${band} of the round at ${offset} s in the campaign's picture`).to.have.length(1)
      }
    }

    // atlas verify, on its own, agrees with the campaign's run log
    const verify = await world.atlas(['verify', '--run-dir', workload.runDir, '--json'])
    expect(verify.exitCode, verify.stdout).to.equal(0)
    expect(parseJsonOutput<VerifyResult>(verify).ok).to.equal(true)
  })

  it('with --force, a double fault that loses quorum (kill us + witness): writes stop while it holds, resume after the restore, nothing is lost', async () => {
    // seed 4 over us and witness, forced: round 1 kills both (pinned by the plan check below)
    const result = await world.atlas(
      [
        'chaos',
        '--rounds',
        '1',
        '--seed',
        '4',
        '--faults',
        'kill',
        '--targets',
        'us,witness',
        '--force',
        '--duration',
        '8s',
        '--json',
      ],
      {timeoutMs: 580_000},
    )
    expect(result.exitCode, result.stderr).to.equal(0)
    const campaign = parseJsonOutput<CampaignResult>(result)
    const [round] = campaign.rounds
    expect(round.targets.map((t) => `${t.region}:${t.component}`).sort()).to.deep.equal(['us:region', 'witness:region'])
    expect(round.keepsQuorum).to.equal(false)
    expect(round.acknowledgedDuringFault, 'no write is acknowledged without a Raft majority').to.equal(0)
    const report = JSON.parse(await readFile(path.join(round.runDir, 'report.json'), 'utf8')) as BlastResult
    expect(report.forced).to.equal(true)
    expect(report.recoveredDuringFault, 'writes came back only after the restore').to.equal(false)
    expect(report.rtoSeconds, 'writes came back after the restore').to.be.a('number')
    expect(report.converged, 'the world healed').to.equal(true)
    expect(round.lost).to.equal(0)
    expect(round.verified).to.equal(true)
    expect(campaign.totals.lost).to.equal(0)
    expect(campaign.verify!.ok).to.equal(true)
  })
})
