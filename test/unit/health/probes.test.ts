// etcd and Patroni answers (recorded shapes of etcd 3.4's gateway and Patroni 4.1.5's
// GET /cluster and GET /patroni) mapped into the one health model.
import {expect} from 'chai'

import {etcdGroupHealth, type EtcdMemberSample} from '../../../src/lib/health/etcd.js'
import {clusterHealth} from '../../../src/lib/health/model.js'
import {
  type PatroniClusterResponse,
  patroniGroupHealth,
  type PatroniNodeResponse,
  type PatroniSample,
} from '../../../src/lib/health/patroni.js'
import {LocalWorld} from '../../../src/lib/world/local/index.js'

const target = (region: string) => ({region, name: `etcd-${region}`, clientUrl: `http://127.0.0.1:1/${region}`})
const status = (memberId: string, leader: string, index: number, term = 3) => ({
  header: {member_id: memberId, raft_term: String(term)},
  leader,
  raftIndex: String(index),
  raftTerm: String(term),
  version: '3.4.23',
})

const etcdAllUp: EtcdMemberSample[] = [
  {target: target('us'), status: status('11', '33', 100)},
  {target: target('eu'), status: status('22', '33', 98)},
  {target: target('witness'), status: status('33', '33', 100)},
]

const pgTarget = (region: string) => ({region, name: `pg-${region}`, apiUrl: `http://127.0.0.1:1/${region}`})
// GET /cluster of a converged world (Patroni 4.1.5, recorded): the leader 'running', each standby
// 'streaming' (its replication state) with its lag in bytes
const cluster = {
  members: [
    {name: 'pg-us', role: 'leader', state: 'running', timeline: 2},
    {name: 'pg-eu', role: 'sync_standby', state: 'streaming', timeline: 2, lag: 0},
    {name: 'pg-witness', role: 'sync_standby', state: 'streaming', timeline: 2, lag: 0, tags: {nofailover: true}},
  ],
}
// GET /patroni of each node of that world (recorded, fields Atlas reads)
const primaryNode = {state: 'running', role: 'primary', timeline: 2}
const standbyNode = {state: 'running', role: 'replica', timeline: 2, sync_standby: true, replication_state: 'streaming'}

describe('health probes: etcd', () => {
  it('finds the leader from the member that names itself and computes index lag', () => {
    const g = etcdGroupHealth(etcdAllUp)
    expect(g.leaderRegion).to.equal('witness')
    expect(g.quorumHeld).to.equal(true)
    expect(g.term).to.equal(3)
    expect(g.members.find((m) => m.region === 'eu')?.lag).to.equal(2)
    expect(g.members.find((m) => m.region === 'us')?.role).to.equal('follower')
  })

  it('loses quorum when two of three members do not answer, even though the third is alive', () => {
    const g = etcdGroupHealth([
      {target: target('us'), error: 'timeout'},
      {target: target('eu'), status: status('22', '0', 98)},
      {target: target('witness'), error: 'ECONNREFUSED'},
    ])
    expect(g.votersAlive).to.equal(1)
    expect(g.quorumHeld).to.equal(false)
    expect(g.leaderRegion).to.equal(null)
    expect(g.members.find((m) => m.region === 'eu')?.role).to.equal('unknown')
  })
})

describe('health probes: Patroni', () => {
  it('takes roles and lag from the leader view, liveness from each node answering itself', () => {
    const samples: PatroniSample[] = [
      {target: pgTarget('us'), cluster},
      {target: pgTarget('eu'), error: 'timeout'}, // a SIGSTOPped node: its peers still list it
      {target: pgTarget('witness'), cluster},
    ]
    const g = patroniGroupHealth(samples)
    expect(g.leaderRegion).to.equal('us')
    expect(g.members.find((m) => m.region === 'eu')?.alive).to.equal(false)
    expect(g.members.find((m) => m.region === 'witness')?.detail?.syncStandby).to.equal(true)
    expect(g.members.find((m) => m.region === 'witness')?.detail?.nofailover).to.equal(true)
    expect(g.term).to.equal(2)
  })

  it('has no leader while the old leader is unreachable and nobody has been promoted', () => {
    const stale = {
      members: [{name: 'pg-us', role: 'leader', state: 'running', timeline: 2}, ...cluster.members.slice(1)],
    }
    const g = patroniGroupHealth([
      {target: pgTarget('us'), error: 'ECONNREFUSED'},
      {target: pgTarget('eu'), cluster: stale},
      {target: pgTarget('witness'), cluster: stale},
    ])
    expect(g.leaderRegion).to.equal(null)
  })

  it('prefers the newly promoted leader over a cut-off old primary that still names itself leader in its stale view', () => {
    // /cluster as a partitioned Patroni serves it: its last DCS read, itself leader on the old timeline
    const stale = {
      members: [
        {name: 'pg-us', role: 'leader', state: 'running', timeline: 4},
        {name: 'pg-eu', role: 'sync_standby', state: 'streaming', timeline: 4, lag: 0},
      ],
    }
    const current = {
      members: [
        {name: 'pg-eu', role: 'leader', state: 'running', timeline: 5},
        {name: 'pg-witness', role: 'sync_standby', state: 'streaming', timeline: 5, lag: 0},
      ],
    }
    const g = patroniGroupHealth([
      {target: pgTarget('us'), cluster: stale},
      {target: pgTarget('eu'), cluster: current},
      {target: pgTarget('witness'), cluster: current},
    ])
    expect(g.leaderRegion).to.equal('eu')
    expect(g.term).to.equal(5)
  })
})

describe('LocalWorld.isConverged', () => {
  const health = (pg: PatroniSample[], etcd = etcdAllUp) =>
    clusterHealth([etcdGroupHealth(etcd), patroniGroupHealth(pg)], 'patroni', ['us', 'eu', 'witness'])
  const all = ['us', 'eu', 'witness'].map((r): PatroniSample => ({
    target: pgTarget(r),
    cluster,
    node: r === 'us' ? primaryNode : standbyNode,
  }))
  /** every node's DCS view is `view`; `nodes` replaces some nodes' own GET /patroni answer (undefined: none) */
  const world = (view: PatroniClusterResponse, nodes: Record<string, PatroniNodeResponse | undefined> = {}) =>
    all.map((s) => ({...s, cluster: view, node: s.target.region in nodes ? nodes[s.target.region] : s.node}))
  const withMember = (name: string, patch: Record<string, unknown>) => ({
    members: cluster.members.map((m) => (m.name === name ? {...m, ...patch} : m)),
  })

  it('is converged when every node answers, one leads and the others are synchronous with no lag', () => {
    expect(LocalWorld.isConverged(health(all))).to.equal(true)
  })

  it('is not converged while a standby lags or is only an asynchronous replica', () => {
    const lagging = {members: [cluster.members[0], {...cluster.members[1], lag: 4096}, cluster.members[2]]}
    expect(LocalWorld.isConverged(health(all.map((s) => ({...s, cluster: lagging}))))).to.equal(false)
    const async = {members: [cluster.members[0], {...cluster.members[1], role: 'replica'}, cluster.members[2]]}
    expect(LocalWorld.isConverged(health(all.map((s) => ({...s, cluster: async}))))).to.equal(false)
  })

  it('is not converged while an etcd member is down', () => {
    expect(
      LocalWorld.isConverged(health(all, [etcdAllUp[0], {target: target('eu'), error: 'down'}, etcdAllUp[2]])),
    ).to.equal(false)
  })

  it("is not converged while a standby's PostgreSQL is not ready, though the DCS still lists it streaming", () => {
    // the member key is written once per HA loop: a PostgreSQL that has just crashed or is restarting
    // stays 'streaming', synchronous, lag 0 there until its Patroni's next loop; its own GET /patroni
    // (which asks PostgreSQL) already says so, or does not answer at all while Patroni is busy
    for (const state of ['starting', 'stopped', 'stopping', 'restarting', 'crashed', 'start failed', 'unknown'])
      expect(LocalWorld.isConverged(health(world(cluster, {eu: {state, role: 'replica'}}))), state).to.equal(false)
    expect(LocalWorld.isConverged(health(world(cluster, {witness: undefined})))).to.equal(false)
  })

  it('is not converged while a synchronous standby runs without streaming (its WAL receiver is not connected)', () => {
    // Patroni lists a standby by its PostgreSQL state, 'running', until its WAL receiver streams
    const running = withMember('pg-eu', {state: 'running'})
    expect(LocalWorld.isConverged(health(world(running, {eu: {state: 'running', role: 'replica'}})))).to.equal(false)
    expect(LocalWorld.isConverged(health(world(cluster, {eu: {state: 'running', role: 'replica'}})))).to.equal(false)
  })

  it('is not converged while a standby is not ready in the DCS either', () => {
    // as Patroni lists it: no WAL position while its PostgreSQL does not answer, so the lag is 'unknown'
    for (const state of ['starting', 'stopped', 'restarting', 'creating replica', 'start failed', 'crashed']) {
      const view = withMember('pg-eu', {state, lag: 'unknown'})
      expect(LocalWorld.isConverged(health(world(view, {eu: {state, role: 'replica'}}))), state).to.equal(false)
    }
  })

  it("is not converged while the leader's PostgreSQL is not running as the primary, though the DCS still lists it running", () => {
    // e.g. a leader that demoted itself when it lost the DCS: stopped, then started again as a replica
    for (const node of [
      {state: 'starting', role: 'replica'},
      {state: 'stopped', role: 'primary'},
      {state: 'stopping', role: 'primary'},
      {state: 'restarting', role: 'primary'},
      {state: 'running', role: 'replica'},
    ])
      expect(LocalWorld.isConverged(health(world(cluster, {us: node}))), JSON.stringify(node)).to.equal(false)
    expect(LocalWorld.isConverged(health(world(cluster, {us: undefined})))).to.equal(false)
  })

  it('is not converged while the DCS lists the leader as not running', () => {
    for (const state of ['starting', 'stopped', 'stopping', 'restarting', 'crashed']) {
      const view = withMember('pg-us', {state})
      expect(LocalWorld.isConverged(health(world(view, {us: {state, role: 'primary'}}))), state).to.equal(false)
    }
  })
})
