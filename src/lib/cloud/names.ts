/**
 * The one place cloud resource names are made. Terraform (terraform/modules/region)
 * computes the same names from name_prefix and region_name; a test reads the HCL
 * and cross-checks both, so the SDK provisioner and Terraform cannot drift apart.
 */
export interface CloudResourceNames {
  auditBucket: string
  deadLetterQueue: string
  queue: string
  replicationRole: string
}

/** Receives before SQS moves a message to the dead-letter queue. */
export const DLQ_MAX_RECEIVE_COUNT = 5

export function cloudResourceNames(prefix: string, regionName: string): CloudResourceNames {
  return {
    auditBucket: `${prefix}-audit-${regionName}`,
    queue: `${prefix}-transactions-${regionName}`,
    deadLetterQueue: `${prefix}-transactions-${regionName}-dlq`,
    replicationRole: `${prefix}-replication-${regionName}`,
  }
}
