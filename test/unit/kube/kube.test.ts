import {expect} from 'chai'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {
  KubeConfigError,
  kubeGet,
  KubeUnreachableError,
  loadKubeConfig,
  podProxyPath,
  podState,
  PodWatcher,
} from '../../../src/lib/kube/index.js'
import {FakeKubeApi, fakeKubeconfig} from '../../helpers/fake-kube-api.js'

describe('Kubernetes access: kubeconfig, requests, pod proxy paths, pod watch', function () {
  this.timeout(20_000)
  let dir: string
  let api: FakeKubeApi
  let kubeconfigPath: string

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'atlas-kube-'))
    api = new FakeKubeApi()
    await api.start()
    kubeconfigPath = path.join(dir, 'kubeconfig')
    await writeFile(kubeconfigPath, fakeKubeconfig({'k3d-dc-us': api.url}))
  })

  afterEach(async () => {
    await api.stop()
    await rm(dir, {recursive: true, force: true})
  })

  it('a watcher given an option as undefined keeps its default: one list and one watch, not a list per turn', async () => {
    api.addPod({
      name: 'cockroachdb-0',
      namespace: 'atlas',
      labels: {'app.kubernetes.io/name': 'cockroachdb'},
      nodeName: 'k3d-dc-us-server-0',
    })
    const kc = await loadKubeConfig({context: 'k3d-dc-us', kubeconfigPath})
    // what CockroachHealthProbe passes when its own options leave them out
    const watcher = new PodWatcher(kc, {
      namespace: 'atlas',
      labelSelector: 'app.kubernetes.io/name=cockroachdb',
      watchIdleMs: undefined,
      reconnectDelayMs: undefined,
      requestTimeoutMs: undefined,
    })
    await watcher.start()
    await new Promise((r) => setTimeout(r, 500))
    await watcher.stop()
    expect(api.listRequests).to.equal(1)
    expect(api.watchRequests).to.equal(1)
  })

  it('a watcher stopped between its list and its watch stops at once (it used to open the watch and wait out its idle timeout)', async () => {
    api.addPod({
      name: 'cockroachdb-0',
      namespace: 'atlas',
      labels: {'app.kubernetes.io/name': 'cockroachdb'},
      nodeName: 'n0',
    })
    const kc = await loadKubeConfig({context: 'k3d-dc-us', kubeconfigPath})
    let stopping: Promise<void> | undefined
    // onChange runs inside the list, before the watch opens: the window a stop() used to fall into
    const watcher: PodWatcher = new PodWatcher(kc, {
      namespace: 'atlas',
      labelSelector: 'app.kubernetes.io/name=cockroachdb',
      onChange: () => (stopping ??= watcher.stop()),
    })
    await watcher.start()
    const stopped = await Promise.race([
      stopping!.then(() => 'stopped'),
      new Promise((r) => setTimeout(() => r('still running after 3 s'), 3000)),
    ])
    expect(stopped).to.equal('stopped')
    expect(watcher.connection).to.equal('stopped')
    expect(api.watchRequests).to.equal(0)
  })

  it('builds the API server proxy path of a pod port, with https: for TLS ports', () => {
    expect(podProxyPath('atlas', 'cockroachdb-0', 8080, '_status/vars')).to.equal(
      '/api/v1/namespaces/atlas/pods/cockroachdb-0:8080/proxy/_status/vars',
    )
    expect(podProxyPath('atlas', 'cockroachdb-0', 8080, '/health?ready=1', 'https')).to.equal(
      '/api/v1/namespaces/atlas/pods/https:cockroachdb-0:8080/proxy/health?ready=1',
    )
  })

  it('reads pod readiness, restarts and node from a v1 Pod', () => {
    const pod = api.addPod({
      name: 'cockroachdb-1',
      namespace: 'atlas',
      labels: {},
      nodeName: 'k3d-dc-eu-server-0',
      ready: false,
      podIP: '10.52.0.4',
    })
    pod.status.containerStatuses[0].restartCount = 2
    expect(podState(pod)).to.deep.include({
      name: 'cockroachdb-1',
      ready: false,
      restarts: 2,
      nodeName: 'k3d-dc-eu-server-0',
      podIP: '10.52.0.4',
      phase: 'Running',
    })
    expect(
      podState({
        ...pod,
        metadata: {...pod.metadata, deletionTimestamp: '2026-01-01T00:00:00Z'},
        status: {...pod.status, conditions: [{type: 'Ready', status: 'True'}]},
      }).ready,
    ).to.equal(false)
  })

  it('loads a context from a kubeconfig file and refuses an unknown one', async () => {
    const kc = await loadKubeConfig({context: 'k3d-dc-us', kubeconfigPath})
    expect(kc.getCurrentCluster()?.server).to.equal(api.url)
    let error: unknown
    try {
      await loadKubeConfig({context: 'k3d-dc-mars', kubeconfigPath})
    } catch (error_) {
      error = error_
    }

    expect(error).to.be.instanceOf(KubeConfigError)
    expect((error as Error).message).to.include('no context "k3d-dc-mars"')
  })

  it('kubeGet returns HTTP answers and throws KubeUnreachableError for refused or silent servers', async () => {
    const kc = await loadKubeConfig({context: 'k3d-dc-us', kubeconfigPath})
    const missing = await kubeGet(kc, '/api/v1/namespaces/atlas/pods/nope:8080/proxy/health', {timeoutMs: 1000})
    expect(missing.status).to.equal(404)
    expect(JSON.parse(missing.body)).to.include({kind: 'Status', code: 404})
    api.freeze()
    const started = Date.now()
    let silent: unknown
    try {
      await kubeGet(kc, '/api/v1/namespaces/atlas/pods', {timeoutMs: 200})
    } catch (error) {
      silent = error
    }

    expect(silent).to.be.instanceOf(KubeUnreachableError)
    expect((silent as KubeUnreachableError).code).to.equal('ETIMEDOUT')
    expect(Date.now() - started).to.be.lessThan(1000)
    await api.stop()
    let refused: unknown
    try {
      await kubeGet(kc, '/api/v1/namespaces/atlas/pods', {timeoutMs: 1000})
    } catch (error) {
      refused = error
    }

    expect(refused).to.be.instanceOf(KubeUnreachableError)
    expect((refused as KubeUnreachableError).code).to.equal('ECONNREFUSED')
  })

  it('the pod watcher follows adds, changes and deletes, and survives the API server going away and back', async () => {
    const kc = await loadKubeConfig({context: 'k3d-dc-us', kubeconfigPath})
    const labels = {'app.kubernetes.io/name': 'cockroachdb'}
    api.addPod({name: 'cockroachdb-0', namespace: 'atlas', labels, nodeName: 'n0'})
    const watcher = new PodWatcher(kc, {
      namespace: 'atlas',
      labelSelector: 'app.kubernetes.io/name=cockroachdb',
      requestTimeoutMs: 300,
      reconnectDelayMs: 20,
      maxReconnectDelayMs: 100,
    })
    const until = async (what: string, check: () => boolean) => {
      const deadline = Date.now() + 5000
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
        await new Promise((r) => setTimeout(r, 15))
      }
    }

    try {
      await watcher.start()
      expect(watcher.pods().map((p) => p.name)).to.deep.equal(['cockroachdb-0'])
      await until('watching', () => api.openWatches() === 1)
      api.addPod({name: 'cockroachdb-1', namespace: 'atlas', labels, nodeName: 'n1'})
      api.addPod({name: 'other', namespace: 'atlas', labels: {app: 'x'}, nodeName: 'n1'})
      await until('the added pod', () => watcher.pods().length === 2)
      api.deletePod('atlas', 'cockroachdb-1')
      await until('the deletion', () => watcher.pods().length === 1)

      await api.stop()
      await until('the failure is noticed', () => watcher.lastError !== undefined)
      // what it knew stays visible while the server is away
      expect(watcher.pods().map((p) => p.name)).to.deep.equal(['cockroachdb-0'])
      await api.restart()
      api.setPodReady('atlas', 'cockroachdb-0', false)
      await until(
        'the relist after the restart',
        () => watcher.pods()[0].ready === false && watcher.lastError === undefined,
      )
      // and a new watch after it (the list comes first, so wait for the watch itself)
      await until('a new watch', () => watcher.watchesStarted >= 2 && api.openWatches() === 1)
    } finally {
      await watcher.stop()
    }

    expect(watcher.connection).to.equal('stopped')
  })
})
