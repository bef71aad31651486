import type {AtlasConfig, DriverSetting} from '../config/schema.js'
import type {DriverKind, World} from './types.js'

import {UsageError} from '../errors.js'

export interface WorldOptions {
  /** directory the world keeps its state in; default: config.local.baseDir next to the config file */
  baseDir?: string
  /** overrides config.driver */
  driver?: DriverSetting
  /** local world: how the S3/SQS/IAM resources are made (the AWS SDK, or terraform/ against moto) */
  provisioner?: 'sdk' | 'terraform'
}

/**
 * Picks and builds the world. "auto" takes k3d when every tool it needs is usable
 * (Docker engine included), else the local world. Drivers are imported lazily:
 * the k3d one pulls in the Kubernetes client.
 */
export async function createWorld(config: AtlasConfig, options: WorldOptions = {}): Promise<World> {
  const driver = await resolveDriver(config, options.driver)
  if (driver === 'local') {
    const {LocalWorld} = await import('./local/index.js')
    return new LocalWorld(config, {baseDir: options.baseDir, provisioner: options.provisioner})
  }

  const {K3dWorld} = await import('./k3d/index.js')
  return new K3dWorld(config, {baseDir: options.baseDir})
}

/**
 * "auto" must be cheap (every command resolves it): k3d when the k3d CLI is on the
 * search path and a Docker engine answers, else local. Each driver checks the rest
 * of its tools when it starts (MissingToolError names the tool and how to install it).
 */
export async function resolveDriver(config: AtlasConfig, requested?: DriverSetting): Promise<DriverKind> {
  const wanted = requested ?? config.driver
  if (wanted === 'local' || wanted === 'k3d') return wanted
  if (wanted !== 'auto') throw new UsageError(`unknown driver "${wanted}"; valid drivers: auto, local, k3d`)
  const {findExecutable, inspectTool} = await import('../tools/discovery.js')
  const {toolSpec} = await import('../tools/catalog.js')
  if (!(await findExecutable('k3d'))) return 'local'
  const docker = await inspectTool(toolSpec('docker')!)
  return docker.ok ? 'k3d' : 'local'
}
