import {cloudResourceNames, DLQ_MAX_RECEIVE_COUNT} from './names.js'
import type {AtlasConfig, Region} from '../config/schema.js'
import type {CloudEndpoint} from '../world/types.js'
import {s3Client, sqsClient} from './clients.js'

export interface RegionCloudResources {
  region: string
  auditBucket: string
  queueUrl: string
  deadLetterQueueUrl: string
}

/**
 * Creates one region's audit bucket, dead-letter queue and transaction queue
 * (redrive after DLQ_MAX_RECEIVE_COUNT receives) through the SDK, idempotently.
 * Terraform creates the same resources (same names, from names.ts) in the k3d world;
 * this is for emulators without Terraform (moto in the local world and tests).
 */
export async function ensureRegionCloudResources(
  cloud: CloudEndpoint,
  options: {prefix: string; region: string; awsRegion: string; maxReceiveCount?: number; visibilityTimeoutSeconds?: number},
): Promise<RegionCloudResources> {
  const names = cloudResourceNames(options.prefix, options.region)
  const s3 = await s3Client(cloud, options.awsRegion)
  const sqs = await sqsClient(cloud, options.awsRegion)
  try {
    const {CreateBucketCommand, PutBucketVersioningCommand} = await import('@aws-sdk/client-s3')
    try {
      await s3.send(
        new CreateBucketCommand({
          Bucket: names.auditBucket,
          ...(options.awsRegion === 'us-east-1' ? {} : {CreateBucketConfiguration: {LocationConstraint: options.awsRegion as never}}),
        }),
      )
    } catch (error) {
      const name = (error as Error).name
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error
    }
    // replication requires versioning on both ends
    await s3.send(new PutBucketVersioningCommand({Bucket: names.auditBucket, VersioningConfiguration: {Status: 'Enabled'}}))

    const {CreateQueueCommand, GetQueueAttributesCommand} = await import('@aws-sdk/client-sqs')
    const dlq = await sqs.send(new CreateQueueCommand({QueueName: names.deadLetterQueue}))
    const dlqArn = (await sqs.send(new GetQueueAttributesCommand({QueueUrl: dlq.QueueUrl!, AttributeNames: ['QueueArn']}))).Attributes!.QueueArn!
    const queue = await sqs.send(
      new CreateQueueCommand({
        QueueName: names.queue,
        Attributes: {
          VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
          RedrivePolicy: JSON.stringify({deadLetterTargetArn: dlqArn, maxReceiveCount: options.maxReceiveCount ?? DLQ_MAX_RECEIVE_COUNT}),
        },
      }),
    )
    return {region: options.region, auditBucket: names.auditBucket, queueUrl: queue.QueueUrl!, deadLetterQueueUrl: dlq.QueueUrl!}
  } finally {
    s3.destroy()
    sqs.destroy()
  }
}

export interface ProvisionResult {
  regions: RegionCloudResources[]
  /** replication rules as configured (from -> to) */
  replication: Array<{from: string; to: string}>
  /** things that work differently than on AWS, for the user to know */
  warnings: string[]
}

/**
 * Everything terraform/modules/region declares, made with the SDK: per data region
 * (not the witness) the audit bucket and the queue pair, then the replication
 * configuration of each rule (role + bucket replication). Idempotent.
 */
export async function provisionCloud(config: AtlasConfig, cloud: CloudEndpoint): Promise<ProvisionResult> {
  const dataRegions = config.regions.filter((r) => r.role !== 'witness')
  const regions = await Promise.all(
    dataRegions.map((r) => ensureRegionCloudResources(cloud, {prefix: config.namePrefix, region: r.name, awsRegion: r.awsRegion})),
  )
  const warnings: string[] = []
  for (const rule of config.cloud.replication) {
    const from = config.regions.find((r) => r.name === rule.from)!
    const to = config.regions.find((r) => r.name === rule.to)!
    try {
      await putReplication(cloud, config.namePrefix, from, to)
    } catch (error) {
      warnings.push(`replication ${rule.from} -> ${rule.to} not configured: ${(error as Error).message}`)
    }
  }
  if (config.cloud.replication.length > 0) {
    warnings.push('emulators store the replication configuration but do not copy objects: the ledger service copies each audit record to the replica bucket itself')
  }
  return {regions, replication: config.cloud.replication, warnings}
}

async function putReplication(cloud: CloudEndpoint, prefix: string, from: Region, to: Region): Promise<void> {
  const source = cloudResourceNames(prefix, from.name)
  const target = cloudResourceNames(prefix, to.name)
  const {IAMClient, CreateRoleCommand, GetRoleCommand} = await import('@aws-sdk/client-iam')
  const iam = new IAMClient({endpoint: cloud.endpoint, region: 'us-east-1', credentials: {accessKeyId: cloud.accessKeyId, secretAccessKey: cloud.secretAccessKey}})
  let roleArn: string
  try {
    try {
      roleArn = (await iam.send(new GetRoleCommand({RoleName: source.replicationRole}))).Role!.Arn!
    } catch {
      const trust = {Version: '2012-10-17', Statement: [{Effect: 'Allow', Principal: {Service: 's3.amazonaws.com'}, Action: 'sts:AssumeRole'}]}
      roleArn = (await iam.send(new CreateRoleCommand({RoleName: source.replicationRole, AssumeRolePolicyDocument: JSON.stringify(trust)}))).Role!.Arn!
    }
  } finally {
    iam.destroy()
  }
  const s3 = await s3Client(cloud, from.awsRegion)
  try {
    const {PutBucketReplicationCommand} = await import('@aws-sdk/client-s3')
    await s3.send(
      new PutBucketReplicationCommand({
        Bucket: source.auditBucket,
        ReplicationConfiguration: {
          Role: roleArn,
          Rules: [{ID: `audit-to-${to.name}`, Status: 'Enabled', Priority: 1, Filter: {Prefix: ''}, DeleteMarkerReplication: {Status: 'Disabled'}, Destination: {Bucket: `arn:aws:s3:::${target.auditBucket}`}}],
        },
      }),
    )
  } finally {
    s3.destroy()
  }
}
