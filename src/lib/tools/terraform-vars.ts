import type {AtlasConfig, Region} from '../config/schema.js'

import {DLQ_MAX_RECEIVE_COUNT} from '../cloud/names.js'
import {primaryRegion} from '../config/regions.js'
import {ConfigError} from '../errors.js'

/** The tfvars of terraform/ (variables.tf) for a config; a test checks every key is declared. */
export interface TerraformVariables {
  localstack_endpoint: string
  name_prefix: string
  primary_region: {aws_region: string; name: string}
  queue_max_receive_count: number
  replication_enabled: boolean
  secondary_region: {aws_region: string; name: string}
}

/**
 * terraform/ provisions exactly two data regions (provider aliases cannot be
 * generated), the primary and the secondary; the witness gets nothing.
 */
export function terraformVariables(config: AtlasConfig, options: {endpoint: string}): TerraformVariables {
  const primary = primaryRegion(config)
  const secondaries = config.regions.filter((r) => r.role === 'secondary')
  if (!primary || secondaries.length !== 1) {
    throw new ConfigError(
      `the k3d world's Terraform needs exactly one primary and one secondary region (found ${secondaries.length} secondary)`,
      {hint: 'edit regions in atlas.yaml, or use `atlas up --driver local`, which takes any number of regions'},
    )
  }

  const secondary = secondaries[0]
  const pair = (r: Region) => ({name: r.name, aws_region: r.awsRegion})
  // Terraform replicates both ways or not at all; atlas.yaml may list rules explicitly
  const rules = config.cloud.replication
  const both =
    rules.some((r) => r.from === primary.name && r.to === secondary.name) &&
    rules.some((r) => r.from === secondary.name && r.to === primary.name)
  if (rules.length > 0 && !both) {
    throw new ConfigError(
      'the k3d world replicates audit buckets both ways between the primary and the secondary, or not at all',
      {
        hint: 'set cloud.replication to both rules (or to [] for none)',
      },
    )
  }

  return {
    localstack_endpoint: options.endpoint,
    name_prefix: config.namePrefix,
    primary_region: pair(primary),
    secondary_region: pair(secondary),
    replication_enabled: both,
    queue_max_receive_count: DLQ_MAX_RECEIVE_COUNT,
  }
}
