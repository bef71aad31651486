import {expect} from 'chai'

import type {ClusterHealth, GroupHealth, MemberHealth} from '../../../src/lib/health/model.js'

import {scanPatroniLog, SoakCounter, soakSample, type SoakSample} from '../../../bench/soak/count.js'

/** a steady world: us leads timeline 1, eu and the witness are synchronous standbys, etcd led by the witness */
function sample(at: number, overrides: Partial<SoakSample> = {}): SoakSample {
  return {
    at,
    patroniLeader: 'us',
    timeline: 1,
    members: {
      us: {patroniRole: 'leader', state: 'running'},
      eu: {patroniRole: 'sync_standby', state: 'streaming'},
      witness: {patroniRole: 'sync_standby', state: 'streaming'},
    },
    etcdLeader: 'witness',
    etcdTerm: 2,
    probeMisses: [],
    ...overrides,
  }
}

function count(samples: SoakSample[]) {
  const counter = new SoakCounter()
  for (const s of samples) counter.add(s)
  return counter.result()
}

describe('soak bench: counting changes', () => {
  it('counts nothing in a steady world', () => {
    const c = count([sample(0), sample(250), sample(500)])
    expect(c).to.include({
      samples: 3,
      spuriousFailovers: 0,
      patroniLeaderChanges: 0,
      timelineChanges: 0,
      leftSyncSet: 0,
      leftCluster: 0,
      etcdLeaderChanges: 0,
      etcdTermChanges: 0,
      patroniLeaderlessSamples: 0,
    })
    expect(c.events).to.deep.equal([])
  })

  it('counts a failover once across a leaderless stretch, with its timeline change', () => {
    const c = count([
      sample(0),
      sample(250, {
        patroniLeader: null,
        members: {...sample(0).members!, us: {patroniRole: 'leader', state: 'stopped'}},
      }),
      sample(500, {patroniLeader: null, members: {...sample(0).members!, us: {patroniRole: null, state: null}}}),
      sample(750, {
        patroniLeader: 'eu',
        timeline: 2,
        members: {
          us: {patroniRole: 'replica', state: 'streaming'},
          eu: {patroniRole: 'leader', state: 'running'},
          witness: {patroniRole: 'sync_standby', state: 'streaming'},
        },
      }),
      sample(1000, {
        patroniLeader: 'eu',
        timeline: 2,
        members: {
          us: {patroniRole: 'sync_standby', state: 'streaming'},
          eu: {patroniRole: 'leader', state: 'running'},
          witness: {patroniRole: 'sync_standby', state: 'streaming'},
        },
      }),
    ])
    expect(c.patroniLeaderChanges).to.equal(1)
    expect(c.timelineChanges).to.equal(1)
    expect(c.spuriousFailovers).to.equal(1)
    expect(c.patroniLeaderlessSamples).to.equal(2)
    // us: running -> stopped; eu left the sync set only by becoming leader, which does not count
    expect(c.leftCluster).to.equal(1)
    expect(c.leftSyncSet).to.equal(0)
    expect(c.events.map((e) => `${e.at} ${e.kind} ${e.detail}`)).to.deep.equal([
      '250 no-patroni-leader no member listed as leader and running',
      '250 left-cluster us: running -> stopped',
      '500 no-patroni-leader no member listed as leader and running',
      '750 patroni-leader-change us -> eu',
      '750 timeline-change 1 -> 2',
    ])
  })

  it('counts a standby dropped from the synchronous set and one that disappears from the view', () => {
    const c = count([
      sample(0),
      sample(250, {members: {...sample(0).members!, witness: {patroniRole: 'replica', state: 'streaming'}}}),
      sample(500, {
        members: {us: sample(0).members!.us, eu: {patroniRole: null, state: null}, witness: sample(0).members!.witness},
      }),
    ])
    expect(c.leftSyncSet).to.equal(2)
    expect(c.leftCluster).to.equal(1)
    expect(c.spuriousFailovers).to.equal(0)
  })

  it('ignores probe misses: an unknown value neither ends nor starts a leadership', () => {
    const c = count([
      sample(0),
      sample(250, {
        patroniLeader: null,
        timeline: null,
        members: undefined,
        etcdLeader: null,
        etcdTerm: null,
        probeMisses: ['patroni/us', 'patroni/eu', 'patroni/witness', 'etcd/witness'],
      }),
      sample(500),
    ])
    expect(c.spuriousFailovers).to.equal(0)
    expect(c.patroniLeaderlessSamples).to.equal(0)
    expect(c.etcdLeaderChanges).to.equal(0)
    expect(c.probeMissSamples).to.equal(1)
  })

  it('counts etcd leader changes and elections, not a lagging member reporting an older term', () => {
    const c = count([
      sample(0),
      sample(250, {etcdLeader: 'us', etcdTerm: 3}),
      sample(500, {etcdLeader: 'us', etcdTerm: 2}),
      sample(750, {etcdLeader: 'us', etcdTerm: 4}),
    ])
    expect(c.etcdLeaderChanges).to.equal(1)
    expect(c.etcdTermChanges).to.equal(2)
    expect(c.spuriousFailovers).to.equal(0)
  })
})

describe('soak bench: reducing a health-model sample', () => {
  const member = (region: string, alive: boolean, patroniRole: null | string, state: null | string): MemberHealth => ({
    region,
    name: `pg-${region}`,
    group: 'patroni',
    alive,
    reachable: alive,
    role: alive && patroniRole === 'leader' ? 'leader' : alive ? 'follower' : 'unknown',
    term: 3,
    lag: 0,
    detail: {patroniRole, state, syncStandby: patroniRole === 'sync_standby'},
  })
  const group = (name: string, members: MemberHealth[], leaderRegion: null | string, term: number): GroupHealth => ({
    group: name,
    members,
    leaderRegion,
    quorumHeld: true,
    term,
    unavailableRanges: null,
    underReplicatedRanges: null,
    voters: members.length,
    votersAlive: members.filter((m) => m.alive).length,
  })

  it("takes the leader from the cluster view even when the leader's own probe missed", () => {
    const health: ClusterHealth = {
      at: '2026-11-30T12:00:00.000Z',
      groups: [
        group('etcd', [{...member('witness', true, null, null), group: 'etcd'}], 'witness', 7),
        group(
          'patroni',
          [member('us', false, 'leader', 'running'), member('eu', true, 'sync_standby', 'streaming')],
          null,
          3,
        ),
      ],
      leaderRegion: null,
      quorumHeld: true,
      unreachableRegions: [],
      writable: false,
    }
    expect(soakSample(health)).to.deep.equal({
      at: Date.parse('2026-11-30T12:00:00.000Z'),
      patroniLeader: 'us',
      timeline: 3,
      members: {
        us: {patroniRole: 'leader', state: 'running'},
        eu: {patroniRole: 'sync_standby', state: 'streaming'},
      },
      etcdLeader: 'witness',
      etcdTerm: 7,
      probeMisses: ['patroni/us'],
    })
  })
})

describe('soak bench: scanning Patroni logs', () => {
  const before = [
    '2026-11-30 12:00:00,001 INFO: promoted self to leader by acquiring session lock',
    '2026-11-30 12:00:01,001 INFO: Lock owner: pg-us; I am pg-eu',
  ].join('\n')

  it('counts only what the phase added, and a lock owner change right at its start', () => {
    const during = [
      '2026-11-30 12:00:02,001 INFO: no action. I am (pg-eu), a secondary, and following a leader (pg-us)',
      '2026-11-30 12:00:03,001 WARNING: Loop time exceeded, rescheduling immediately.',
      '2026-11-30 12:00:04,001 INFO: Lock owner: None; I am pg-eu',
      '2026-11-30 12:00:05,001 INFO: promoted self to leader by acquiring session lock',
      '2026-11-30 12:00:06,001 INFO: Lock owner: pg-eu; I am pg-eu',
      '',
    ].join('\n')
    const scan = scanPatroniLog(before, during)
    expect(scan.counts).to.deep.equal({
      demoted: 0,
      promoted: 1,
      failover: 0,
      'leader-lock-lost': 1,
      'loop-time-exceeded': 1,
    })
    expect(scan.lockOwnerChanges).to.equal(1)
    expect(scan.lockOwnerLines).to.equal(2)
    expect(scan.linesScanned).to.equal(5)
    expect(scan.lines).to.have.length(3)
  })

  it('finds nothing in a quiet phase', () => {
    const during = '2026-11-30 12:00:02,001 INFO: Lock owner: pg-us; I am pg-eu\n'.repeat(3)
    const scan = scanPatroniLog(before, during)
    expect(Object.values(scan.counts).every((n) => n === 0)).to.equal(true)
    expect(scan.lockOwnerChanges).to.equal(0)
    expect(scan.lines).to.deep.equal([])
  })

  it('counts demotions and manual failovers', () => {
    const scan = scanPatroniLog(
      '',
      '2026-11-30 12:00:02,001 INFO: Demoting self (immediate-nolock)\n2026-11-30 12:00:03,001 INFO: Cleaning up failover key\n',
    )
    expect(scan.counts.demoted).to.equal(1)
    expect(scan.counts.failover).to.equal(1)
  })
})
