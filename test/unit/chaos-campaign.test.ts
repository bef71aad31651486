import {expect} from 'chai'
import {DEFAULT_CONFIG} from '../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../src/lib/config/load.js'
import {countViolations, describeRound, quorumKeepingPairs, parseFaultKinds, parseTargets, planCampaign, rtoSummary, seededRandom, seedValue} from '../../src/lib/chaos/campaign.js'
import {AtlasError, ExitCode} from '../../src/lib/errors.js'

const config = parseConfigObject(DEFAULT_CONFIG)
const regions = config.regions

describe('chaos campaigns: the schedule', () => {
  const plan = (seed: number, extra: {force?: boolean; faults?: string[]; targets?: string[]; rounds?: number} = {}) =>
    planCampaign({seed, rounds: extra.rounds ?? 40, kinds: parseFaultKinds(extra.faults ?? []), targets: parseTargets(extra.targets ?? [], regions), regions, force: extra.force})

  it('is a function of the seed: the same seed gives the same rounds, another seed others', () => {
    expect(plan(42)).to.deep.equal(plan(42))
    expect(plan(42).map(describeRound)).to.not.deep.equal(plan(43).map(describeRound))
    // pinned: the generator must not change under users' recorded seeds
    expect(plan(42, {rounds: 5}).map(describeRound)).to.deep.equal(['stop eu', 'stop us:etcd + eu:postgres', 'kill eu', 'kill eu', 'stop eu'])
    const random = seededRandom(1)
    expect([random(), random(), random()]).to.deep.equal([0.6270739405881613, 0.002735721180215478, 0.5274470399599522])
    expect(seedValue('nightly')).to.equal(2352269578)
    expect(seedValue('17')).to.equal(17)
  })

  it('draws only the given kinds and targets, every one of them over enough rounds', () => {
    const rounds = plan(7, {faults: ['stop'], targets: ['eu,witness:etcd']})
    expect(new Set(rounds.map((r) => r.kind))).to.deep.equal(new Set(['stop']))
    expect(new Set(rounds.filter((r) => r.targets.length === 1).map(describeRound))).to.deep.equal(new Set(['stop eu', 'stop witness:etcd']))
    // a whole-region target lends its parts to double faults; a component target only itself
    expect(new Set(rounds.filter((r) => r.targets.length === 2).map(describeRound))).to.deep.equal(new Set(['stop eu:patroni + witness:etcd', 'stop eu:postgres + witness:etcd']))
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

  it('quorum-keeping pairs: one etcd member and another region\'s database part; none from whole regions or two etcd members', () => {
    const pairs = (targets: string[]) => quorumKeepingPairs(parseTargets(targets, regions), regions).map((p) => describeRound({kind: 'kill', targets: p}))
    expect(pairs(['us:patroni,eu:etcd'])).to.deep.equal(['kill us:patroni + eu:etcd'])
    expect(pairs(['us:etcd,eu:etcd,witness:etcd'])).to.deep.equal([])
    expect(pairs(['us:patroni,eu:patroni'])).to.deep.equal([])
    expect(pairs([])).to.have.length(8)
    expect(pairs([])).to.include.members(['kill us:patroni + witness:etcd', 'kill us:postgres + eu:etcd', 'kill eu:patroni + witness:etcd'])
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
    expect(plan(2, {faults: ['kill,stop,partition'], targets: ['eu,witness'], rounds: 2}).map(describeRound)).to.deep.equal(['partition eu', 'kill witness'])
    // a partition with no whole region to cut is a usage error
    expect(() => plan(2, {faults: ['partition'], targets: ['eu:etcd']})).to.throw(/--faults partition cuts whole regions/)
  })

  it('bad kinds and targets are usage errors (exit 2) before anything runs', () => {
    for (const bad of [() => parseFaultKinds(['kill,flood']), () => parseTargets(['mars'], regions), () => parseTargets(['us:kernel'], regions)]) {
      let error: unknown
      try {
        bad()
      } catch (e) {
        error = e
      }
      expect(error).to.be.instanceOf(AtlasError)
      expect((error as AtlasError).exitCode).to.equal(ExitCode.Usage)
    }
  })

  it('violations of a round: a kind verify left undefined counts 0 (the campaign total was NaN, null in its JSON)', () => {
    expect(countViolations({replay: undefined, negative_balance: undefined} as unknown as Record<string, number>)).to.equal(0)
    expect(countViolations({lost: 2, phantom: 1, replay: undefined} as unknown as Record<string, number>)).to.equal(3)
  })

  it('RTO summary: nearest-rank median and p95 of the measured rounds', () => {
    expect(rtoSummary([3, null, 1, 2, 10])).to.deep.equal({min: 1, median: 2, p95: 10, max: 10})
    expect(rtoSummary([null])).to.deep.equal({min: null, median: null, p95: null, max: null})
  })
})

describe('atlas chaos: bad input', function () {
  this.timeout(60_000)

  it('an unknown fault kind or target exits 2 before any world is touched', async () => {
    const {runAtlas, parseJsonOutput} = await import('../helpers/cli.js')
    const os = await import('node:os')
    const kind = await runAtlas(['chaos', '--faults', 'kill,flood', '--driver', 'local', '--base-dir', os.tmpdir(), '--json'])
    expect(kind.exitCode).to.equal(2)
    expect(parseJsonOutput<{error: {message: string}}>(kind).error.message).to.equal('unknown fault kind "flood" in --faults')
    const target = await runAtlas(['chaos', '--targets', 'us:kernel', '--driver', 'local', '--base-dir', os.tmpdir()])
    expect(target.exitCode).to.equal(2)
    expect(target.stderr).to.include('unknown component "kernel" in --targets us:kernel')
  })
})
