import {expect} from 'chai'

import type {WorkloadStats} from '../../../src/lib/ledger/workload/index.js'

import {
  type CampaignResult,
  type CampaignRoundResult,
  countViolations,
  describeRound,
  formatCampaignReport,
  parseFaultKinds,
  parseTargets,
  planCampaign,
  quorumKeepingPairs,
  rtoSummary,
  seededRandom,
  seedValue,
} from '../../../src/lib/chaos/campaign/index.js'
import {windowStats} from '../../../src/lib/chaos/workload.js'
import {DEFAULT_CONFIG} from '../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../src/lib/config/load.js'
import {AtlasError, ExitCode} from '../../../src/lib/errors.js'
import {LatencyHistogram} from '../../../src/lib/ledger/stats.js'

const config = parseConfigObject(DEFAULT_CONFIG)
const {regions} = config

describe('chaos campaigns: the schedule', () => {
  const plan = (seed: number, extra: {faults?: string[]; force?: boolean; rounds?: number; targets?: string[]} = {}) =>
    planCampaign({
      seed,
      rounds: extra.rounds ?? 40,
      kinds: parseFaultKinds(extra.faults ?? []),
      targets: parseTargets(extra.targets ?? [], regions),
      regions,
      force: extra.force,
    })

  it('is a function of the seed: the same seed gives the same rounds, another seed others', () => {
    expect(plan(42)).to.deep.equal(plan(42))
    expect(plan(42).map(describeRound)).to.not.deep.equal(plan(43).map(describeRound))
    // pinned: the generator must not change under users' recorded seeds
    expect(plan(42, {rounds: 5}).map(describeRound)).to.deep.equal([
      'stop eu',
      'stop us:etcd + eu:postgres',
      'kill eu',
      'kill eu',
      'stop eu',
    ])
    const random = seededRandom(1)
    expect([random(), random(), random()]).to.deep.equal([
      0.627_073_940_588_161_3, 0.002_735_721_180_215_478, 0.527_447_039_959_952_2,
    ])
    expect(seedValue('nightly')).to.equal(2_352_269_578)
    expect(seedValue('17')).to.equal(17)
  })

  it('draws only the given kinds and targets, every one of them over enough rounds', () => {
    const rounds = plan(7, {faults: ['stop'], targets: ['eu,witness:etcd']})
    expect(new Set(rounds.map((r) => r.kind))).to.deep.equal(new Set(['stop']))
    expect(new Set(rounds.filter((r) => r.targets.length === 1).map(describeRound))).to.deep.equal(
      new Set(['stop eu', 'stop witness:etcd']),
    )
    // a whole-region target lends its parts to double faults; a component target only itself
    expect(new Set(rounds.filter((r) => r.targets.length === 2).map(describeRound))).to.deep.equal(
      new Set(['stop eu:patroni + witness:etcd', 'stop eu:postgres + witness:etcd']),
    )
    // without --faults: the kinds that need no privilege
    expect(new Set(plan(7).map((r) => r.kind))).to.deep.equal(new Set(['kill', 'stop']))
  })

  it('without --force: every round keeps quorum, some of them double faults of different parts; with it, also double faults that lose it', () => {
    const unforced = plan(3, {rounds: 100})
    expect(unforced.every((r) => r.keepsQuorum)).to.equal(true)
    const keeping = unforced.filter((r) => r.targets.length === 2)
    expect(keeping.length).to.be.within(8, 35)
    for (const d of keeping) {
      expect(d.targets[0].region).to.not.equal(d.targets[1].region)
      // never two etcd members, never both data regions' databases
      expect(d.targets.filter((t) => t.component === 'etcd')).to.have.length(1)
      expect(d.targets.every((t) => t.component !== 'region')).to.equal(true)
    }

    const forced = plan(3, {force: true, rounds: 100})
    const losing = forced.filter((r) => !r.keepsQuorum)
    expect(losing.length).to.be.within(10, 45)
    for (const d of losing) {
      expect(d.targets).to.have.length(2)
      expect(d.targets[0].region).to.not.equal(d.targets[1].region)
    }
  })

  it("quorum-keeping pairs: one etcd member and another region's database part; none from whole regions or two etcd members", () => {
    const pairs = (targets: string[]) =>
      quorumKeepingPairs(parseTargets(targets, regions), regions).map((p) => describeRound({kind: 'kill', targets: p}))
    expect(pairs(['us:patroni,eu:etcd'])).to.deep.equal(['kill us:patroni + eu:etcd'])
    expect(pairs(['us:etcd,eu:etcd,witness:etcd'])).to.deep.equal([])
    expect(pairs(['us:patroni,eu:patroni'])).to.deep.equal([])
    expect(pairs([])).to.have.length(8)
    expect(pairs([])).to.include.members([
      'kill us:patroni + witness:etcd',
      'kill us:postgres + eu:etcd',
      'kill eu:patroni + witness:etcd',
    ])
  })

  it('partition rounds: whole regions only, one region per round, drawn from the seed like the others', () => {
    const rounds = plan(11, {faults: ['kill,stop,partition'], targets: ['eu,witness,us:etcd'], rounds: 60, force: true})
    const partitions = rounds.filter((r) => r.kind === 'partition')
    expect(partitions.length).to.be.within(10, 35)
    for (const p of partitions) {
      expect(p).to.include({mode: 'partition', partition: 'isolate', keepsQuorum: true})
      expect(p.targets).to.have.length(1)
      expect(p.targets[0].component, 'a partition cuts a whole region').to.equal('region')
    }

    expect(new Set(partitions.map(describeRound))).to.deep.equal(new Set(['partition eu', 'partition witness']))
    // kill and stop rounds still reach the component target
    expect(rounds.some((r) => r.kind !== 'partition' && r.targets[0].component === 'etcd')).to.equal(true)
    // pinned: the two-round campaign test/integration/partition.test.ts runs
    expect(
      plan(2, {faults: ['kill,stop,partition'], targets: ['eu,witness'], rounds: 2}).map(describeRound),
    ).to.deep.equal(['partition eu', 'kill witness'])
    // a partition with no whole region to cut is a usage error
    expect(() => plan(2, {faults: ['partition'], targets: ['eu:etcd']})).to.throw(
      /--faults partition cuts whole regions/,
    )
  })

  it("the etcd leader as a target: one etcd member found when the round runs; the schedule stays the seed's, and never pairs it", () => {
    expect(parseTargets(['etcd-leader,eu'], regions)).to.deep.equal([
      {region: null, component: 'etcd-leader'},
      {region: 'eu', component: 'region'},
    ])
    const rounds = plan(19, {faults: ['kill,stop'], targets: ['etcd-leader,eu,witness'], rounds: 60, force: true})
    expect(
      plan(19, {faults: ['kill,stop'], targets: ['etcd-leader,eu,witness'], rounds: 60, force: true}),
    ).to.deep.equal(rounds)
    const leaderRounds = rounds.filter((r) => r.targets.some((t) => t.component === 'etcd-leader'))
    expect(leaderRounds.length).to.be.within(8, 30)
    for (const r of leaderRounds) {
      // alone (a double fault of it could land in its partner's region), keeping quorum (one etcd voter of three)
      expect(r.targets).to.deep.equal([{region: null, component: 'etcd-leader'}])
      expect(r.keepsQuorum).to.equal(true)
    }

    // pinned: the campaign test/integration/campaign.test.ts runs
    expect(
      plan(19, {faults: ['kill,stop'], targets: ['etcd-leader,eu,witness'], rounds: 3}).map(describeRound),
    ).to.deep.equal(['kill etcd-leader', 'kill witness', 'stop eu:patroni + witness:etcd'])
    // where it was, once run
    expect(
      describeRound({
        kind: 'kill',
        targets: [{region: null, component: 'etcd-leader'}],
        resolvedTargets: [{region: 'eu', component: 'etcd'}],
      }),
    ).to.equal('kill etcd-leader (eu)')
    // adding it leaves the other targets' seeds alone: the same draws as before it existed
    expect(plan(42, {rounds: 5}).map(describeRound)).to.deep.equal([
      'stop eu',
      'stop us:etcd + eu:postgres',
      'kill eu',
      'kill eu',
      'stop eu',
    ])
    expect(() => parseTargets(['us:etcd-leader'], regions)).to.throw(/takes none/)
  })

  it('partition shapes as kinds: one-way-in, one-way-out and bridge, drawn from the seed; a bridge only cuts a data region', () => {
    const kinds = parseFaultKinds(['partition,partition-one-way-in,partition-one-way-out,partition-bridge'])
    expect(kinds.map((k) => [k.name, k.partition])).to.deep.equal([
      ['partition', 'isolate'],
      ['partition-one-way-in', 'one-way-in'],
      ['partition-one-way-out', 'one-way-out'],
      ['partition-bridge', 'bridge'],
    ])
    const rounds = plan(5, {
      faults: ['partition,partition-one-way-in,partition-one-way-out,partition-bridge'],
      targets: ['us,eu,witness'],
      rounds: 80,
    })
    expect(
      plan(5, {
        faults: ['partition,partition-one-way-in,partition-one-way-out,partition-bridge'],
        targets: ['us,eu,witness'],
        rounds: 80,
      }),
    ).to.deep.equal(rounds)
    expect(new Set(rounds.map((r) => r.partition))).to.deep.equal(
      new Set(['isolate', 'one-way-in', 'one-way-out', 'bridge']),
    )
    for (const r of rounds) {
      expect(r).to.include({mode: 'partition', keepsQuorum: true})
      expect(r.targets).to.have.length(1)
      expect(r.targets[0].component).to.equal('region')
    }

    const bridges = rounds.filter((r) => r.partition === 'bridge')
    expect(new Set(bridges.map((r) => r.targets[0].region))).to.deep.equal(new Set(['us', 'eu']))
    expect(new Set(rounds.filter((r) => r.partition === 'one-way-in').map((r) => r.targets[0].region))).to.deep.equal(
      new Set(['us', 'eu', 'witness']),
    )
    // pinned: the campaign test/integration/partition.test.ts runs
    expect(
      plan(7, {
        faults: ['partition-bridge,partition-one-way-in,partition-one-way-out'],
        targets: ['us,eu,witness'],
        rounds: 3,
      }).map(describeRound),
    ).to.deep.equal(['partition-bridge us', 'partition-one-way-out witness', 'partition-one-way-in eu'])
    // a bridge with only the witness to cut is a usage error, before anything runs
    expect(() => plan(7, {faults: ['partition-bridge'], targets: ['witness,us:etcd']})).to.throw(
      /--faults partition-bridge cuts a data region from the other data regions, and --targets names no whole data region/,
    )
    expect(() => plan(7, {faults: ['partition-one-way-in'], targets: ['us:etcd']})).to.throw(
      /--faults partition-one-way-in cuts whole regions/,
    )
  })

  it("a round's window of a running workload: counter differences, its own latencies and acknowledgement times", () => {
    const stats = (n: number, extra: Partial<WorkloadStats> = {}): WorkloadStats => ({
      elapsedSeconds: n,
      attempted: 10 * n,
      acknowledged: 8 * n,
      applied: 7 * n,
      alreadyApplied: n,
      sent: 0,
      rejected: 0,
      failed: n,
      unknown: n,
      unknownResolved: 0,
      retries: 2 * n,
      inFlight: 3,
      auditErrors: 0,
      tps: 5,
      averageTps: 8,
      latencyMs: {p50: 999, p99: 999, max: 999},
      recentErrors: ['x'],
      ...extra,
    })
    const latencies = new LatencyHistogram()
    for (const ms of [1, 2, 3, 4, 100]) latencies.record(ms)
    const w = windowStats(
      stats(10),
      stats(15, {inFlight: 1}),
      latencies,
      Date.UTC(2026, 0, 1),
      Date.UTC(2026, 0, 1, 0, 0, 5),
    )
    expect(w).to.deep.include({
      elapsedSeconds: 5,
      attempted: 50,
      acknowledged: 40,
      applied: 35,
      alreadyApplied: 5,
      failed: 5,
      unknown: 5,
      retries: 10,
      inFlight: 1,
      averageTps: 8,
    })
    expect(w.latencyMs.max, "the window's own latencies, not the run's").to.be.within(99, 106)
    expect(w.firstAcknowledgedAt).to.equal('2026-01-01T00:00:00.000Z')
    expect(w.lastAcknowledgedAt).to.equal('2026-01-01T00:00:05.000Z')
  })

  it('bad kinds and targets are usage errors (exit 2) before anything runs', () => {
    for (const bad of [
      () => parseFaultKinds(['kill,flood']),
      () => parseTargets(['mars'], regions),
      () => parseTargets(['us:kernel'], regions),
    ]) {
      let error: unknown
      try {
        bad()
      } catch (error_) {
        error = error_
      }

      expect(error).to.be.instanceOf(AtlasError)
      expect((error as AtlasError).exitCode).to.equal(ExitCode.Usage)
    }
  })

  it('violations of a round: a kind verify left undefined counts 0 (the campaign total was NaN, null in its JSON)', () => {
    expect(
      countViolations({replay: undefined, negative_balance: undefined} as unknown as Record<string, number>),
    ).to.equal(0)
    expect(countViolations({lost: 2, phantom: 1, replay: undefined} as unknown as Record<string, number>)).to.equal(3)
  })

  it('RTO summary: nearest-rank median and p95 of the measured rounds', () => {
    expect(rtoSummary([3, null, 1, 2, 10])).to.deep.equal({min: 1, median: 2, p95: 10, max: 10})
    expect(rtoSummary([null])).to.deep.equal({min: null, median: null, p95: null, max: null})
  })
})

describe("chaos campaigns: the report's alerts", () => {
  const round = (index: number, alerts?: CampaignRoundResult['alerts']): CampaignRoundResult => ({
    index,
    kind: 'kill',
    targets: [{region: 'us', component: 'region'}],
    resolvedTargets: [{region: 'us', component: 'region'}],
    keepsQuorum: true,
    runDir: `/runs/c-round-0${index}`,
    faultInjectedAt: '2026-11-30T05:00:00.000Z',
    verified: true,
    rtoSeconds: 7.5,
    acknowledged: 100,
    acknowledgedDuringFault: 40,
    unknown: 0,
    lost: 0,
    violations: {},
    failover: true,
    ...(alerts ? {alerts} : {}),
  })
  const fired = (name: string, region: string | undefined, detect: number, resolve: null | number) => ({
    name,
    severity: 'critical',
    labels: region ? {region} : ({} as Record<string, string>),
    pendingAt: null,
    pendingSeconds: null,
    firedAt: 'x',
    resolvedAt: resolve === null ? null : 'y',
    detectSeconds: detect,
    resolveSeconds: resolve,
  })

  it("each round's row says which alerts fired after its fault and when they resolved; none, or not recorded without monitoring", () => {
    const result = {
      kind: 'chaos',
      id: 'c',
      seed: 1,
      rounds: [
        round(1, [fired('AtlasPatroniNoLeader', undefined, 1.9, 6.4), fired('AtlasEtcdMemberDown', 'us', 2.2, null)]),
        round(2, []),
        round(3),
      ],
      plan: [1, 2, 3].map((index) => ({
        index,
        kind: 'kill',
        mode: 'kill',
        targets: [{region: 'us', component: 'region'}],
        keepsQuorum: true,
      })),
      totals: {rounds: 3, acknowledged: 300, lost: 0, unknown: 0, violations: 0},
      rto: {min: 7.5, median: 7.5, p95: 7.5, max: 7.5},
      workload: {runDir: '/runs/c', runLog: '/runs/c/transfers.log', pid: 1, startedAt: 'a', endedAt: 'b', stats: null},
      verified: true,
      interrupted: false,
      report: {json: '', markdown: '', picture: '', html: ''},
    } as unknown as CampaignResult
    const md = formatCampaignReport(result)
    const rows = md.split('\n').filter((l) => /^\| \d \|/.test(l))
    expect(md).to.include('| alerts fired (s after the fault) |')
    expect(rows).to.have.length(3)
    expect(rows[0]).to.include('| AtlasPatroniNoLeader 1.9 s -> 6.4 s; AtlasEtcdMemberDown (us) 2.2 s, still firing |')
    expect(rows[1]).to.include('| none |')
    expect(rows[2]).to.include('| not recorded (no monitoring) |')
  })
})

describe('atlas chaos: bad input', function () {
  this.timeout(60_000)

  it('an unknown fault kind or target exits 2 before any world is touched', async () => {
    const {runAtlas, parseJsonOutput} = await import('../../helpers/cli.js')
    const os = await import('node:os')
    const kind = await runAtlas([
      'chaos',
      '--faults',
      'kill,flood',
      '--driver',
      'local',
      '--base-dir',
      os.tmpdir(),
      '--json',
    ])
    expect(kind.exitCode).to.equal(2)
    expect(parseJsonOutput<{error: {message: string}}>(kind).error.message).to.equal(
      'unknown fault kind "flood" in --faults',
    )
    const target = await runAtlas(['chaos', '--targets', 'us:kernel', '--driver', 'local', '--base-dir', os.tmpdir()])
    expect(target.exitCode).to.equal(2)
    expect(target.stderr).to.include('unknown component "kernel" in --targets us:kernel')
  })
})
