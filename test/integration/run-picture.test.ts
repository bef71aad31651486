// A real blast-radius round on the local world, seen as its user sees it: the live
// line while the fault holds (plain stderr, not a terminal), the picture beside the
// report (its series, bands, fault window and RTO read back and matched against
// report.json), the picture uploaded with the report, and `atlas runs` listing it.
import {expect} from 'chai'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {BlastResult} from '../../src/lib/chaos/blast.js'
import type {CampaignResult} from '../../src/lib/chaos/campaign/index.js'
import type {RunSummary} from '../../src/lib/report/runs.js'

import {parseJsonOutput} from '../helpers/cli.js'
import {checkCampaignPicture, checkPictureMatchesReport} from '../helpers/picture.js'
import {createTestWorld, type TestWorld} from '../helpers/world.js'
import {findAll, parseXml} from '../helpers/xml.js'

const HOLD_LINE =
  /^ {2}fault held, \d+ s left; \d+ acknowledged\/s; \d+ errors, \d+ unknown since the fault; database leader (us|eu|witness|none), Raft leader (us|eu|witness|none)$/

describe('the picture of a real blast-radius round, its live line, and atlas runs', function () {
  this.timeout(240_000)
  let world: TestWorld

  before(async () => {
    world = await createTestWorld('picture')
    const up = await world.atlas(['up', '--json'])
    expect(up.exitCode, up.stderr).to.equal(0)
  })

  after(async () => {
    await world?.destroy()
  })

  it('kill of the witness: a live line every 5 s while the fault holds; report.svg matches report.json and is uploaded with it; runs lists it', async () => {
    const runDir = path.join(world.baseDir, 'runs', 'picture-round')
    const result = await world.atlas(['blast-radius', '--region', 'witness', '--duration', '12s', '--run-dir', runDir])
    expect(result.exitCode, result.stderr).to.equal(0)

    // not a terminal: the live line once at the fault and then every 5 s of the 12 s hold
    const live = result.stderr.split('\n').filter((l) => l.startsWith('  fault held'))
    expect(live.length, result.stderr).to.be.within(2, 4)
    for (const line of live) expect(line).to.match(HOLD_LINE)
    const countdown = live.map((l) => Number(/(\d+) s left/.exec(l)![1]))
    expect(countdown[0]).to.be.within(10, 12)
    for (let i = 1; i < countdown.length; i++)
      expect(countdown[i - 1] - countdown[i], String(countdown)).to.be.within(4, 7)
    expect(result.stdout).to.include(`picture: ${path.join(runDir, 'report.svg')}`)

    const report = JSON.parse(await readFile(path.join(runDir, 'report.json'), 'utf8')) as BlastResult
    expect(report.verified).to.equal(true)
    expect(report.lost).to.equal(0)
    // the series add up to the run's totals
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
    expect(sum(report.outcomes!.acknowledged)).to.equal(report.acknowledged)
    expect(sum(report.outcomes!.unknown)).to.equal(report.unknown)
    expect(sum(report.outcomes!.errors)).to.equal(report.workload!.failed + report.workload!.rejected)
    expect(report.faultWindows).to.have.length(1)
    expect(report.faultWindows[0].fromSeconds).to.equal(0)
    // the window ends when the restore is done: after the 12 s hold, however long the restart takes on busy cores
    const restored = report.events.find((e) => e.event === 'regions restored')!
    expect(report.faultWindows[0].toSeconds).to.be.at.least(12)
    expect(report.faultWindows[0].toSeconds).to.be.closeTo(restored.t, 0.5)
    expect(report.worldRegions).to.deep.equal(['us', 'eu', 'witness'])

    const svg = parseXml(await readFile(path.join(runDir, 'report.svg'), 'utf8'))
    checkPictureMatchesReport(svg, report)
    expect(findAll(svg, (e) => e.attributes['data-band'] === 'database-leader').length).to.be.greaterThan(0)
    expect(await readFile(path.join(runDir, 'report.md'), 'utf8')).to.include('](report.svg)')

    // uploaded beside report.json and report.md, with their content types
    expect(report.report.uploaded).to.match(/^s3:\/\/[^/]+\/reports\/blast-radius\/picture-round\/$/)
    const [, bucket, prefix] = /^s3:\/\/([^/]+)\/(.*)$/.exec(report.report.uploaded!)!
    const {LocalWorld} = await import('../../src/lib/world/local/index.js')
    const {s3Client} = await import('../../src/lib/cloud/clients.js')
    const {GetObjectCommand, ListObjectsV2Command} = await import('@aws-sdk/client-s3')
    const s3 = await s3Client(await new LocalWorld(world.config, {baseDir: world.baseDir}).cloudEndpoint(), 'us-east-1')
    try {
      const keys = ((await s3.send(new ListObjectsV2Command({Bucket: bucket, Prefix: prefix}))).Contents ?? [])
        .map((o) => o.Key!.slice(prefix.length))
        .sort()
      expect(keys).to.deep.equal(['report.html', 'report.json', 'report.md', 'report.svg'])
      const picture = await s3.send(new GetObjectCommand({Bucket: bucket, Key: `${prefix}report.svg`}))
      expect(picture.ContentType).to.equal('image/svg+xml')
      expect(await picture.Body!.transformToString()).to.equal(await readFile(path.join(runDir, 'report.svg'), 'utf8'))
    } finally {
      s3.destroy()
    }

    // atlas runs: the round with its verdict, RTO and loss; runs show: the picture's path
    const {runs} = parseJsonOutput<{runs: RunSummary[]}>(await world.atlas(['runs', '--json']))
    const round = runs.find((r) => r.id === 'picture-round')!
    expect(round).to.include({kind: 'blast-radius', verdict: 'PASS', lost: 0, rtoSeconds: report.rtoSeconds})
    const show = await world.atlas(['runs', 'show', 'picture-round'])
    expect(show.exitCode, show.stderr).to.equal(0)
    expect(show.stdout).to.match(
      new RegExp(`^  picture:\\s+${path.join(runDir, 'report.svg').replaceAll('.', String.raw`\.`)}$`, 'm'),
    )
  })

  it('--no-workload: the live line says so, the picture has the leaders and no series', async () => {
    const runDir = path.join(world.baseDir, 'runs', 'picture-no-workload')
    const result = await world.atlas([
      'blast-radius',
      '--region',
      'eu',
      '--mode',
      'stop',
      '--duration',
      '3s',
      '--no-workload',
      '--run-dir',
      runDir,
    ])
    expect(result.exitCode, result.stderr).to.equal(0)
    const live = result.stderr.split('\n').filter((l) => l.startsWith('  fault held'))
    expect(live.length).to.be.greaterThan(0)
    for (const line of live)
      expect(line).to.match(
        /^ {2}fault held, \d+ s left; no workload; database leader (us|eu|witness|none), Raft leader (us|eu|witness|none)$/,
      )
    const report = JSON.parse(await readFile(path.join(runDir, 'report.json'), 'utf8')) as BlastResult
    expect(report.outcomes).to.equal(null)
    const svg = parseXml(await readFile(path.join(runDir, 'report.svg'), 'utf8'))
    checkPictureMatchesReport(svg, report)
    expect(findAll(svg, (e) => e.name === 'text' && e.text === 'no workload ran')).to.have.length(1)
  })

  it("atlas chaos: a double fault that keeps quorum (us's Patroni killed while eu's etcd member is killed) runs without --force and loses nothing", async () => {
    // seed 9 over us:patroni, eu:etcd and witness: the pair us:patroni + eu:etcd (pinned below by the plan)
    const result = await world.atlas([
      'chaos',
      '--rounds',
      '1',
      '--seed',
      '9',
      '--faults',
      'kill',
      '--targets',
      'us:patroni,eu:etcd,witness',
      '--duration',
      '6s',
      '--json',
    ])
    expect(result.exitCode, result.stderr).to.equal(0)
    const campaign = parseJsonOutput<CampaignResult>(result)
    expect(campaign.plan[0]).to.deep.include({
      kind: 'kill',
      keepsQuorum: true,
      targets: [
        {region: 'us', component: 'patroni'},
        {region: 'eu', component: 'etcd'},
      ],
    })
    expect(campaign.verified).to.equal(true)
    expect(campaign.totals.lost).to.equal(0)
    expect(campaign.totals.acknowledged).to.be.greaterThan(0)
    const report = JSON.parse(
      await readFile(path.join(campaign.rounds[0].runDir, 'report.json'), 'utf8'),
    ) as BlastResult
    expect(report.components).to.deep.equal({us: 'patroni', eu: 'etcd'})
    expect(report.survivability.survives).to.equal(true)
    expect(report.forced).to.equal(false)
    expect(report.converged).to.equal(true)
    expect(report.faultDescription)
      .to.match(/patroni-us/)
      .and.to.match(/etcd-eu/)
  })

  it('atlas chaos: a seeded campaign of two rounds, one summary and one report; every round has its picture; runs lists it', async () => {
    const result = await world.atlas([
      'chaos',
      '--rounds',
      '2',
      '--seed',
      '5',
      '--faults',
      'kill',
      '--targets',
      'witness,eu:etcd',
      '--duration',
      '4s',
      '--json',
    ])
    expect(result.exitCode, result.stderr).to.equal(0)
    const campaign = parseJsonOutput<CampaignResult>(result)
    const {parseFaultKinds, parseTargets, planCampaign} = await import('../../src/lib/chaos/campaign/index.js')
    // the schedule is the seed's
    expect(campaign.plan).to.deep.equal(
      planCampaign({
        seed: 5,
        rounds: 2,
        kinds: parseFaultKinds(['kill']),
        targets: parseTargets(['witness,eu:etcd'], world.config.regions),
        regions: world.config.regions,
      }),
    )
    expect(campaign.totals.rounds).to.equal(2)
    expect(campaign.totals.lost).to.equal(0)
    expect(campaign.verified).to.equal(true)
    // one workload for the whole campaign: its total includes the writes between the rounds
    expect(campaign.totals.acknowledged).to.be.at.least(campaign.rounds.reduce((a, r) => a + r.acknowledged, 0))
    const reports: BlastResult[] = []
    for (const round of campaign.rounds) {
      const report = JSON.parse(await readFile(path.join(round.runDir, 'report.json'), 'utf8')) as BlastResult
      checkPictureMatchesReport(parseXml(await readFile(path.join(round.runDir, 'report.svg'), 'utf8')), report)
      reports.push(report)
    }

    // the campaign's own picture: every round at its offset from the first fault
    checkCampaignPicture(parseXml(await readFile(campaign.report.picture, 'utf8')), reports)
    const markdown = await readFile(campaign.report.markdown, 'utf8')
    expect(markdown).to.match(/^# Chaos campaign chaos-.* \(seed 5\)/)
    expect(markdown).to.include('](report.svg)')
    const {runs} = parseJsonOutput<{runs: RunSummary[]}>(await world.atlas(['runs', '--json']))
    expect(runs.find((r) => r.id === campaign.id)).to.include({kind: 'chaos', verdict: 'PASS', lost: 0})
    expect(runs.filter((r) => r.id.startsWith(`${campaign.id}-round-`)).map((r) => r.kind)).to.deep.equal([
      'blast-radius',
      'blast-radius',
    ])
  })
})
