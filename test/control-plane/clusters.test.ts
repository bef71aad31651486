// The three clusters themselves: built from source at the pinned Kubernetes version,
// reachable only with a client certificate, named as the k3d world names them, each
// with one simulated node carrying the region labels the charts schedule by.
import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import https from 'node:https'
import path from 'node:path'

import {k3dTopology} from '../../src/lib/gitops/topology.js'
import {loadKubeConfig} from '../../src/lib/kube/config.js'
import {kubeGet} from '../../src/lib/kube/request.js'
import {CONFIG} from '../helpers/control-plane-world.js'
import {type ControlPlane, controlPlaneOrSkip} from '../helpers/control-plane.js'

/** The Kubernetes version the k3d world runs (k3s image pin), as major.minor. */
const K3S_MINOR = /rancher\/k3s:v(\d+\.\d+)\./

describe('control plane: three clusters from source', function () {
  this.timeout(120_000)
  let plane: ControlPlane

  before(async function () {
    plane = await controlPlaneOrSkip(this)
    const memory = await plane.memoryMiB()
    console.log(
      `      (control plane up in ${plane.startSeconds.toFixed(1)} s; ${memory.total.toFixed(0)} MiB resident: ${Object.entries(
        memory.byComponent,
      )
        .map(([k, v]) => `${k} ${v.toFixed(0)}`)
        .join(', ')})`,
    )
  })

  it('serves the Kubernetes minor the k3d world runs (the k3s image pin)', async () => {
    const pin = readFileSync(path.join('src', 'lib', 'gitops', 'context.ts'), 'utf8')
    const minor = K3S_MINOR.exec(pin)?.[1]
    expect(minor, 'k3d image pin in src/lib/gitops/context.ts').to.be.a('string')
    for (const c of plane.clusters) {
      const {stdout} = await plane.kubectl(c.context, ['get', '--raw', '/version'])
      const version = JSON.parse(stdout) as {gitVersion: string; major: string; minor: string}
      expect(`${version.major}.${version.minor}`, c.name).to.equal(minor)
      expect(version.gitVersion).to.match(/^v1\.\d+\.\d+$/)
    }
  })

  it('names clusters and contexts as the k3d world does, one API server each', async () => {
    const topology = k3dTopology(CONFIG)
    expect(plane.clusters.map((c) => c.context)).to.deep.equal(topology.regions.map((r) => r.context))
    expect(plane.clusters.map((c) => c.context)).to.deep.equal(['k3d-dc-us', 'k3d-dc-eu', 'k3d-dc-witness'])
    expect(new Set(plane.clusters.map((c) => c.apiPort)).size).to.equal(3)
    // the library Atlas uses reads the same kubeconfig
    for (const c of plane.clusters) {
      const kc = await loadKubeConfig({context: c.context, kubeconfigPath: plane.kubeconfig})
      const res = await kubeGet(kc, '/api/v1/namespaces/kube-system')
      expect(res.status, c.name).to.equal(200)
    }
  })

  it('serves TLS and accepts only clients with a certificate of its own CA', async () => {
    const c = plane.cluster('us')
    const ca = readFileSync(path.join(c.dir, 'pki', 'ca.crt'))
    const get = (options: https.RequestOptions) =>
      new Promise<number>((resolve, reject) => {
        https
          .get(`${c.server}/api/v1/namespaces`, {...options, ca}, (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          })
          .on('error', reject)
      })
    // anonymous: no identity, no access
    expect(await get({})).to.be.oneOf([401, 403])
    // another cluster's admin certificate is not trusted here
    const eu = plane.cluster('eu')
    const foreign = {
      cert: readFileSync(path.join(eu.dir, 'pki', 'admin.crt')),
      key: readFileSync(path.join(eu.dir, 'pki', 'admin.key')),
    }
    expect(await get(foreign)).to.equal(401)
    const own = {
      cert: readFileSync(path.join(c.dir, 'pki', 'admin.crt')),
      key: readFileSync(path.join(c.dir, 'pki', 'admin.key')),
    }
    expect(await get(own)).to.equal(200)
  })

  it('has one Ready simulated node per cluster, labelled with its region', async () => {
    for (const c of plane.clusters) {
      const {stdout} = await plane.kubectl(c.context, ['get', 'nodes', '-o', 'json'])
      const nodes = JSON.parse(stdout).items as any[]
      expect(
        nodes.map((n) => n.metadata.name),
        c.name,
      ).to.deep.equal([`k3d-${c.name}-server-0`])
      const [node] = nodes
      expect(node.metadata.labels['atlas.dev/region']).to.equal(c.region)
      expect(node.metadata.labels['topology.kubernetes.io/region']).to.equal(
        CONFIG.regions.find((r) => r.name === c.region)!.awsRegion,
      )
      expect(node.status.conditions.find((x: any) => x.type === 'Ready').status).to.equal('True')
      // kwok renews the node's lease, as a kubelet does
      const lease = JSON.parse(
        (await plane.kubectl(c.context, ['get', 'lease', '-n', 'kube-node-lease', node.metadata.name, '-o', 'json']))
          .stdout,
      )
      expect(Date.now() - Date.parse(lease.spec.renewTime), `${c.name}: lease renewed lately`).to.be.lessThan(60_000)
    }
  })

  it('runs its controllers: a Deployment gets a ReplicaSet, a scheduled pod, Ready', async () => {
    const c = plane.cluster('witness')
    const name = `smoke-${process.pid}`
    await plane.kubectl(c.context, ['create', 'deployment', name, '--image=registry.invalid/smoke:1', '-n', 'default'])
    try {
      await plane.kubectl(c.context, ['rollout', 'status', `deployment/${name}`, '-n', 'default', '--timeout=60s'], {
        timeoutMs: 70_000,
      })
      const pods = JSON.parse(
        (await plane.kubectl(c.context, ['get', 'pods', '-n', 'default', '-l', `app=${name}`, '-o', 'json'])).stdout,
      ).items as any[]
      expect(pods).to.have.length(1)
      expect(pods[0].spec.nodeName).to.equal(c.nodeName)
      expect(pods[0].status.podIP).to.equal(plane.podAddress)
      // the service-account admission and token controller: the pod got a projected token volume
      expect(pods[0].spec.volumes.some((v: any) => v.projected)).to.equal(true)
      // marked NotReady by someone else (the node lifecycle controller does it when a node's
      // lease lapses), the simulated kubelet reports the running pod Ready again
      const pod = pods[0].metadata.name
      const patched = await plane.kubectl(c.context, [
        'patch',
        'pod',
        pod,
        '-n',
        'default',
        '--subresource=status',
        '--type=strategic',
        '-o',
        'json',
        '-p',
        JSON.stringify({status: {conditions: [{type: 'Ready', status: 'False'}]}}),
      ])
      expect(JSON.parse(patched.stdout).status.conditions.find((x: any) => x.type === 'Ready').status).to.equal('False')
      await plane.kubectl(
        c.context,
        ['wait', '--for=condition=Ready', `pod/${pod}`, '-n', 'default', '--timeout=30s'],
        {timeoutMs: 40_000},
      )
    } finally {
      await plane.kubectl(c.context, ['delete', 'deployment', name, '-n', 'default', '--wait=true'], {reject: false})
    }
  })

  it('stays within its memory budget (three clusters under 4 GiB)', async () => {
    const memory = await plane.memoryMiB()
    expect(memory.total).to.be.lessThan(4096)
    for (const c of plane.clusters)
      expect(Object.keys(c.pids).sort()).to.deep.equal([
        'etcd',
        'kube-apiserver',
        'kube-controller-manager',
        'kube-scheduler',
        'kwok',
      ])
  })
})
