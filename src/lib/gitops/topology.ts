import type {AtlasConfig, Region} from '../config/schema.js'

/**
 * Names and address ranges of the k3d world, derived from the config alone so
 * that the renderer, the k3d driver, the health probe and the fault injector
 * agree without talking to each other.
 */
export interface K3dRegionTopology {
  /** host port of the Kubernetes API on 127.0.0.1 */
  apiPort: number
  /** k3d cluster name, e.g. dc-us */
  cluster: string
  /** kubeconfig context k3d writes for it, e.g. k3d-dc-us */
  context: string
  /** every Docker container of the cluster's nodes (faults act on these) */
  nodeContainers: string[]
  podCidr: string
  region: string
  role: Region['role']
  /** the server node's container name, resolvable on the shared Docker network */
  serverContainer: string
  serviceCidr: string
}

export interface K3dTopology {
  /** the Docker network every cluster joins */
  network: string
  regions: K3dRegionTopology[]
}

/** First host port of the API servers; region i listens on API_PORT_BASE + i. */
export const API_PORT_BASE = 6550
/** NodePort of CockroachDB pod ordinal 0 in every cluster (ordinal N: + N). */
export const COCKROACH_NODEPORT_BASE = 30_257
/**
 * Subnet of the shared Docker network (ansible/roles/network): the k3d server
 * containers and LocalStack. The NetworkPolicies admit the other regions'
 * CockroachDB nodes from it and let the ledger reach LocalStack in it.
 */
export const K3D_NETWORK_SUBNET = '172.28.0.0/16'
/** Port of every k3s API server inside the Docker network (Argo CD dials https://k3d-dc-R-server-0:6443). */
export const K3D_API_SERVER_PORT = 6443
/**
 * Labels of the atlas namespace: Pod Security `restricted`, enforced (and
 * warned and audited). ansible/roles/cluster_secrets creates the namespace with
 * them, and the ApplicationSets' managedNamespaceMetadata keeps them.
 */
export const POD_SECURITY_LABELS: Readonly<Record<string, string>> = Object.freeze({
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/warn-version': 'latest',
  'pod-security.kubernetes.io/audit': 'restricted',
  'pod-security.kubernetes.io/audit-version': 'latest',
})
/** Namespace the ApplicationSets deploy into. */
export const ATLAS_NAMESPACE = 'atlas'

export function k3dClusterName(regionName: string): string {
  return `dc-${regionName}`
}

export function k3dTopology(config: Pick<AtlasConfig, 'namePrefix' | 'regions'>): K3dTopology {
  if (config.regions.length > 21)
    throw new Error(
      'the k3d world supports at most 21 regions (one pod and one service /16 each, 10.42.0.0 to 10.253.0.0)',
    )
  return {
    // the Ansible network role creates it (atlas_network_name); LocalStack joins it too
    network: config.namePrefix,
    regions: config.regions.map((region, i) => {
      const cluster = k3dClusterName(region.name)
      const serverContainer = `k3d-${cluster}-server-0`
      return {
        region: region.name,
        role: region.role,
        cluster,
        context: `k3d-${cluster}`,
        serverContainer,
        // one server, no agents; k3d's serverlb only fronts the API and is left alone
        nodeContainers: [serverContainer],
        apiPort: API_PORT_BASE + i,
        // pod and service ranges never overlap across clusters on the shared network
        // (10.42/10.43 for the first: k3s's own defaults; then 10 apart, as ansible/ does)
        podCidr: `10.${42 + 10 * i}.0.0/16`,
        serviceCidr: `10.${43 + 10 * i}.0.0/16`,
      }
    }),
  }
}

export function regionTopology(topology: K3dTopology, regionName: string): K3dRegionTopology {
  const found = topology.regions.find((r) => r.region === regionName)
  if (!found)
    throw new Error(
      `region "${regionName}" is not part of the k3d topology (${topology.regions.map((r) => r.region).join(', ')})`,
    )
  return found
}
