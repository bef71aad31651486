import type {IAMClient} from '@aws-sdk/client-iam'
import type {S3Client} from '@aws-sdk/client-s3'
import type {SQSClient} from '@aws-sdk/client-sqs'

import type {CloudEndpoint} from '../model/endpoints.js'

// Atlas supports Node 20 on purpose; the SDK's notice about its future Node 22
// requirement would otherwise land on stderr of every command that touches S3/SQS.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

/** S3 against an emulator (LocalStack or moto): path-style, test credentials. Lazily imported: the SDK is heavy. */
export async function s3Client(cloud: CloudEndpoint, awsRegion: string): Promise<S3Client> {
  const {S3Client} = await import('@aws-sdk/client-s3')
  return new S3Client({
    endpoint: cloud.endpoint,
    region: awsRegion,
    forcePathStyle: true,
    credentials: {accessKeyId: cloud.accessKeyId, secretAccessKey: cloud.secretAccessKey},
    maxAttempts: 3,
  })
}

export async function sqsClient(cloud: CloudEndpoint, awsRegion: string): Promise<SQSClient> {
  const {SQSClient} = await import('@aws-sdk/client-sqs')
  return new SQSClient({
    endpoint: cloud.endpoint,
    region: awsRegion,
    credentials: {accessKeyId: cloud.accessKeyId, secretAccessKey: cloud.secretAccessKey},
    maxAttempts: 3,
  })
}

/** Emulators accept any credentials; these are the conventional test values (never real ones). */
export function emulatorEndpoint(endpoint: string): CloudEndpoint {
  return {
    endpoint,
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
  }
}

export async function iamClient(cloud: CloudEndpoint): Promise<IAMClient> {
  const {IAMClient} = await import('@aws-sdk/client-iam')
  // IAM is global; emulators serve it under us-east-1
  return new IAMClient({
    endpoint: cloud.endpoint,
    region: 'us-east-1',
    credentials: {accessKeyId: cloud.accessKeyId, secretAccessKey: cloud.secretAccessKey},
    maxAttempts: 3,
  })
}
