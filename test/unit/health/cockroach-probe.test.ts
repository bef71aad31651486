import {expect} from 'chai'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import type {MemberHealth} from '../../../src/lib/health/model.js'

import {CockroachHealthProbe, type CockroachRegionTarget} from '../../../src/lib/health/cockroach.js'
import {FakeKubeApi, fakeKubeconfig} from '../../helpers/fake-kube-api.js'

const NS = 'atlas'
// the StatefulSet's pod labels (charts/cockroachdb)
const LABELS = {
  'app.kubernetes.io/name': 'cockroachdb',
  'app.kubernetes.io/instance': 'cockroachdb',
  'app.kubernetes.io/component': 'database',
}
// the init Job's pod: Completed, and never a node
const INIT_LABELS = {
  'app.kubernetes.io/name': 'cockroachdb-init',
  'app.kubernetes.io/instance': 'cockroachdb',
  'app.kubernetes.io/component': 'init',
}
const REGIONS = ['us', 'eu', 'witness'] as const
type RegionName = (typeof REGIONS)[number]
const NODE_FIXTURE: Record<RegionName, string> = {us: 'n1', eu: 'n2', witness: 'n3'}

const fixture = (name: string) => readFile(path.join('test', 'fixtures', 'cockroach', `${name}.prom`), 'utf8')

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 20))
  }

  throw new Error(`timed out waiting for: ${what}`)
}

describe('CockroachDB health probe against a fake Kubernetes API', function () {
  this.timeout(20_000)
  let dir: string
  let apis: Record<RegionName, FakeKubeApi>
  let probe: CockroachHealthProbe

  const member = (members: MemberHealth[], region: string) => members.find((m) => m.region === region)!

  /** What the pod's HTTP port answers, through the API server proxy (secure mode: https: prefix). */
  async function serveNode(region: RegionName, varsFixture: string, ready: boolean): Promise<void> {
    const api = apis[region]
    api.setProxyAnswer(NS, 'cockroachdb-0', 8080, '_status/vars', {status: 200, body: await fixture(varsFixture)})
    api.setProxyAnswer(
      NS,
      'cockroachdb-0',
      8080,
      'health?ready=1',
      ready
        ? {status: 200, body: '{}', contentType: 'application/json'}
        : {status: 503, body: '{"error":"node is not healthy","code":14}', contentType: 'application/json'},
    )
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'atlas-probe-'))
    apis = {us: new FakeKubeApi(), eu: new FakeKubeApi(), witness: new FakeKubeApi()}
    for (const region of REGIONS) {
      await apis[region].start()
      apis[region].addPod({
        name: 'cockroachdb-0',
        namespace: NS,
        labels: LABELS,
        nodeName: `k3d-dc-${region}-server-0`,
        podIP: '10.42.0.7',
      })
      // a pod of another app in the namespace: the label selector must leave it out
      apis[region].addPod({
        name: 'ledger-7c9f',
        namespace: NS,
        labels: {'app.kubernetes.io/name': 'ledger'},
        nodeName: `k3d-dc-${region}-server-0`,
      })
      if (region === 'us')
        apis[region].addPod({
          name: 'cockroachdb-init-x7k2q',
          namespace: NS,
          labels: INIT_LABELS,
          nodeName: 'k3d-dc-us-server-0',
          ready: false,
        })
      await serveNode(region, `${NODE_FIXTURE[region]}-healthy`, true)
    }

    const kubeconfigPath = path.join(dir, 'kubeconfig')
    await writeFile(
      kubeconfigPath,
      fakeKubeconfig(Object.fromEntries(REGIONS.map((r) => [`k3d-dc-${r}`, apis[r].url]))),
    )
    const targets: CockroachRegionTarget[] = REGIONS.map((region) => ({
      region,
      context: `k3d-dc-${region}`,
      kubeconfigPath,
      scheme: 'https',
    }))
    probe = new CockroachHealthProbe(targets, {
      requestTimeoutMs: 400,
      reconnectDelayMs: 30,
      maxReconnectDelayMs: 150,
      watchIdleMs: 3000,
    })
    await probe.start()
  })

  afterEach(async () => {
    await probe.stop()
    for (const region of REGIONS) await apis[region].stop()
    await rm(dir, {recursive: true, force: true})
  })

  it('maps a healthy three-region cluster: quorum, leader region, no bad ranges', async () => {
    const {health, nodes} = await probe.sample()
    const group = health.groups[0]
    expect(group.group).to.equal('cockroachdb')
    expect(group.members.map((m) => `${m.region}/${m.name}`)).to.deep.equal([
      'us/cockroachdb-0',
      'eu/cockroachdb-0',
      'witness/cockroachdb-0',
    ])
    expect(group.members.every((m) => m.alive && m.reachable)).to.equal(true)
    expect(group.votersAlive).to.equal(3)
    expect(health.quorumHeld).to.equal(true)
    expect(health.writable).to.equal(true)
    // us holds 48 of the leases in the fixtures
    expect(health.leaderRegion).to.equal('us')
    expect(member(group.members, 'us').role).to.equal('leader')
    expect(member(group.members, 'eu').role).to.equal('follower')
    expect(group.unavailableRanges).to.equal(0)
    expect(group.underReplicatedRanges).to.equal(0)
    expect(health.unreachableRegions).to.deep.equal([])
    expect(member(group.members, 'us').detail).to.include({
      podReady: true,
      restarts: 0,
      kubeNode: 'k3d-dc-us-server-0',
      liveNodes: 3,
      nodeId: 1,
    })
    // the proxy was asked over https (secure mode) for both endpoints
    expect(apis.us.requests).to.include('/api/v1/namespaces/atlas/pods/https:cockroachdb-0:8080/proxy/_status/vars')
    expect(apis.us.requests).to.include('/api/v1/namespaces/atlas/pods/https:cockroachdb-0:8080/proxy/health?ready=1')
    expect(nodes.map((n) => n.pod)).to.not.include('ledger-7c9f')
  })

  it('reports a pod that goes NotReady as not alive while quorum holds', async () => {
    apis.eu.setPodReady(NS, 'cockroachdb-0', false)
    await serveNode('eu', 'n2-healthy', false)
    await until('the watch sees eu NotReady', () => probe.watchers().eu!.pods()[0]?.ready === false)
    const {health} = await probe.sample()
    const eu = member(health.groups[0].members, 'eu')
    expect(eu.alive).to.equal(false)
    expect(eu.reachable).to.equal(true)
    expect(eu.role).to.equal('unknown')
    expect(eu.detail).to.include({podReady: false, readyStatus: 503})
    expect(health.groups[0].votersAlive).to.equal(2)
    expect(health.quorumHeld).to.equal(true)
    expect(health.writable).to.equal(true)
    expect(health.unreachableRegions).to.deep.equal([])
  })

  it('follows ranges becoming unavailable and then recovering', async () => {
    // eu and witness stop answering ready; n1 alone reports every range unavailable
    await serveNode('us', 'n1-quorum-lost', false)
    await serveNode('eu', 'n2-healthy', false)
    await serveNode('witness', 'n3-healthy', false)
    let {health} = await probe.sample()
    expect(health.groups[0].unavailableRanges).to.equal(64 + 0 + 0)
    expect(health.quorumHeld).to.equal(false)
    expect(health.writable).to.equal(false)
    expect(health.leaderRegion).to.equal(null)
    expect(member(health.groups[0].members, 'us').detail).to.include({requestsSlowRaft: 5, liveNodes: 0})

    for (const region of REGIONS) await serveNode(region, `${NODE_FIXTURE[region]}-healthy`, true)
    ;({health} = await probe.sample())
    expect(health.groups[0].unavailableRanges).to.equal(0)
    expect(health.quorumHeld).to.equal(true)
    expect(health.writable).to.equal(true)
    expect(health.leaderRegion).to.equal('us')
  })

  it('counts under-replicated ranges while one region is down', async () => {
    await serveNode('us', 'n1-eu-down', true)
    await serveNode('witness', 'n3-eu-down', true)
    apis.eu.setProxyAnswer(NS, 'cockroachdb-0', 8080, 'health?ready=1', {
      status: 503,
      body: 'error trying to reach service',
    })
    apis.eu.setProxyAnswer(NS, 'cockroachdb-0', 8080, '_status/vars', {
      status: 503,
      body: 'error trying to reach service',
    })
    const {health} = await probe.sample()
    expect(health.groups[0].underReplicatedRanges).to.equal(57 + 7)
    expect(health.groups[0].unavailableRanges).to.equal(0)
    expect(health.quorumHeld).to.equal(true)
    expect(member(health.groups[0].members, 'eu').detail).to.include({readyStatus: 503})
  })

  it('reconnects a watch dropped mid-stream and catches up on what changed meanwhile', async () => {
    const watcher = probe.watchers().us!
    await until('the first watch is open', () => apis.us.openWatches() === 1)
    const watchesBefore = apis.us.watchRequests
    apis.us.dropWatches()
    // a change while nobody watches: only a re-list (or a replaying watch) can see it
    apis.us.restartPod(NS, 'cockroachdb-0')
    await until('the watcher reconnected', () => apis.us.watchRequests > watchesBefore && apis.us.openWatches() === 1)
    await until('the restart is seen', () => watcher.pods()[0]?.restarts === 1)
    // and events on the new watch arrive too
    apis.us.setPodReady(NS, 'cockroachdb-0', false)
    await until('NotReady arrives over the new watch', () => watcher.pods()[0]?.ready === false)
    expect(watcher.listsDone).to.be.greaterThan(1)
    const {health} = await probe.sample()
    expect(member(health.groups[0].members, 'us').detail).to.include({restarts: 1, podReady: false})
  })

  it('reports a region whose API server is gone as unreachable without failing the sample', async () => {
    await apis.eu.stop()
    const started = Date.now()
    const {health} = await probe.sample()
    expect(Date.now() - started).to.be.lessThan(2000)
    const eu = member(health.groups[0].members, 'eu')
    expect(eu).to.include({reachable: false, alive: false, role: 'unknown'})
    expect(health.unreachableRegions).to.deep.equal(['eu'])
    // two of three regions still form a majority
    expect(health.quorumHeld).to.equal(true)
    expect(health.writable).to.equal(true)
    expect(health.leaderRegion).to.equal('us')

    // the region comes back on the same address: the watch reconnects and it is reachable again
    await apis.eu.restart()
    await until('eu lists again', () => probe.watchers().eu!.everListed && probe.watchers().eu!.lastError === undefined)
    const after = await probe.sample()
    expect(after.health.unreachableRegions).to.deep.equal([])
    expect(member(after.health.groups[0].members, 'eu').alive).to.equal(true)
  })

  it('reports a frozen API server (paused container) as unreachable within the request deadline', async () => {
    apis.witness.freeze()
    const started = Date.now()
    const {health} = await probe.sample()
    expect(Date.now() - started).to.be.lessThan(2000)
    expect(health.unreachableRegions).to.deep.equal(['witness'])
    expect(member(health.groups[0].members, 'witness').detail?.error).to.match(/no answer within 400 ms/)
    apis.witness.thaw()
  })

  it('reports a region that was never reachable, and one missing from the kubeconfig, without throwing', async () => {
    const kubeconfigPath = path.join(dir, 'kubeconfig-partial')
    const closed = new FakeKubeApi()
    await closed.start()
    const deadUrl = closed.url
    await closed.stop()
    await writeFile(kubeconfigPath, fakeKubeconfig({'k3d-dc-us': apis.us.url, 'k3d-dc-eu': deadUrl}))
    const partial = new CockroachHealthProbe(
      [
        {region: 'us', context: 'k3d-dc-us', kubeconfigPath},
        {region: 'eu', context: 'k3d-dc-eu', kubeconfigPath},
        {region: 'witness', context: 'k3d-dc-witness', kubeconfigPath},
      ],
      {requestTimeoutMs: 300, reconnectDelayMs: 50, maxReconnectDelayMs: 100},
    )
    try {
      await partial.start()
      const {health, nodes} = await partial.sample()
      expect(health.unreachableRegions).to.deep.equal(['eu', 'witness'])
      // the expected StatefulSet pod stands for a region never seen
      expect(nodes.filter((n) => n.region !== 'us').map((n) => n.pod)).to.deep.equal(['cockroachdb-0', 'cockroachdb-0'])
      expect(nodes.find((n) => n.region === 'witness')!.error).to.match(/no context "k3d-dc-witness"/)
      expect(health.groups[0].votersAlive).to.equal(1)
      expect(health.quorumHeld).to.equal(false)
    } finally {
      await partial.stop()
    }
  })
})
