/** Where a world's pieces answer: shared by the drivers that produce them and the adapters that use them. */
export interface CloudEndpoint {
  /** S3/SQS/IAM endpoint URL (LocalStack or moto) */
  endpoint: string
  /** test credentials the emulator accepts; never real ones */
  accessKeyId: string
  secretAccessKey: string
}

export interface RegionEndpoints {
  region: string
  /** pgwire URL of this region's database node; undefined for regions without one */
  databaseUrl?: string
  /** the ledger service's HTTP endpoint, where it runs */
  serviceUrl?: string
  auditBucket?: string
  queueUrl?: string
  deadLetterQueueUrl?: string
}
