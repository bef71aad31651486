import type {IAMClient} from '@aws-sdk/client-iam'

import type {AtlasConfig, Region} from '../config/schema.js'
import type {CloudEndpoint} from '../model/endpoints.js'

import {dataRegions} from '../config/regions.js'
import {iamClient, s3Client, sqsClient} from './clients.js'
import {cloudResourceNames, DLQ_MAX_RECEIVE_COUNT} from './names.js'

/**
 * The settings terraform/modules/region declares (its variable defaults and fixed
 * attributes), for the SDK provisioner. test/unit/cloud/local-settings.test.ts
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
  auditBucket: string
  awsRegion: string
  deadLetterQueueArn: string
  deadLetterQueueUrl: string
  queueArn: string
  queueUrl: string
  region: string
  replicationRoleArn: string
}

export interface ProvisionResult {
  regions: ProvisionedRegion[]
  /** "from->to" rules applied */
  replication: string[]
  /** what could not be applied, and why (an emulator limitation) */
  warnings: string[]
}

/** Overrides for tests that need a poison message in the DLQ after fewer receives, or faster redelivery. */
export interface QueueOverrides {
  maxReceiveCount?: number
  visibilityTimeoutSeconds?: number
}

/**
 * Creates through the AWS SDK what terraform/modules/region declares for one data
 * region: the audit bucket (versioned, AES256, public access blocked, lifecycle),
 * the transaction queue with its DLQ and redrive-allow policy, and the replication
 * IAM role. Idempotent: existing resources get the declared settings again.
 */
export async function provisionRegion(
  cloud: CloudEndpoint,
  prefix: string,
  region: Pick<Region, 'awsRegion' | 'name'>,
  options: QueueOverrides & {iam?: IAMClient; warnings?: string[]} = {},
): Promise<ProvisionedRegion> {
  const [s3mod, sqsmod, iammod] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('@aws-sdk/client-sqs'),
    import('@aws-sdk/client-iam'),
  ])
  const s = REGION_STACK_SETTINGS
  const names = cloudResourceNames(prefix, region.name)
  const s3 = await s3Client(cloud, region.awsRegion)
  const sqs = await sqsClient(cloud, region.awsRegion)
  const iam = options.iam ?? (await iamClient(cloud))
  const Bucket = names.auditBucket
  try {
    try {
      await s3.send(
        new s3mod.CreateBucketCommand({
          Bucket,
          ...(region.awsRegion === 'us-east-1'
            ? {}
            : {CreateBucketConfiguration: {LocationConstraint: region.awsRegion as never}}),
        }),
      )
    } catch (error) {
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((error as Error).name)) throw error
    }

    // replication requires versioning on both ends
    await s3.send(new s3mod.PutBucketVersioningCommand({Bucket, VersioningConfiguration: {Status: 'Enabled'}}))
    await s3.send(
      new s3mod.PutBucketEncryptionCommand({
        Bucket,
        ServerSideEncryptionConfiguration: {
          Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: s.sseAlgorithm}}],
        },
      }),
    )
    await s3.send(
      new s3mod.PutPublicAccessBlockCommand({
        Bucket,
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      }),
    )
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

    const dlq = await sqs.send(
      new sqsmod.CreateQueueCommand({
        QueueName: names.deadLetterQueue,
        Attributes: {MessageRetentionPeriod: String(s.deadLetterRetentionSeconds), SqsManagedSseEnabled: 'true'},
      }),
    )
    const dlqArn = (
      await sqs.send(new sqsmod.GetQueueAttributesCommand({QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn']}))
    ).Attributes!.QueueArn!
    const queue = await sqs.send(
      new sqsmod.CreateQueueCommand({
        QueueName: names.queue,
        Attributes: {
          VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? s.queueVisibilityTimeoutSeconds),
          SqsManagedSseEnabled: 'true',
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: dlqArn,
            maxReceiveCount: options.maxReceiveCount ?? s.queueMaxReceiveCount,
          }),
        },
      }),
    )
    const queueArn = (
      await sqs.send(new sqsmod.GetQueueAttributesCommand({QueueUrl: queue.QueueUrl, AttributeNames: ['QueueArn']}))
    ).Attributes!.QueueArn!
    try {
      await sqs.send(
        new sqsmod.SetQueueAttributesCommand({
          QueueUrl: dlq.QueueUrl,
          Attributes: {RedriveAllowPolicy: JSON.stringify({redrivePermission: 'byQueue', sourceQueueArns: [queueArn]})},
        }),
      )
    } catch (error) {
      options.warnings?.push(`${names.deadLetterQueue}: redrive-allow policy not applied (${(error as Error).message})`)
    }

    const assume = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{Effect: 'Allow', Action: ['sts:AssumeRole'], Principal: {Service: ['s3.amazonaws.com']}}],
    })
    let roleArn: string
    try {
      roleArn = (await iam.send(new iammod.GetRoleCommand({RoleName: names.replicationRole}))).Role!.Arn!
    } catch {
      roleArn = (
        await iam.send(
          new iammod.CreateRoleCommand({RoleName: names.replicationRole, AssumeRolePolicyDocument: assume}),
        )
      ).Role!.Arn!
    }

    return {
      region: region.name,
      awsRegion: region.awsRegion,
      auditBucket: Bucket,
      queueUrl: queue.QueueUrl!,
      queueArn,
      deadLetterQueueUrl: dlq.QueueUrl!,
      deadLetterQueueArn: dlqArn,
      replicationRoleArn: roleArn,
    }
  } finally {
    s3.destroy()
    sqs.destroy()
    if (!options.iam) iam.destroy()
  }
}

/**
 * Everything terraform/modules/region declares, for every data region (the witness
 * has none), then the replication role policy and bucket replication per
 * config.cloud.replication. The local world uses this instead of Terraform, whose
 * AWS provider cannot always be downloaded. The SDK is imported lazily.
 */
export async function provisionCloud(config: AtlasConfig, cloud: CloudEndpoint): Promise<ProvisionResult> {
  const [s3mod, iammod] = await Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/client-iam')])
  const iam = await iamClient(cloud)
  const result: ProvisionResult = {regions: [], replication: [], warnings: []}
  try {
    for (const region of dataRegions(config)) {
      result.regions.push(await provisionRegion(cloud, config.namePrefix, region, {iam, warnings: result.warnings}))
    }

    for (const provisioned of result.regions) {
      const names = cloudResourceNames(config.namePrefix, provisioned.region)
      const targets = config.cloud.replication.filter((r) => r.from === provisioned.region)
      const statements: unknown[] = [
        {
          Sid: 'ReadSourceBucket',
          Effect: 'Allow',
          Action: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
          Resource: [`arn:aws:s3:::${names.auditBucket}`],
        },
        {
          Sid: 'ReadSourceObjects',
          Effect: 'Allow',
          Action: ['s3:GetObjectVersionForReplication', 's3:GetObjectVersionAcl', 's3:GetObjectVersionTagging'],
          Resource: [`arn:aws:s3:::${names.auditBucket}/*`],
        },
        ...targets.map((t) => ({
          Sid: 'WriteDestinationObjects',
          Effect: 'Allow',
          Action: ['s3:ReplicateObject', 's3:ReplicateDelete', 's3:ReplicateTags'],
          Resource: [`arn:aws:s3:::${cloudResourceNames(config.namePrefix, t.to).auditBucket}/*`],
        })),
      ]
      await iam.send(
        new iammod.PutRolePolicyCommand({
          RoleName: names.replicationRole,
          PolicyName: `${names.replicationRole}-policy`,
          PolicyDocument: JSON.stringify({Version: '2012-10-17', Statement: statements}),
        }),
      )
      const target = targets[0]
      if (!target) continue
      const s3 = await s3Client(cloud, provisioned.awsRegion)
      try {
        await s3.send(
          new s3mod.PutBucketReplicationCommand({
            Bucket: provisioned.auditBucket,
            ReplicationConfiguration: {
              Role: provisioned.replicationRoleArn,
              Rules: [
                {
                  ID: REGION_STACK_SETTINGS.replicationRuleId,
                  Status: 'Enabled',
                  Priority: 1,
                  Filter: {Prefix: ''},
                  DeleteMarkerReplication: {Status: 'Enabled'},
                  Destination: {
                    Bucket: `arn:aws:s3:::${cloudResourceNames(config.namePrefix, target.to).auditBucket}`,
                    StorageClass: 'STANDARD',
                  },
                },
              ],
            },
          }),
        )
        result.replication.push(`${target.from}->${target.to}`)
      } catch (error) {
        result.warnings.push(`replication ${target.from}->${target.to} not applied: ${(error as Error).message}`)
      } finally {
        s3.destroy()
      }
    }

    if (config.cloud.replication.length > 0) {
      result.warnings.push(
        'emulators store the replication configuration but do not copy objects: the ledger service and the workload write each audit record to the replica bucket themselves',
      )
    }
  } finally {
    iam.destroy()
  }

  return result
}
