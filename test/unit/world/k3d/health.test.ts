import {expect} from 'chai'
// The k3d world's health through the Kubernetes API (fake API servers with real
// object shapes and CockroachDB's real /_status/vars text): `atlas status`
// reports it, and a blast-radius timeline keeps one probe and samples at least
// once a second while a region's API server hangs (docker pause).
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {HealthSampler} from '../../../../src/lib/chaos/timeline.js'
import {DEFAULT_CONFIG, parseConfigObject} from '../../../../src/lib/config/index.js'
import {formatStatus} from '../../../../src/lib/report/status.js'
import {K3dWorld} from '../../../../src/lib/world/k3d/index.js'
import {withEnv} from '../../../fixtures/k3d/stubs.js'
import {FakeKubeApi, fakeKubeconfig} from '../../../helpers/fake-kube-api.js'

const NS = 'atlas'
const REGIONS = ['us', 'eu', 'witness'] as const
const NODE_FIXTURE = {us: 'n1', eu: 'n2', witness: 'n3'} as const
const NODE_LABELS = {
  'app.kubernetes.io/name': 'cockroachdb',
  'app.kubernetes.io/instance': 'cockroachdb',
  'app.kubernetes.io/component': 'database',
}
const INIT_LABELS = {
  'app.kubernetes.io/name': 'cockroachdb-init',
  'app.kubernetes.io/instance': 'cockroachdb',
  'app.kubernetes.io/component': 'init',
}

describe('k3d world health (fake Kubernetes API servers)', function () {
  this.timeout(30_000)
  let dir: string
  let apis: Record<(typeof REGIONS)[number], FakeKubeApi>
  let world: K3dWorld
  let restore: () => void

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'atlas-k3d-health-'))
    apis = {us: new FakeKubeApi(), eu: new FakeKubeApi(), witness: new FakeKubeApi()}
    for (const region of REGIONS) {
      const api = apis[region]
      await api.start()
      api.addPod({name: 'cockroachdb-0', namespace: NS, labels: NODE_LABELS, nodeName: `k3d-dc-${region}-server-0`})
      const vars = await readFile(
        path.join('test', 'fixtures', 'cockroach', `${NODE_FIXTURE[region]}-healthy.prom`),
        'utf8',
      )
      api.setProxyAnswer(NS, 'cockroachdb-0', 8080, '_status/vars', {status: 200, body: vars})
      api.setProxyAnswer(NS, 'cockroachdb-0', 8080, 'health?ready=1', {
        status: 200,
        body: '{}',
        contentType: 'application/json',
      })
    }

    // the finished init Job's pod stays in the primary region: it is not a node
    apis.us.addPod({
      name: 'cockroachdb-init-x7k2q',
      namespace: NS,
      labels: INIT_LABELS,
      nodeName: 'k3d-dc-us-server-0',
      ready: false,
    })
    const kubeconfig = path.join(dir, 'kubeconfig')
    await writeFile(kubeconfig, fakeKubeconfig(Object.fromEntries(REGIONS.map((r) => [`k3d-dc-${r}`, apis[r].url]))))
    restore = withEnv({KUBECONFIG: kubeconfig})
    world = new K3dWorld(parseConfigObject(DEFAULT_CONFIG), {baseDir: dir})
    // up has completed
    await mkdir(path.dirname(world.layout.stateFile), {recursive: true})
    await writeFile(
      world.layout.stateFile,
      JSON.stringify({version: 1, completed: {'ledger-synced': {fingerprint: 'x'}}}),
    )
  })

  afterEach(async () => {
    await world.close()
    restore()
    for (const region of REGIONS) await apis[region].stop()
    await rm(dir, {recursive: true, force: true})
  })

  it('status reports per region members, leader, ranges and quorum', async () => {
    const status = await world.status()
    expect(status.up).to.equal(true)
    const db = status.health!.groups.find((g) => g.group === 'cockroachdb')!
    expect(db.members.map((m) => `${m.region}/${m.name}/${m.alive}`)).to.deep.equal([
      'us/cockroachdb-0/true',
      'eu/cockroachdb-0/true',
      'witness/cockroachdb-0/true',
    ])
    expect(db.quorumHeld).to.equal(true)
    expect(db.unavailableRanges).to.equal(0)
    expect(K3dWorld.isConverged(status.health!)).to.equal(true)
    const text = formatStatus(status)
    expect(text).to.match(/^k3d world: writable; database leader \w+; quorum held/)
    for (const region of REGIONS)
      expect(text).to.match(new RegExp(`\\n  ${region}\\s+cockroachdb-0 alive\\s+(leader|follower)`))
    expect(text).to.match(
      /cockroachdb: 3\/3 voters alive, quorum held, leader \w+, ranges: 0 unavailable, 0 under-replicated/,
    )
  })

  it('status of a world that is not up samples nothing', async () => {
    await rm(world.layout.stateFile)
    const status = await world.status()
    expect(status).to.deep.include({up: false, health: null})
    for (const region of REGIONS) expect(apis[region].listRequests, region).to.equal(0)
  })

  it("one probe for a whole timeline: a sample at least once a second while a region's API server hangs", async () => {
    await world.health()
    apis.eu.freeze() // docker pause of dc-eu: its API server accepts and never answers
    const sampler = new HealthSampler(world, 250)
    await new Promise((r) => setTimeout(r, 4000))
    const points = await sampler.stop()
    expect(points.length, 'samples in 4 s').to.be.at.least(4)
    const gaps = points.slice(1).map((p, i) => Date.parse(p.at) - Date.parse(points[i].at))
    expect(Math.max(...gaps), 'longest gap between samples (ms)').to.be.below(1000)
    // eu is reported as out of reach, the others as they are
    const last = points[points.length - 1]
    expect(last.unreachableRegions).to.deep.equal(['eu'])
    // the pod watches were started once, not per sample
    for (const region of ['us', 'witness'] as const)
      expect(apis[region].listRequests, `${region} pod lists`).to.equal(1)
  })
})
