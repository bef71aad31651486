import type {CommandRunner} from '../../tools/runner.js'
import type {FaultHandle, FaultMode} from '../types.js'

import {RestoreError} from '../../errors.js'
import {type K3dTopology, regionTopology} from '../../gitops/topology.js'
import {refreshClusterHosts} from './dns.js'

/**
 * Faults of the k3d world, acting on a region's k3d node containers:
 *   kill      = docker kill (SIGKILL)           undo: docker start, then every cluster's CoreDNS hosts (dns.ts)
 *   stop      = docker pause (freeze, no exit)   undo: docker unpause
 *   partition = docker network disconnect        undo: docker network connect --ip <same address>
 * Every command goes through the CommandRunner, so a dry run records the exact plan.
 */
export interface K3dFaultPlan {
  containers: string[]
  inject: string[][]
  mode: FaultMode
  network: string
  region: string
  undo: string[][]
}

/** Placeholder shown in dry-run plans for an address that is read at injection time. */
export const ADDRESS_PLACEHOLDER = (container: string) => `<address of ${container}>`

/**
 * The docker argv of a fault and of its undo. For partitions the address each
 * container had is given (read before disconnecting) so the node keeps its IP:
 * k3s and the CockroachDB peers remember it.
 */
export function planK3dFault(
  topology: K3dTopology,
  regionName: string,
  mode: FaultMode,
  addresses: Record<string, string> = {},
): K3dFaultPlan {
  const region = regionTopology(topology, regionName)
  const containers = region.nodeContainers
  const {network} = topology
  const base = {region: regionName, mode, containers, network}
  switch (mode) {
    case 'kill': {
      return {...base, inject: [['kill', '--signal', 'SIGKILL', ...containers]], undo: [['start', ...containers]]}
    }

    case 'partition': {
      return {
        ...base,
        inject: containers.map((c) => ['network', 'disconnect', '--force', network, c]),
        undo: containers.map((c) => ['network', 'connect', '--ip', addresses[c] ?? ADDRESS_PLACEHOLDER(c), network, c]),
      }
    }

    case 'stop': {
      return {...base, inject: [['pause', ...containers]], undo: [['unpause', ...containers]]}
    }

    default: {
      throw new Error(`unknown fault mode "${mode as string}"`)
    }
  }
}

/** Reads a container's IPv4 address on the network (a recorded step in dry-run mode). */
async function addressOn(runner: CommandRunner, container: string, network: string): Promise<string> {
  const result = await runner.run(
    'docker',
    ['inspect', '--format', `{{with index .NetworkSettings.Networks "${network}"}}{{.IPAddress}}{{end}}`, container],
    {
      label: `read the address of ${container} on ${network}`,
    },
  )
  if (result.dryRun) return ADDRESS_PLACEHOLDER(container)
  const ip = result.stdout.trim()
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip))
    throw new Error(`${container} has no address on network ${network} (got "${ip}")`)
  return ip
}

// docker's wording when an undo finds the container already restored
const ALREADY_RESTORED = /is not paused|already exists in network|endpoint with name .* already exists/i

export interface K3dFaultOptions {
  /**
   * coredns-custom file (dns.ts): after a kill is undone every cluster's CoreDNS
   * gets the restarted container's address, which Docker may have changed
   */
  corednsFile?: string
  /** how long to keep trying a cluster whose API server is not back yet */
  refreshDeadlineMs?: number
  refreshRetryDelayMs?: number
}

export async function injectK3dFault(
  runner: CommandRunner,
  topology: K3dTopology,
  regionName: string,
  mode: FaultMode,
  options: K3dFaultOptions = {},
): Promise<FaultHandle> {
  const region = regionTopology(topology, regionName)
  const addresses: Record<string, string> = {}
  if (mode === 'partition') {
    for (const c of region.nodeContainers) addresses[c] = await addressOn(runner, c, topology.network)
  }

  const plan = planK3dFault(topology, regionName, mode, addresses)
  for (const argv of plan.inject) await runner.run('docker', argv, {label: `${mode} region ${regionName}`})
  const injectedAt = new Date()
  let undone = false
  // only a killed container can come back on another address
  let hostsCurrent = mode !== 'kill'
  return {
    region: regionName,
    mode,
    injectedAt,
    description: `${plan.inject.map((a) => `docker ${a.join(' ')}`).join('; ')} (undo: ${plan.undo.map((a) => `docker ${a.join(' ')}`).join('; ')})`,
    async undo() {
      if (undone && hostsCurrent) return
      for (const argv of undone ? [] : plan.undo) {
        const result = await runner.run('docker', argv, {label: `restore region ${regionName}`, reject: false})
        if (result.exitCode !== 0 && !ALREADY_RESTORED.test(result.stderr)) {
          throw new RestoreError(
            `could not restore region ${regionName}: docker ${argv.join(' ')} exited ${result.exitCode}: ${result.stderr.trim()}`,
            {
              hint: `run it by hand: docker ${argv.join(' ')}`,
              details: {region: regionName, mode, argv: ['docker', ...argv]},
            },
          )
        }
      }

      undone = true
      if (!hostsCurrent && options.corednsFile) {
        const failed = await refreshClusterHosts(runner, topology, options.corednsFile, {
          deadlineMs: options.refreshDeadlineMs,
          retryDelayMs: options.refreshRetryDelayMs,
        })
        // a second undo() then retries only this
        if (failed.length > 0) {
          throw new RestoreError(
            `region ${regionName} is running again, but the CoreDNS hosts of ${failed.join(', ')} could not be updated with its address`,
            {
              hint: `apply ${options.corednsFile} by hand: kubectl --context k3d-<cluster> apply --filename ${options.corednsFile}`,
              details: {region: regionName, mode, clusters: failed},
            },
          )
        }
      }

      hostsCurrent = true
    },
  }
}
