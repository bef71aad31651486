import type {AtlasConfig, Region} from '../config/schema.js'
import type {TerraformRegionOutputs} from '../tools/terraform-outputs.js'
import type {TemplateContext} from './template.js'

import {cloudResourceNames} from '../cloud/names.js'
import {dataRegions, primaryRegion} from '../config/regions.js'
import {ConfigError} from '../errors.js'
import {GIT_REPO_URL} from './git-source.js'
import {
  ATLAS_NAMESPACE,
  COCKROACH_NODEPORT_BASE,
  K3D_API_SERVER_PORT,
  K3D_NETWORK_SUBNET,
  k3dTopology,
  type K3dTopology,
  POD_SECURITY_LABELS,
  regionTopology,
} from './topology.js'

export interface GitSource {
  /** where the rendered files live inside that repository, e.g. "deploy" */
  renderedPath: string
  /** the Git repository Argo CD pulls charts and rendered values from */
  repoURL: string
  revision: string
}

export interface RenderInputs {
  argocdNamespace: string
  /** S3/SQS endpoint as seen from inside the clusters */
  cloudEndpointInCluster: string
  git: GitSource
  k3dImage: string
  /** `terraform output -json` of terraform/, parsed; else names are computed */
  terraform?: TerraformRegionOutputs
}

export const DEFAULT_RENDER_INPUTS: Omit<RenderInputs, 'git'> & {git: Omit<GitSource, 'renderedPath'>} = {
  // the k3d world's git source, fed from what atlas up rendered (world/k3d/git-source.ts)
  git: {repoURL: GIT_REPO_URL, revision: 'HEAD'},
  // LocalStack's container name on the shared Docker network (ansible/roles/localstack)
  cloudEndpointInCluster: 'http://atlas-localstack:4566',
  k3dImage: 'rancher/k3s:v1.30.6-k3s1',
  argocdNamespace: 'argocd',
}

/** LocalStack's fixed account id: queue URLs are <endpoint>/<account>/<queue>. */
const LOCALSTACK_ACCOUNT = '000000000000'

interface Sizing {
  resources: {limits: {cpu: string; memory: string}; requests: {cpu: string; memory: string}}
  storageSize: string
}

// the witness holds a voting replica but serves no clients: it gets less
const DATA_SIZING: Sizing = {
  storageSize: '2Gi',
  resources: {requests: {cpu: '250m', memory: '512Mi'}, limits: {cpu: '1', memory: '1Gi'}},
}
const WITNESS_SIZING: Sizing = {
  storageSize: '1Gi',
  resources: {requests: {cpu: '100m', memory: '384Mi'}, limits: {cpu: '500m', memory: '768Mi'}},
}

/** SANs the shared node certificate needs: in-cluster names and every region's advertised host. */
export function requiredNodeSANs(topology: K3dTopology): string[] {
  return [
    'localhost',
    '127.0.0.1',
    'cockroachdb-public',
    `cockroachdb-public.${ATLAS_NAMESPACE}`,
    `cockroachdb-public.${ATLAS_NAMESPACE}.svc.cluster.local`,
    '*.cockroachdb',
    `*.cockroachdb.${ATLAS_NAMESPACE}`,
    `*.cockroachdb.${ATLAS_NAMESPACE}.svc.cluster.local`,
    ...topology.regions.map((r) => r.serverContainer),
  ]
}

export function worldContext(config: AtlasConfig, inputs: RenderInputs): TemplateContext {
  const topology = k3dTopology(config)
  return {
    world: {name: config.namePrefix},
    namespace: ATLAS_NAMESPACE,
    argocd: {
      namespace: inputs.argocdNamespace,
      project: config.namePrefix,
      // the AppProject's destinations: each registered cluster's API server, the atlas namespace only
      destinations: topology.regions.map((r) => ({
        server: `https://${r.serverContainer}:${K3D_API_SERVER_PORT}`,
        namespace: ATLAS_NAMESPACE,
      })),
    },
    podSecurityLabels: {...POD_SECURITY_LABELS},
    git: {...inputs.git},
    regions: {
      all: config.regions.map((r) => r.name),
      data: dataRegions(config).map((r) => r.name),
    },
    k3d: {image: inputs.k3dImage, network: topology.network, subnet: [K3D_NETWORK_SUBNET]},
  }
}

export function regionContext(config: AtlasConfig, region: Region, inputs: RenderInputs): TemplateContext {
  const topology = k3dTopology(config)
  const t = regionTopology(topology, region.name)
  const sizing = region.role === 'witness' ? WITNESS_SIZING : DATA_SIZING
  const primary = primaryRegion(config)
  return {
    ...worldContext(config, inputs),
    region: {
      name: region.name,
      role: region.role,
      awsRegion: region.awsRegion,
      locality: region.locality,
      cluster: t.cluster,
      serverContainer: t.serverContainer,
      apiPort: String(t.apiPort),
      podCidr: t.podCidr,
      serviceCidr: t.serviceCidr,
    },
    cockroach: {
      clusterName: config.namePrefix,
      replicas: 1,
      // ordinal 0 of every region: enough to find the cluster from anywhere
      join: topology.regions.map((r) => `${r.serverContainer}:${COCKROACH_NODEPORT_BASE}`),
      basePort: COCKROACH_NODEPORT_BASE,
      storageSize: sizing.storageSize,
      resources: sizing.resources,
      requiredSANs: requiredNodeSANs(topology),
      // cockroach init runs exactly once, in the primary region
      initEnabled: region.name === primary?.name,
      // the nodes dial S3 at LocalStack for BACKUP and RESTORE (their NetworkPolicy opens this port)
      cloudPort: endpointPort(inputs.cloudEndpointInCluster),
    },
    ledger: ledgerCloud(config, region, inputs),
  }
}

/**
 * The part of atlas.yaml `atlas ledger serve` reads in its pod: the region names
 * (ATLAS_REGION must be one), the name prefix and the replication rules (the
 * replica buckets it copies audit records to). Without it the pod would use the
 * built-in defaults, not this world's configuration.
 */
export function ledgerServiceConfig(config: AtlasConfig): {
  cloud: {replication: Array<{from: string; to: string}>}
  namePrefix: string
  regions: Region[]
} {
  return {
    namePrefix: config.namePrefix,
    regions: config.regions.map((r) => ({name: r.name, awsRegion: r.awsRegion, locality: r.locality, role: r.role})),
    cloud: {replication: config.cloud.replication.map((r) => ({from: r.from, to: r.to}))},
  }
}

/** The TCP port of the in-cluster S3/SQS endpoint (the ledger's and the CockroachDB nodes' NetworkPolicies open it). */
function endpointPort(endpoint: string): number {
  const url = new URL(endpoint)
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80))
}

function ledgerCloud(
  config: AtlasConfig,
  region: Region,
  inputs: RenderInputs,
): {
  atlasConfig: ReturnType<typeof ledgerServiceConfig>
  auditBucket: string
  cloudEndpoint: string
  cloudPort: number
  queueUrl: string
} {
  const atlasConfig = ledgerServiceConfig(config)
  const cloudPort = endpointPort(inputs.cloudEndpointInCluster)
  const fromTerraform = inputs.terraform?.[region.name]
  if (inputs.terraform && !fromTerraform && region.role !== 'witness') {
    throw new ConfigError(
      `the terraform outputs have no entry for data region "${region.name}" (found: ${Object.keys(inputs.terraform).join(', ') || 'none'})`,
      {
        hint: 'run `terraform apply` for the current atlas.yaml, or render without --terraform-outputs to use computed names',
      },
    )
  }

  if (fromTerraform) {
    // Terraform sees LocalStack from the host (e.g. sqs.REGION.localhost.localstack.cloud, which is
    // 127.0.0.1); pods reach it by container name: keep the account/queue path, swap the origin
    return {
      cloudEndpoint: inputs.cloudEndpointInCluster,
      cloudPort,
      queueUrl: inClusterUrl(fromTerraform.queueUrl, inputs.cloudEndpointInCluster),
      auditBucket: fromTerraform.auditBucket,
      atlasConfig,
    }
  }

  const names = cloudResourceNames(config.namePrefix, region.name)
  return {
    cloudEndpoint: inputs.cloudEndpointInCluster,
    cloudPort,
    queueUrl: `${inputs.cloudEndpointInCluster.replace(/\/+$/, '')}/${LOCALSTACK_ACCOUNT}/${names.queue}`,
    auditBucket: names.auditBucket,
    atlasConfig,
  }
}

function inClusterUrl(url: string, endpoint: string): string {
  let pathname: string
  try {
    pathname = new URL(url).pathname
  } catch {
    throw new ConfigError(`the terraform outputs hold a queue URL that is not a URL: ${url}`)
  }

  return `${endpoint.replace(/\/+$/, '')}${pathname}`
}
