import type {AtlasConfig, Region} from './schema.js'

import {UsageError} from '../errors.js'

/** Looks a region up by name; an unknown name is a usage error listing the valid ones. */
export function findRegion(config: AtlasConfig, name: string): Region {
  const region = config.regions.find((r) => r.name === name)
  if (!region) {
    throw new UsageError(`unknown region "${name}"; valid regions: ${config.regions.map((r) => r.name).join(', ')}`, {
      code: 'UNKNOWN_REGION',
      details: {region: name, validRegions: config.regions.map((r) => r.name)},
    })
  }

  return region
}

export function primaryRegion(config: AtlasConfig): Region {
  return config.regions.find((r) => r.role === 'primary')!
}

/** Regions that hold a bucket and a queue and can lead: everything but the witness. */
export function dataRegions(config: AtlasConfig): Region[] {
  return config.regions.filter((r) => r.role !== 'witness')
}

/** The region tier of a locality string, e.g. "us-east-1" of "region=us-east-1,zone=us-east-1a". */
export function localityRegion(region: Region): string {
  const tier = region.locality.split(',').find((t) => t.startsWith('region='))
  return tier ? tier.slice('region='.length) : region.awsRegion
}
