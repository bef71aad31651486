/** Where a world's pieces answer: shared by the drivers that produce them and the adapters that use them. */
export interface CloudEndpoint {
  /** test credentials the emulator accepts; never real ones */
  accessKeyId: string
  /** S3/SQS/IAM endpoint URL (LocalStack or moto) */
  endpoint: string
  secretAccessKey: string
}

export interface RegionEndpoints {
  auditBucket?: string
  /** pgwire URL of this region's database node; undefined for regions without one */
  databaseUrl?: string
  deadLetterQueueUrl?: string
  queueUrl?: string
  region: string
  /** the ledger service's HTTP endpoint, where it runs */
  serviceUrl?: string
}
