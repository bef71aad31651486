import path from 'node:path'

import type {AtlasConfig} from '../../config/schema.js'

import {primaryRegion} from '../../config/regions.js'
import {requiredNodeSANs} from '../../gitops/context.js'
import {ATLAS_NAMESPACE, K3D_NETWORK_SUBNET, k3dTopology} from '../../gitops/topology.js'

/** LocalStack's container on the shared network (ansible/roles/localstack defaults). */
export const LOCALSTACK_CONTAINER = 'atlas-localstack'
export const DEFAULT_LOCALSTACK_ENDPOINT = 'http://127.0.0.1:4566'

export interface AnsibleCluster {
  api_port: number
  /** rendered k3d Simple config */
  config: string
  name: string
  pod_cidr: string
  region: string
  role: string
  service_cidr: string
}

/** The extra-vars file of ansible/site.yml (keys are the atlas_* variables of inventory/group_vars/all.yml). */
export interface AnsibleExtraVars {
  atlas_argocd_cluster: string
  atlas_clusters: AnsibleCluster[]
  atlas_cockroach_namespace: string
  /** SANs of the shared CockroachDB node certificate (the chart's tls.requiredSANs) */
  atlas_cockroach_node_sans: string[]
  atlas_localstack_port: number
  atlas_network_name: string
  atlas_network_subnet: string
  atlas_state_dir: string
  atlas_world_name: string
}

/**
 * Argo CD runs in the witness's cluster when there is one: losing a data
 * region must not take the GitOps controller with it. Else in the primary's.
 */
export function argocdHubRegion(config: AtlasConfig): string {
  return (config.regions.find((r) => r.role === 'witness') ?? primaryRegion(config)).name
}

export function localstackPort(endpoint: string): number {
  const url = new URL(endpoint)
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
}

export function ansibleExtraVars(
  config: AtlasConfig,
  options: {endpoint: string; renderedDir: string; stateDir: string},
): AnsibleExtraVars {
  const topology = k3dTopology(config)
  const hub = argocdHubRegion(config)
  return {
    atlas_world_name: config.namePrefix,
    atlas_network_name: topology.network,
    atlas_network_subnet: K3D_NETWORK_SUBNET,
    atlas_localstack_port: localstackPort(options.endpoint),
    atlas_clusters: topology.regions.map((r) => ({
      name: r.cluster,
      region: r.region,
      role: r.role,
      config: path.join(options.renderedDir, 'k3d', `${r.cluster}.yaml`),
      pod_cidr: r.podCidr,
      service_cidr: r.serviceCidr,
      api_port: r.apiPort,
    })),
    atlas_argocd_cluster: topology.regions.find((r) => r.region === hub)!.cluster,
    atlas_state_dir: options.stateDir,
    atlas_cockroach_namespace: ATLAS_NAMESPACE,
    atlas_cockroach_node_sans: requiredNodeSANs(topology),
  }
}
