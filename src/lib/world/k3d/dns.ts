import {writeFile} from 'node:fs/promises'

import type {K3dTopology} from '../../gitops/topology.js'
import type {CommandRunner} from '../../tools/runner.js'

import {GIT_CONTAINER} from '../../gitops/git-source.js'
import {poll} from '../../wait.js'
import {LOCALSTACK_CONTAINER} from './ansible-vars.js'

/**
 * Cross-cluster name resolution. k3d writes the shared network's members into
 * each cluster's CoreDNS NodeHosts once, when that cluster starts (k3d
 * v5.7.4 ClusterStart): dc-us, created first, never learns the later
 * clusters, and nobody learns a new address of a container that was killed
 * and started again. So, after every cluster exists and after a kill is
 * undone, Atlas writes the current addresses into each cluster's
 * coredns-custom ConfigMap (the extension point k3s mounts and imports: keys
 * .server are server blocks). The server block is constant; the hosts file
 * it reads is reloaded by CoreDNS's hosts plugin when it changes.
 */
export const COREDNS_CUSTOM = 'coredns-custom'
const SERVER_KEY = 'atlas.server'
const HOSTS_KEY = 'atlas.hosts'

/** Names pods must resolve across clusters: every server container, LocalStack and the git source. */
export function sharedNetworkNames(topology: K3dTopology): string[] {
  return [...topology.regions.map((r) => r.serverContainer), LOCALSTACK_CONTAINER, GIT_CONTAINER]
}

/** `docker network inspect` argv whose output parseNetworkAddresses reads. */
export function networkInspectArgs(network: string): string[] {
  return ['network', 'inspect', '--format', '{{json .Containers}}', network]
}

/** Container name -> IPv4 address, from `docker network inspect --format '{{json .Containers}}'`. */
export function parseNetworkAddresses(stdout: string): Record<string, string> {
  const containers = JSON.parse(stdout || '{}') as null | Record<string, {IPv4Address?: string; Name?: string}>
  const out: Record<string, string> = {}
  for (const c of Object.values(containers ?? {})) {
    const ip = c.IPv4Address?.split('/')[0]
    if (c.Name && ip) out[c.Name] = ip
  }

  return out
}

export function corednsCustomConfigMap(
  topology: K3dTopology,
  addresses: Record<string, string>,
): Record<string, unknown> {
  const names = sharedNetworkNames(topology)
  const hosts = names.filter((n) => addresses[n]).map((n) => `${addresses[n]} ${n}`)
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {name: COREDNS_CUSTOM, namespace: 'kube-system', labels: {'atlas.dev/world': topology.network}},
    data: {
      // one zone per name: only these names are answered here, everything else as before
      [SERVER_KEY]: `${names.map((n) => `${n}:53`).join(' ')} {\n    errors\n    hosts /etc/coredns/custom/${HOSTS_KEY} {\n        ttl 5\n        reload 2s\n    }\n}\n`,
      [HOSTS_KEY]: `${hosts.join('\n')}\n`,
    },
  }
}

/** Reads the network's addresses and writes the ConfigMap file every cluster applies. */
export async function writeCorednsCustom(file: string, topology: K3dTopology, inspectStdout: string): Promise<void> {
  await writeFile(
    file,
    `${JSON.stringify(corednsCustomConfigMap(topology, parseNetworkAddresses(inspectStdout)), null, 2)}\n`,
  )
}

export function applyArgs(context: string, file: string): string[] {
  return ['--context', context, 'apply', '--request-timeout=10s', '--filename', file]
}

/**
 * After a kill is undone: the restarted server container may have a new
 * address. Rewrites every cluster's hosts file; the restarted cluster's API
 * server takes a while to answer again, so each cluster is tried until
 * deadlineMs. Returns the clusters that could not be updated.
 */
export async function refreshClusterHosts(
  runner: CommandRunner,
  topology: K3dTopology,
  file: string,
  options: {deadlineMs?: number; retryDelayMs?: number} = {},
): Promise<string[]> {
  const inspect = await runner.run('docker', networkInspectArgs(topology.network), {
    label: 'read the addresses on the shared network',
  })
  if (!runner.dryRun) await writeCorednsCustom(file, topology, inspect.stdout)
  const deadline = Date.now() + (options.deadlineMs ?? 120_000)
  const failed: string[] = []
  for (const region of topology.regions) {
    const applied = async () =>
      (
        await runner.run('kubectl', applyArgs(region.context, file), {
          reject: false,
          label: `update the CoreDNS hosts of ${region.cluster}`,
        })
      ).exitCode === 0
    // one deadline for all clusters: a cluster tried after it gets a single attempt
    if (
      !(await poll(applied, {timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: options.retryDelayMs ?? 2000}))
    )
      failed.push(region.cluster)
  }

  return failed
}
