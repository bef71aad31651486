// Placeholder until the local driver lands; replaced by the real implementation.
import type {AtlasConfig} from '../../config/schema.js'
import {PreconditionError} from '../../errors.js'
import type {World} from '../types.js'

export const LocalWorld = class {
  constructor(_config: AtlasConfig, _options: {baseDir?: string} = {}) {
    throw new PreconditionError('the local world is not available yet')
  }
} as unknown as new (config: AtlasConfig, options?: {baseDir?: string}) => World
