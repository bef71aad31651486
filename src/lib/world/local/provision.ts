import type {AtlasConfig} from '../../config/schema.js'
import type {CloudEndpoint} from '../types.js'
import {cloudResourceNames, DLQ_MAX_RECEIVE_COUNT} from '../../cloud/names.js'

/**
 * The settings terraform/modules/region declares (its variable defaults and fixed
 * attributes), for the SDK provisioner. test/unit/local-cloud-settings.test.ts
 * reads the HCL and fails when these and the module drift apart.
 */
export const REGION_STACK_SETTINGS = {
  queueMaxReceiveCount: DLQ_MAX_RECEIVE_COUNT,
  queueVisibilityTimeoutSeconds: 30,
  deadLetterRetentionSeconds: 1_209_600,
  auditNoncurrentVersionExpirationDays: 90,
  abortIncompleteMultipartUploadDays: 7,
  sseAlgorithm: 'AES256',
  lifecycleRuleId: 'expire-noncurrent-audit-versions',
  replicationRuleId: 'replicate-audit-to-peer-region',
} as const

export interface ProvisionedRegion {
  region: string
  awsRegion: string
  auditBucket: string
  queueUrl: string
  queueArn: string
  deadLetterQueueUrl: string
  deadLetterQueueArn: string
  replicationRoleArn: string
}

export interface ProvisionResult {
  regions: ProvisionedRegion[]
  /** "from->to" rules applied */
  replication: string[]
  /** what could not be applied, and why (an emulator limitation) */
  warnings: string[]
}

/**
 * Creates through the AWS SDK what terraform/modules/region declares for every
 * data region (the witness has none): an audit bucket (versioned, AES256, public
 * access blocked, lifecycle), a transaction queue with its DLQ and redrive-allow
 * policy, the replication IAM role and its policy, and bucket replication per
 * config.cloud.replication. Idempotent: existing resources get the declared
 * settings again. The SDK is imported lazily.
 */
export async function provisionCloud(config: AtlasConfig, endpoint: CloudEndpoint): Promise<ProvisionResult> {
  const [s3mod, sqsmod, iammod] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/client-sqs'), import('@aws-sdk/client-iam')])
  const credentials = {accessKeyId: endpoint.accessKeyId, secretAccessKey: endpoint.secretAccessKey}
  const s = REGION_STACK_SETTINGS
  const iam = new iammod.IAMClient({region: 'us-east-1', endpoint: endpoint.endpoint, credentials})
  const result: ProvisionResult = {regions: [], replication: [], warnings: []}
  const s3For = (awsRegion: string) => new s3mod.S3Client({region: awsRegion, endpoint: endpoint.endpoint, credentials, forcePathStyle: true})

  for (const region of config.regions.filter((r) => r.role !== 'witness')) {
    const names = cloudResourceNames(config.namePrefix, region.name)
    const s3 = s3For(region.awsRegion)
    const sqs = new sqsmod.SQSClient({region: region.awsRegion, endpoint: endpoint.endpoint, credentials})
    const Bucket = names.auditBucket
    try {
      await s3.send(new s3mod.CreateBucketCommand({Bucket, ...(region.awsRegion === 'us-east-1' ? {} : {CreateBucketConfiguration: {LocationConstraint: region.awsRegion as never}})}))
    } catch (error) {
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((error as Error).name)) throw error
    }
    await s3.send(new s3mod.PutBucketVersioningCommand({Bucket, VersioningConfiguration: {Status: 'Enabled'}}))
    await s3.send(new s3mod.PutBucketEncryptionCommand({Bucket, ServerSideEncryptionConfiguration: {Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: s.sseAlgorithm}}]}}))
    await s3.send(new s3mod.PutPublicAccessBlockCommand({Bucket, PublicAccessBlockConfiguration: {BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true}}))
    await s3.send(
      new s3mod.PutBucketLifecycleConfigurationCommand({
        Bucket,
        LifecycleConfiguration: {
          Rules: [
            {
              ID: s.lifecycleRuleId,
              Status: 'Enabled',
              Filter: {Prefix: ''},
              NoncurrentVersionExpiration: {NoncurrentDays: s.auditNoncurrentVersionExpirationDays},
              AbortIncompleteMultipartUpload: {DaysAfterInitiation: s.abortIncompleteMultipartUploadDays},
            },
          ],
        },
      }),
    )

    const dlq = await sqs.send(new sqsmod.CreateQueueCommand({QueueName: names.deadLetterQueue, Attributes: {MessageRetentionPeriod: String(s.deadLetterRetentionSeconds), SqsManagedSseEnabled: 'true'}}))
    const dlqArn = (await sqs.send(new sqsmod.GetQueueAttributesCommand({QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn']}))).Attributes!.QueueArn!
    const queue = await sqs.send(
      new sqsmod.CreateQueueCommand({
        QueueName: names.queue,
        Attributes: {
          VisibilityTimeout: String(s.queueVisibilityTimeoutSeconds),
          SqsManagedSseEnabled: 'true',
          RedrivePolicy: JSON.stringify({deadLetterTargetArn: dlqArn, maxReceiveCount: s.queueMaxReceiveCount}),
        },
      }),
    )
    const queueArn = (await sqs.send(new sqsmod.GetQueueAttributesCommand({QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn']}))).Attributes!.QueueArn!
    try {
      await sqs.send(new sqsmod.SetQueueAttributesCommand({QueueUrl: dlq.QueueUrl, Attributes: {RedriveAllowPolicy: JSON.stringify({redrivePermission: 'byQueue', sourceQueueArns: [queueArn]})}}))
    } catch (error) {
      result.warnings.push(`${names.deadLetterQueue}: redrive-allow policy not applied (${(error as Error).message})`)
    }

    const assume = JSON.stringify({Version: '2012-10-17', Statement: [{Effect: 'Allow', Action: ['sts:AssumeRole'], Principal: {Service: ['s3.amazonaws.com']}}]})
    let roleArn: string
    try {
      roleArn = (await iam.send(new iammod.GetRoleCommand({RoleName: names.replicationRole}))).Role!.Arn!
    } catch {
      roleArn = (await iam.send(new iammod.CreateRoleCommand({RoleName: names.replicationRole, AssumeRolePolicyDocument: assume}))).Role!.Arn!
    }
    result.regions.push({region: region.name, awsRegion: region.awsRegion, auditBucket: Bucket, queueUrl: queue.QueueUrl!, queueArn, deadLetterQueueUrl: dlq.QueueUrl!, deadLetterQueueArn: dlqArn, replicationRoleArn: roleArn})
  }

  for (const provisioned of result.regions) {
    const names = cloudResourceNames(config.namePrefix, provisioned.region)
    const targets = config.cloud.replication.filter((r) => r.from === provisioned.region)
    const statements: unknown[] = [
      {Sid: 'ReadSourceBucket', Effect: 'Allow', Action: ['s3:GetReplicationConfiguration', 's3:ListBucket'], Resource: [`arn:aws:s3:::${names.auditBucket}`]},
      {Sid: 'ReadSourceObjects', Effect: 'Allow', Action: ['s3:GetObjectVersionForReplication', 's3:GetObjectVersionAcl', 's3:GetObjectVersionTagging'], Resource: [`arn:aws:s3:::${names.auditBucket}/*`]},
      ...targets.map((t) => ({Sid: 'WriteDestinationObjects', Effect: 'Allow', Action: ['s3:ReplicateObject', 's3:ReplicateDelete', 's3:ReplicateTags'], Resource: [`arn:aws:s3:::${cloudResourceNames(config.namePrefix, t.to).auditBucket}/*`]})),
    ]
    await iam.send(new iammod.PutRolePolicyCommand({RoleName: names.replicationRole, PolicyName: `${names.replicationRole}-policy`, PolicyDocument: JSON.stringify({Version: '2012-10-17', Statement: statements})}))
    const target = targets[0]
    if (!target) continue
    try {
      await s3For(provisioned.awsRegion).send(
        new s3mod.PutBucketReplicationCommand({
          Bucket: provisioned.auditBucket,
          ReplicationConfiguration: {
            Role: provisioned.replicationRoleArn,
            Rules: [
              {
                ID: s.replicationRuleId,
                Status: 'Enabled',
                Priority: 1,
                Filter: {Prefix: ''},
                DeleteMarkerReplication: {Status: 'Enabled'},
                Destination: {Bucket: `arn:aws:s3:::${cloudResourceNames(config.namePrefix, target.to).auditBucket}`, StorageClass: 'STANDARD'},
              },
            ],
          },
        }),
      )
      result.replication.push(`${target.from}->${target.to}`)
    } catch (error) {
      result.warnings.push(`replication ${target.from}->${target.to} not applied: ${(error as Error).message}`)
    }
  }
  return result
}
