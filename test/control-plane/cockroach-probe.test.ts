// The CockroachDB health probe (src/lib/health/cockroach.ts) against the real API
// servers: it watches the real StatefulSet pods (scheduled, run and made Ready by the
// control plane and kwok) and reads each node's HTTP port through the API server's
// pod proxy. Only CockroachDB's HTTP answers are a fake, fed with the real
// /_status/vars text of test/fixtures/cockroach.
import {expect} from 'chai'

import {primaryRegion} from '../../src/lib/config/regions.js'
import {ATLAS_NAMESPACE} from '../../src/lib/gitops/topology.js'
import {CockroachHealthProbe, type CockroachRegionTarget, type CockroachSample} from '../../src/lib/health/cockroach.js'
import {
  CONFIG,
  deployRegion,
  FakeCockroachNode,
  fakeNodeTls,
  getObject,
  podReady,
  until,
} from '../helpers/control-plane-world.js'
import {type ControlPlane, controlPlaneOrSkip} from '../helpers/control-plane.js'

const REGIONS = ['us', 'eu', 'witness'] as const
type RegionName = (typeof REGIONS)[number]
const NODE_FIXTURE: Record<RegionName, string> = {us: 'n1', eu: 'n2', witness: 'n3'}

describe('control plane: CockroachDB health probe on real pods', function () {
  this.timeout(120_000)
  let plane: ControlPlane
  let probe: CockroachHealthProbe
  const nodes = {} as Record<RegionName, FakeCockroachNode>

  const member = (sample: CockroachSample, region: string, name = 'cockroachdb-0') => {
    const m = sample.health.groups[0].members.find((x) => x.region === region && x.name === name)
    if (!m)
      throw new Error(
        `no member ${region}/${name} in ${JSON.stringify(sample.health.groups[0].members.map((x) => `${x.region}/${x.name}`))}`,
      )
    return m
  }

  /** The readiness probe of eu's pod fails (or passes again): kwok, as the kubelet, reports it. */
  const setReady = (region: RegionName, ready: boolean) =>
    plane.kubectl(plane.cluster(region).context, [
      'annotate',
      '--overwrite',
      'pod',
      'cockroachdb-0',
      '-n',
      ATLAS_NAMESPACE,
      ready ? 'atlas.dev/readiness-' : 'atlas.dev/readiness=failing',
    ])
  const healthyFixtures = () => {
    for (const region of REGIONS) {
      nodes[region].ready = true
      nodes[region].vars = FakeCockroachNode.fixture(`${NODE_FIXTURE[region]}-healthy`)
    }
  }

  before(async function () {
    plane = await controlPlaneOrSkip(this)
    this.timeout(600_000)
    for (const region of REGIONS) await deployRegion(plane, region)
    for (const region of REGIONS) {
      await until(
        `${region}: cockroachdb-0 Ready`,
        async () => podReady(await getObject(plane, region, ['pod', 'cockroachdb-0', '-n', ATLAS_NAMESPACE])),
        // kwok marks the pod Ready within a second on a quiet machine; on 2 cores shared with other worlds it took over 90 s
        180_000,
      )
    }

    const tls = fakeNodeTls(plane)
    for (const region of REGIONS) {
      nodes[region] = new FakeCockroachNode(plane.podAddress, `${NODE_FIXTURE[region]}-healthy`, tls)
      await nodes[region].start()
    }

    // one CockroachDB node per region, each answering on its own port of the pods' address
    const targets: CockroachRegionTarget[] = REGIONS.map((region) => ({
      region,
      context: plane.cluster(region).context,
      kubeconfigPath: plane.kubeconfig,
      scheme: 'https',
      httpPort: nodes[region].port,
    }))
    probe = new CockroachHealthProbe(targets, {
      requestTimeoutMs: 2000,
      reconnectDelayMs: 100,
      maxReconnectDelayMs: 1000,
      watchIdleMs: 15_000,
    })
    await probe.start()
  })

  after(async () => {
    await probe?.stop()
    for (const region of REGIONS) await nodes[region]?.stop()
  })

  afterEach(() => healthyFixtures())

  it('sees every region healthy through the API servers: pods Ready on their nodes, quorum, leader us', async () => {
    const sample = await probe.sample()
    const group = sample.health.groups[0]
    expect(group.members.map((m) => `${m.region}/${m.name}`)).to.deep.equal([
      'us/cockroachdb-0',
      'eu/cockroachdb-0',
      'witness/cockroachdb-0',
    ])
    for (const region of REGIONS) {
      const m = member(sample, region)
      expect(m.alive, region).to.equal(true)
      expect(m.reachable, region).to.equal(true)
      expect(m.detail?.podReady, region).to.equal(true)
      expect(m.detail?.podPhase, region).to.equal('Running')
      expect(m.detail?.kubeNode, region).to.equal(plane.cluster(region).nodeName)
      // the node's answers came through the real API server's pod proxy
      expect(nodes[region].requests).to.include.members(['/health?ready=1', '/_status/vars'])
    }

    expect(sample.health.quorumHeld).to.equal(true)
    expect(sample.health.leaderRegion).to.equal('us')
    expect(group.unavailableRanges).to.equal(0)
  })

  it("follows a pod from Ready to NotReady and back (the kubelet's readiness, as kwok reports it)", async () => {
    const watcher = probe.watchers().eu!
    await setReady('eu', false)
    nodes.eu.ready = false
    nodes.us.vars = FakeCockroachNode.fixture('n1-eu-down')
    nodes.witness.vars = FakeCockroachNode.fixture('n3-eu-down')
    await until(
      'the watch sees eu/cockroachdb-0 NotReady',
      () => watcher.pods().some((p) => p.name === 'cockroachdb-0' && !p.ready),
      10_000,
      50,
    )
    const down = await probe.sample()
    const eu = member(down, 'eu')
    expect(eu.detail?.podReady).to.equal(false)
    expect(eu.alive).to.equal(false)
    // the API server answered for it: the region is reachable, its node is not healthy
    expect(eu.reachable).to.equal(true)
    expect(down.health.unreachableRegions).to.deep.equal([])
    expect(down.health.quorumHeld).to.equal(true)
    expect(down.health.groups[0].underReplicatedRanges).to.be.greaterThan(0)

    await setReady('eu', true)
    nodes.eu.ready = true
    await until(
      'the watch sees eu/cockroachdb-0 Ready again',
      () => watcher.pods().some((p) => p.name === 'cockroachdb-0' && p.ready),
      10_000,
      50,
    )
  })

  it('follows a pod deleted and recreated by its StatefulSet (new pod, Ready again)', async () => {
    const watcher = probe.watchers().eu!
    const old = await getObject(plane, 'eu', ['pod', 'cockroachdb-0', '-n', ATLAS_NAMESPACE])
    await plane.kubectl(plane.cluster('eu').context, [
      'delete',
      'pod',
      'cockroachdb-0',
      '-n',
      ATLAS_NAMESPACE,
      '--wait=false',
    ])
    const fresh = await until(
      'a new eu/cockroachdb-0 is Ready',
      async () => {
        const p = await getObject(plane, 'eu', ['pod', 'cockroachdb-0', '-n', ATLAS_NAMESPACE])
        return p && p.metadata.uid !== old.metadata.uid && podReady(p) ? p : undefined
      },
      60_000,
    )
    // the watch followed (no relist needed): it holds the new pod's version
    await until(
      'the watch has the new pod',
      () =>
        watcher
          .pods()
          .some(
            (p) =>
              p.name === 'cockroachdb-0' &&
              p.ready &&
              Number(p.resourceVersion) >= Number(fresh.metadata.resourceVersion),
          ),
      10_000,
      50,
    )
    expect(Number(fresh.metadata.resourceVersion)).to.be.greaterThan(Number(old.metadata.resourceVersion))
    const sample = await probe.sample()
    expect(member(sample, 'eu').alive).to.equal(true)
    expect(member(sample, 'eu').detail?.podReady).to.equal(true)
  })

  it('reports a region whose API server is gone as unreachable, and recovers when it is back', async () => {
    const witness = plane.cluster('witness')
    const watcher = probe.watchers().witness!
    const watchesBefore = watcher.watchesStarted
    await witness.signal('kube-apiserver', 'SIGKILL')
    try {
      nodes.us.vars = FakeCockroachNode.fixture('n1-healthy')
      const sample = await probe.sample()
      const m = member(sample, 'witness')
      expect(m.reachable).to.equal(false)
      expect(m.alive).to.equal(false)
      expect(sample.health.unreachableRegions).to.deep.equal(['witness'])
      // two of three regions: quorum holds
      expect(sample.health.quorumHeld).to.equal(true)
      expect(member(sample, 'us').alive).to.equal(true)
      await until(
        'the witness watch notices',
        () => watcher.lastError !== undefined || watcher.connection === 'reconnecting',
        20_000,
        50,
      )
    } finally {
      await witness.restart('kube-apiserver')
    }

    await until(
      'the witness watch is back',
      () =>
        watcher.watchesStarted > watchesBefore && watcher.connection === 'watching' && watcher.lastError === undefined,
      30_000,
      100,
    )
    const back = await probe.sample()
    expect(member(back, 'witness').reachable).to.equal(true)
    expect(member(back, 'witness').alive).to.equal(true)
    expect(back.health.unreachableRegions).to.deep.equal([])
  })

  it('does not count the completed init Job pod as a CockroachDB node', async () => {
    const primary = primaryRegion(CONFIG).name
    const pods = JSON.parse(
      (
        await plane.kubectl(plane.cluster(primary).context, [
          'get',
          'pods',
          '-n',
          ATLAS_NAMESPACE,
          '-l',
          'job-name=cockroachdb-init',
          '-o',
          'json',
        ])
      ).stdout,
    ).items as any[]
    const jobPod = pods[0]
    expect(jobPod, 'the init Job ran a pod').to.exist
    expect(jobPod.status.phase).to.equal('Succeeded')
    const sample = await probe.sample()
    const names = sample.health.groups[0].members.filter((m) => m.region === primary).map((m) => m.name)
    expect(names).to.deep.equal(['cockroachdb-0'])
    expect(sample.health.groups[0].voters).to.equal(3)
  })
})
