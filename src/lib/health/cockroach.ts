import type {KubeConfig} from '@kubernetes/client-node'

import type {AtlasConfig} from '../config/schema.js'

import {ATLAS_NAMESPACE, k3dTopology} from '../gitops/topology.js'
import {type KubeTarget, loadKubeConfig} from '../kube/config.js'
import {type PodState, PodWatcher} from '../kube/pods.js'
import {kubeGet, KubeUnreachableError, podProxyPath} from '../kube/request.js'
import {type CockroachNodeVars, parseCockroachVars} from './cockroach-metrics.js'
import {clusterHealth, type ClusterHealth, groupHealth, type MemberHealth} from './model.js'

/**
 * CockroachDB health through the Kubernetes API of every region's cluster: a
 * pod watch per region (ready, restarts, node) and, per sample, each node's
 * /_status/vars and /health?ready=1 through the API server's pod proxy. A
 * region whose API server is gone is reported unreachable; it never fails a sample.
 */
export const COCKROACH_GROUP = 'cockroachdb'

export interface CockroachRegionTarget extends KubeTarget {
  /** pods the region should have (cockroachdb-0 … N-1): shown even when never seen */
  expectedReplicas?: number
  /** CockroachDB's HTTP port */
  httpPort?: number
  labelSelector?: string
  namespace?: string
  region: string
  /** https in secure mode (the API server then proxies with TLS) */
  scheme?: 'http' | 'https'
  /** StatefulSet name; pods are NAME-0 … */
  statefulSet?: string
}

export interface CockroachProbeOptions {
  /** for tests: a KubeConfig per target instead of reading kubeconfig files */
  kubeConfigFor?: (target: CockroachRegionTarget) => Promise<KubeConfig>
  maxReconnectDelayMs?: number
  reconnectDelayMs?: number
  /** deadline of each API request (list, proxy) */
  requestTimeoutMs?: number
  watchIdleMs?: number
  watchTimeoutSeconds?: number
}

/** One node as read in one sample. */
export interface CockroachNodeSample {
  /** the API server answered the proxy request (whatever the node said) */
  apiReachable: boolean
  error?: string
  pod: string
  podStatus?: PodState
  /** HTTP status of /health?ready=1 through the proxy (503: not ready or not reachable by the API server) */
  readyStatus: null | number
  region: string
  vars: CockroachNodeVars | null
}

export interface CockroachSample {
  health: ClusterHealth
  nodes: CockroachNodeSample[]
}

/**
 * The StatefulSet's pods only (charts/cockroachdb "cockroachdb.nodeSelectorLabels"):
 * the finished pod of the init Job is not a node.
 */
export const COCKROACH_NODE_SELECTOR = 'app.kubernetes.io/name=cockroachdb,app.kubernetes.io/component=database'

const DEFAULTS = {
  namespace: ATLAS_NAMESPACE,
  labelSelector: COCKROACH_NODE_SELECTOR,
  httpPort: 8080,
  scheme: 'https' as const,
  expectedReplicas: 1,
  statefulSet: 'cockroachdb',
}

/** The probe targets of the k3d world: one per region, kube context k3d-dc-REGION. */
export function cockroachTargets(
  config: Pick<AtlasConfig, 'namePrefix' | 'regions'>,
  kubeconfigPath?: string,
): CockroachRegionTarget[] {
  return k3dTopology(config).regions.map((r) => ({region: r.region, context: r.context, kubeconfigPath, ...DEFAULTS}))
}

interface RegionProbe {
  /** the kubeconfig could not be loaded: the region cannot be probed at all */
  configError?: string
  kc?: KubeConfig
  target: Required<Omit<CockroachRegionTarget, 'kubeconfigPath'>> & {kubeconfigPath?: string}
  watcher?: PodWatcher
}

export class CockroachHealthProbe {
  private readonly options: CockroachProbeOptions
  private readonly regions: RegionProbe[]
  private started = false

  constructor(targets: CockroachRegionTarget[], options: CockroachProbeOptions = {}) {
    this.regions = targets.map((t) => ({target: {...DEFAULTS, ...t}}))
    this.options = options
  }

  async health(): Promise<ClusterHealth> {
    return (await this.sample()).health
  }

  async sample(at = new Date()): Promise<CockroachSample> {
    if (!this.started) await this.start()
    const nodes = (await Promise.all(this.regions.map((r) => this.sampleRegion(r)))).flat()
    return {
      health: mapCockroachHealth(
        nodes,
        this.regions.map((r) => r.target.region),
        at,
      ),
      nodes,
    }
  }

  /** Loads the kube contexts and starts the pod watches; never throws for one region's trouble. */
  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    await Promise.all(
      this.regions.map(async (r) => {
        try {
          r.kc = this.options.kubeConfigFor
            ? await this.options.kubeConfigFor(r.target)
            : await loadKubeConfig(r.target)
        } catch (error) {
          r.configError = (error as Error).message
          return
        }

        r.watcher = new PodWatcher(r.kc, {
          namespace: r.target.namespace,
          labelSelector: r.target.labelSelector,
          requestTimeoutMs: this.options.requestTimeoutMs,
          watchTimeoutSeconds: this.options.watchTimeoutSeconds,
          watchIdleMs: this.options.watchIdleMs,
          reconnectDelayMs: this.options.reconnectDelayMs,
          maxReconnectDelayMs: this.options.maxReconnectDelayMs,
        })
        await r.watcher.start()
      }),
    )
  }

  async stop(): Promise<void> {
    await Promise.all(this.regions.map((r) => r.watcher?.stop()))
  }

  /** The watchers, for status displays and tests. */
  watchers(): Record<string, PodWatcher | undefined> {
    return Object.fromEntries(this.regions.map((r) => [r.target.region, r.watcher]))
  }

  private async sampleNode(r: RegionProbe, pod: string, state: PodState | undefined): Promise<CockroachNodeSample> {
    const {region, namespace, httpPort, scheme} = r.target
    const timeoutMs = this.options.requestTimeoutMs ?? 3000
    const get = (path: string) => kubeGet(r.kc!, podProxyPath(namespace, pod, httpPort, path, scheme), {timeoutMs})
    const base: CockroachNodeSample = {
      region,
      pod,
      apiReachable: false,
      readyStatus: null,
      vars: null,
      ...(state ? {podStatus: state} : {}),
    }
    const [ready, vars] = await Promise.allSettled([get('health?ready=1'), get('_status/vars')])
    // no HTTP answer to either request: the API server (not the node) is out of reach
    if (ready.status === 'rejected' && vars.status === 'rejected') {
      const reason = ready.reason as Error
      return {
        ...base,
        error:
          reason instanceof KubeUnreachableError ? reason.message : `cannot reach the API server: ${reason.message}`,
      }
    }

    const sample: CockroachNodeSample = {...base, apiReachable: true}
    if (ready.status === 'fulfilled') sample.readyStatus = ready.value.status
    if (vars.status === 'fulfilled' && vars.value.status === 200) {
      try {
        sample.vars = parseCockroachVars(vars.value.body)
      } catch (error) {
        sample.error = `/_status/vars: ${(error as Error).message}`
      }
    } else if (vars.status === 'fulfilled') {
      sample.error = `/_status/vars: HTTP ${vars.value.status}`
    } else {
      sample.error = `/_status/vars: ${(vars.reason as Error).message}`
    }

    return sample
  }

  private async sampleRegion(r: RegionProbe): Promise<CockroachNodeSample[]> {
    const {region, statefulSet, expectedReplicas} = r.target
    // a finished pod that is not one of the StatefulSet's (the init Job's, which carries
    // the same app label) is no CockroachDB node
    const ordinal = new RegExp(`^${statefulSet}-\\d+$`)
    const known = (r.watcher?.pods() ?? []).filter(
      (p) => ordinal.test(p.name) || (p.phase !== 'Succeeded' && p.phase !== 'Failed'),
    )
    // pods never seen (the region was down from the start) are still members
    const names = new Set(known.map((p) => p.name))
    for (let i = 0; i < expectedReplicas; i++) names.add(`${statefulSet}-${i}`)
    const podNames = [...names].sort()
    if (!r.kc) {
      return podNames.map((pod) => ({
        region,
        pod,
        apiReachable: false,
        readyStatus: null,
        vars: null,
        error: r.configError,
      }))
    }

    const samples = await Promise.all(
      podNames.map((pod) =>
        this.sampleNode(
          r,
          pod,
          known.find((p) => p.name === pod),
        ),
      ),
    )
    return samples
  }
}

/**
 * Maps node samples into the Raft health model. A node is alive when it answers
 * /health?ready=1 with 200 (it is live in the cluster and accepts SQL). CockroachDB
 * has a Raft group per range rather than one leader; the member holding the most
 * range leases is reported as the leader (it serves most reads and writes).
 */
export function mapCockroachHealth(nodes: CockroachNodeSample[], regions: string[], at = new Date()): ClusterHealth {
  const aliveNodes = nodes.filter((n) => n.apiReachable && n.readyStatus === 200)
  const leader = [...aliveNodes]
    .filter((n) => n.vars)
    .sort(
      (a, b) =>
        (b.vars!.replicasLeaseholders ?? 0) - (a.vars!.replicasLeaseholders ?? 0) ||
        (b.vars!.replicasLeaders ?? 0) - (a.vars!.replicasLeaders ?? 0) ||
        `${a.region}/${a.pod}`.localeCompare(`${b.region}/${b.pod}`),
    )[0]
  const members: MemberHealth[] = nodes.map((n) => {
    const alive = aliveNodes.includes(n)
    const detail: NonNullable<MemberHealth['detail']> = {
      podReady: n.podStatus?.ready ?? null,
      podPhase: n.podStatus?.phase ?? null,
      restarts: n.podStatus?.restarts ?? null,
      kubeNode: n.podStatus?.nodeName ?? null,
      readyStatus: n.readyStatus,
      nodeId: n.vars?.nodeId ?? null,
      liveNodes: n.vars?.liveNodes ?? null,
      rangesUnavailable: n.vars?.rangesUnavailable ?? null,
      rangesUnderreplicated: n.vars?.rangesUnderreplicated ?? null,
      replicasLeaders: n.vars?.replicasLeaders ?? null,
      replicasLeaseholders: n.vars?.replicasLeaseholders ?? null,
      requestsSlowRaft: n.vars?.requestsSlowRaft ?? null,
    }
    if (n.error) detail.error = n.error
    return {
      region: n.region,
      name: n.pod,
      group: COCKROACH_GROUP,
      alive,
      reachable: n.apiReachable,
      role: alive ? (n === leader ? 'leader' : 'follower') : 'unknown',
      // no cluster-wide Raft term: each range has its own
      term: null,
      lag: null,
      detail,
    }
  })
  // every range is counted by exactly one live replica (its leaseholder), so the sum is the cluster's count
  const reporting = nodes.filter((n) => n.vars)
  const sum = (pick: (v: CockroachNodeVars) => null | number): null | number =>
    reporting.length === 0 ? null : reporting.reduce((total, n) => total + (pick(n.vars!) ?? 0), 0)
  const group = groupHealth(COCKROACH_GROUP, members, {
    unavailable: sum((v) => v.rangesUnavailable),
    underReplicated: sum((v) => v.rangesUnderreplicated),
  })
  // an unavailable range has lost its Raft majority, however many nodes look fine
  if ((group.unavailableRanges ?? 0) > 0) group.quorumHeld = false
  return clusterHealth([group], COCKROACH_GROUP, regions, at)
}
