// Placeholder until the k3d driver lands; replaced by the real implementation.
import type {AtlasConfig} from '../../config/schema.js'
import {PreconditionError} from '../../errors.js'
import type {World} from '../types.js'

export const K3dWorld = class {
  constructor(_config: AtlasConfig, _options: {baseDir?: string} = {}) {
    throw new PreconditionError('the k3d world is not available yet')
  }
} as unknown as new (config: AtlasConfig, options?: {baseDir?: string}) => World
