import {expect} from 'chai'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {MetricsParseError, parseCockroachVars} from '../../../src/lib/health/cockroach-metrics.js'
import {type CockroachNodeSample, mapCockroachHealth} from '../../../src/lib/health/cockroach.js'

const fixture = (name: string) => readFile(path.join('test', 'fixtures', 'cockroach', `${name}.prom`), 'utf8')

describe('CockroachDB /_status/vars parsing and mapping into the health model', () => {
  it('reads the health metrics of a node, summed over its stores', async () => {
    const vars = parseCockroachVars(await fixture('n1-healthy'))
    expect(vars).to.deep.include({
      nodeId: 1,
      liveNodes: 3,
      ranges: 64,
      rangesUnavailable: 0,
      rangesUnderreplicated: 0,
      replicasLeaders: 48,
      replicasLeaseholders: 48,
      requestsSlowRaft: 0,
      uptimeSeconds: 5423.2,
    })
    // histograms and multi-line HELP texts parse too
    expect(vars.metricNames).to.include.members([
      'raft_process_logcommit_latency',
      'sql_service_latency',
      'requests_slow_raft',
    ])
  })

  it('sums store-level metrics across several stores of one node', () => {
    const text = [
      '# HELP ranges_unavailable Number of ranges with fewer live replicas than needed for quorum',
      '# TYPE ranges_unavailable gauge',
      'ranges_unavailable{store="1",node_id="4"} 3',
      'ranges_unavailable{store="2",node_id="4"} 2',
      '',
    ].join('\n')
    const vars = parseCockroachVars(text)
    expect(vars.rangesUnavailable).to.equal(5)
    expect(vars.nodeId).to.equal(4)
    // absent families are unknown, not zero
    expect(vars.liveNodes).to.equal(null)
  })

  it('rejects a response that is not metric text', () => {
    expect(() => parseCockroachVars('<html>Bad gateway</html>')).to.throw(MetricsParseError)
    expect(() => parseCockroachVars('')).to.throw(MetricsParseError, /no metrics/)
  })

  const node = async (
    region: string,
    fixtureName: null | string,
    readyStatus: null | number,
    apiReachable = true,
  ): Promise<CockroachNodeSample> => ({
    region,
    pod: 'cockroachdb-0',
    apiReachable,
    readyStatus,
    vars: fixtureName ? parseCockroachVars(await fixture(fixtureName)) : null,
  })

  it('one region lost: under-replicated but available, quorum held, the lease-holding region leads', async () => {
    const health = mapCockroachHealth(
      [await node('us', 'n1-eu-down', 200), await node('eu', null, 503), await node('witness', 'n3-eu-down', 200)],
      ['us', 'eu', 'witness'],
      new Date('2026-01-01T00:00:00Z'),
    )
    const [group] = health.groups
    expect(group).to.deep.include({
      voters: 3,
      votersAlive: 2,
      quorumHeld: true,
      unavailableRanges: 0,
      underReplicatedRanges: 64,
      leaderRegion: 'us',
    })
    expect(group.members.map((m) => [m.region, m.role, m.alive, m.reachable])).to.deep.equal([
      ['us', 'leader', true, true],
      ['eu', 'unknown', false, true],
      ['witness', 'follower', true, true],
    ])
    expect(health).to.deep.include({
      at: '2026-01-01T00:00:00.000Z',
      writable: true,
      leaderRegion: 'us',
      unreachableRegions: [],
    })
  })

  it('unavailable ranges mean no quorum and no writes, even with a majority of nodes answering', async () => {
    // n1 reports its ranges unavailable while the API servers of eu and witness still answer
    const health = mapCockroachHealth(
      [
        await node('us', 'n1-quorum-lost', 200),
        await node('eu', 'n2-healthy', 200),
        await node('witness', 'n3-healthy', 200),
      ],
      ['us', 'eu', 'witness'],
    )
    expect(health.groups[0].votersAlive).to.equal(3)
    expect(health.groups[0].unavailableRanges).to.equal(64)
    expect(health.quorumHeld).to.equal(false)
    expect(health.writable).to.equal(false)
  })

  it('a region whose API server is gone is unreachable, and no ranges are claimed when nobody reports', async () => {
    const health = mapCockroachHealth(
      [await node('us', null, null, false), await node('eu', null, null, false)],
      ['us', 'eu'],
    )
    expect(health.unreachableRegions).to.deep.equal(['us', 'eu'])
    expect(health.groups[0].unavailableRanges).to.equal(null)
    expect(health.quorumHeld).to.equal(false)
    expect(health.leaderRegion).to.equal(null)
  })
})
