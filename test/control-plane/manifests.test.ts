// Every workload `atlas render` describes, templated per region as Argo CD would and
// applied server-side into that region's real API server: admission (Pod Security
// `restricted` on the atlas namespace) accepts it, the controllers create the pods,
// the scheduler binds them and their volumes, kwok (the simulated kubelet) runs them.
import {expect} from 'chai'

import {primaryRegion} from '../../src/lib/config/regions.js'
import {ATLAS_NAMESPACE} from '../../src/lib/gitops/topology.js'
import {
  type Applied,
  applyObjects,
  chartsOf,
  CONFIG,
  deployRegion,
  FIELD_MANAGER,
  getObject,
  podReady,
  templateChart,
  until,
} from '../helpers/control-plane-world.js'
import {type ControlPlane, controlPlaneOrSkip} from '../helpers/control-plane.js'

const REGIONS = CONFIG.regions.map((r) => r.name)

describe('control plane: the rendered manifests of every region, applied server-side', function () {
  // kwok marks pods Ready within a second on a quiet machine; on 2 cores shared with other worlds it took over 90 s
  this.timeout(600_000)
  let plane: ControlPlane
  const applied: Record<string, Applied> = {}

  before(async function () {
    plane = await controlPlaneOrSkip(this)
    this.timeout(180_000)
    for (const region of REGIONS) applied[region] = await deployRegion(plane, region)
  })

  it('applies every object of every chart of every region, owned by the atlas field manager', async () => {
    for (const region of REGIONS) {
      const kinds = applied[region].objects.map((o) => `${o.kind}/${o.metadata.name}`)
      expect(kinds, region).to.include.members([
        'StatefulSet/cockroachdb',
        'Service/cockroachdb',
        'Service/cockroachdb-public',
        'PodDisruptionBudget/cockroachdb',
      ])
      if (chartsOf(region).includes('ledger'))
        expect(kinds, region).to.include.members(['Deployment/ledger', 'Service/ledger'])
      for (const object of applied[region].objects) {
        const live = await getObject(plane, region, [
          object.kind.toLowerCase(),
          object.metadata.name,
          '-n',
          ATLAS_NAMESPACE,
          '--show-managed-fields',
        ])
        expect(live, `${region}: ${object.kind}/${object.metadata.name}`).to.exist
        const managers = (live.metadata.managedFields as Array<{manager: string; operation: string}>)
          .filter((m) => m.operation === 'Apply')
          .map((m) => m.manager)
        expect(managers, `${region}: ${object.kind}/${object.metadata.name}`).to.include(FIELD_MANAGER)
      }
    }
  })

  it('accepts the NetworkPolicies and ServiceAccounts of every chart; no pod carries an API token', async () => {
    for (const region of REGIONS) {
      const policies = JSON.parse(
        (
          await plane.kubectl(plane.cluster(region).context, [
            'get',
            'networkpolicies',
            '-n',
            ATLAS_NAMESPACE,
            '-o',
            'json',
          ])
        ).stdout,
      ).items as any[]
      const names = policies.map((p) => p.metadata.name).sort()
      expect(names, region).to.include.members(['allow-dns', 'cockroachdb', 'cockroachdb-clients', 'default-deny'])
      if (chartsOf(region).includes('ledger')) expect(names, region).to.include('ledger')
      // the API server kept what was sent: default deny for every pod, both directions
      const deny = policies.find((p) => p.metadata.name === 'default-deny')
      expect(deny.spec).to.deep.equal({podSelector: {}, policyTypes: ['Ingress', 'Egress']})
      const pods = JSON.parse(
        (await plane.kubectl(plane.cluster(region).context, ['get', 'pods', '-n', ATLAS_NAMESPACE, '-o', 'json']))
          .stdout,
      ).items as any[]
      expect(pods.length, region).to.be.greaterThan(0)
      for (const pod of pods) {
        expect(pod.spec.serviceAccountName, `${region}: ${pod.metadata.name}`).to.not.equal('default')
        // the service-account admission plugin adds a kube-api-access volume to pods that mount a token
        expect(
          pod.spec.volumes.map((v: any) => v.name).filter((n: string) => n.startsWith('kube-api-access')),
          `${region}: ${pod.metadata.name}`,
        ).to.deep.equal([])
      }
    }
  })

  it('passes Pod Security `restricted`, which the atlas namespace enforces', async () => {
    for (const region of REGIONS) {
      const ns = await getObject(plane, region, ['namespace', ATLAS_NAMESPACE])
      expect(ns.metadata.labels['pod-security.kubernetes.io/enforce'], region).to.equal('restricted')
      // the API server warns about a workload whose pod template would be refused
      expect(
        applied[region].warnings.filter((w) => /PodSecurity/.test(w)),
        region,
      ).to.deep.equal([])
    }

    // and the enforcement is real: a pod that breaks the profile is refused
    const bad = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {name: 'privileged-probe', namespace: ATLAS_NAMESPACE},
      spec: {containers: [{name: 'c', image: 'registry.invalid/x:1', securityContext: {privileged: true}}]},
    }
    const result = await plane.kubectl(
      plane.cluster('us').context,
      ['apply', '--server-side', '--field-manager=atlas-test', '-f', '-'],
      {input: JSON.stringify(bad), reject: false},
    )
    expect(result.exitCode).to.not.equal(0)
    expect(result.stderr).to.match(/violates PodSecurity "restricted:latest"/)
  })

  it('runs the CockroachDB StatefulSet of every region: pod created, volume bound, Running and Ready', async () => {
    for (const region of REGIONS) {
      const sts = await until(
        `${region}: StatefulSet ready`,
        async () => {
          const s = await getObject(plane, region, ['statefulset', 'cockroachdb', '-n', ATLAS_NAMESPACE])
          return s && s.status?.readyReplicas === s.spec.replicas && s.status?.availableReplicas === s.spec.replicas
            ? s
            : undefined
        },
        180_000,
      )
      const replicas = sts.spec.replicas as number
      expect(replicas, region).to.be.greaterThan(0)
      for (let i = 0; i < replicas; i++) {
        const pod = await getObject(plane, region, ['pod', `cockroachdb-${i}`, '-n', ATLAS_NAMESPACE])
        expect(podReady(pod), `${region}: cockroachdb-${i} Ready`).to.equal(true)
        expect(pod.spec.nodeName).to.equal(plane.cluster(region).nodeName)
        // the region's locality, as the chart renders it for this region
        const region_ = CONFIG.regions.find((r) => r.name === region)!
        expect(pod.spec.containers[0].command.join(' ')).to.include(`--locality=region=${region_.awsRegion}`)
        const pvc = await getObject(plane, region, ['pvc', `datadir-cockroachdb-${i}`, '-n', ATLAS_NAMESPACE])
        expect(pvc.status.phase, `${region}: datadir-cockroachdb-${i}`).to.equal('Bound')
        expect(pvc.spec.storageClassName).to.equal('local-path')
      }
    }
  })

  it('completes the init Job of the primary region (its pod Succeeded); no other region has one', async () => {
    const primary = primaryRegion(CONFIG).name
    const job = await until(
      'the init Job completes',
      async () => {
        const j = await getObject(plane, primary, ['job', 'cockroachdb-init', '-n', ATLAS_NAMESPACE])
        return j?.status?.conditions?.some((c: any) => c.type === 'Complete' && c.status === 'True') ? j : undefined
      },
      180_000,
    )
    expect(job.status.succeeded).to.equal(1)
    const pods = JSON.parse(
      (
        await plane.kubectl(plane.cluster(primary).context, [
          'get',
          'pods',
          '-n',
          ATLAS_NAMESPACE,
          '-l',
          `job-name=cockroachdb-init`,
          '-o',
          'json',
        ])
      ).stdout,
    ).items as any[]
    expect(pods.map((p) => p.status.phase)).to.include('Succeeded')
    for (const region of REGIONS.filter((r) => r !== primary)) {
      expect(
        applied[region].objects.some((o) => o.kind === 'Job'),
        region,
      ).to.equal(false)
    }
  })

  it('rolls out the ledger service in every data region', async () => {
    for (const region of REGIONS.filter((r) => chartsOf(r).includes('ledger'))) {
      await plane.kubectl(
        plane.cluster(region).context,
        ['rollout', 'status', 'deployment/ledger', '-n', ATLAS_NAMESPACE, '--timeout=180s'],
        {timeoutMs: 190_000},
      )
      const endpoints = await getObject(plane, region, ['endpoints', 'ledger', '-n', ATLAS_NAMESPACE])
      // the endpoints controller saw a Ready pod behind the Service
      expect(endpoints.subsets?.[0]?.addresses?.length ?? 0, region).to.be.greaterThan(0)
    }
  })

  it('re-applying the same manifests changes nothing (server-side apply is idempotent)', async () => {
    for (const region of REGIONS) {
      const objects = (await Promise.all(chartsOf(region).map((chart) => templateChart(chart, region)))).flat()
      const before = await getObject(plane, region, ['statefulset', 'cockroachdb', '-n', ATLAS_NAMESPACE])
      const again = await applyObjects(plane, region, objects, {namespace: ATLAS_NAMESPACE})
      expect(again.stdout).to.match(/serverside-applied/)
      const after = await getObject(plane, region, ['statefulset', 'cockroachdb', '-n', ATLAS_NAMESPACE])
      expect(after.metadata.generation, region).to.equal(before.metadata.generation)
    }
  })
})
