import type {S3Client} from '@aws-sdk/client-s3'

import type {TransferRequest} from '../model/transfer.js'

/** Audit objects are keyed by transfer id, so a bucket listing comes back in id order (merge-joinable). */
export const AUDIT_PREFIX = 'transfers/'
export const auditKey = (id: string): string => `${AUDIT_PREFIX}${id.toLowerCase()}.json`
export const idFromAuditKey = (key: string): string | undefined => /^transfers\/([0-9a-f-]{36})\.json$/.exec(key)?.[1]

export interface AuditRecord {
  amount: number
  committedAt: string
  from: number
  id: string
  originRegion: string
  to: number
  /** the W3C trace id (32 hex) of the transfer: the same id in the queue message, the service's log and any exported spans */
  traceId?: string
}

export interface AuditTarget {
  bucket: string
  s3: S3Client
}

/**
 * One audit record per committed transfer, in the origin region's bucket.
 * Writing is idempotent (same key, same content), so the retry of a transfer
 * that was already applied rewrites the record instead of losing it.
 *
 * copyTo emulates S3 cross-region replication for emulators that store the
 * replication configuration but never copy objects (moto): the record is copied
 * to each replica bucket after the primary write.
 */
export class AuditLog {
  constructor(
    private readonly primary: AuditTarget,
    private readonly copyTo: AuditTarget[] = [],
  ) {}

  get bucket(): string {
    return this.primary.bucket
  }

  /** closes the S3 clients (their keep-alive sockets would hold the process open) */
  destroy(): void {
    for (const target of [this.primary, ...this.copyTo]) target.s3.destroy()
  }

  /** traceId: the transfer's trace id, kept in the record so one transfer can be followed from request to audit object */
  async record(request: TransferRequest, committedAt: Date, traceId?: string): Promise<void> {
    const {PutObjectCommand} = await import('@aws-sdk/client-s3')
    const record: AuditRecord = {
      id: request.id,
      from: request.from,
      to: request.to,
      amount: request.amount,
      originRegion: request.originRegion,
      committedAt: committedAt.toISOString(),
      traceId,
    }
    const body = JSON.stringify(record)
    await this.primary.s3.send(
      new PutObjectCommand({
        Bucket: this.primary.bucket,
        Key: auditKey(request.id),
        Body: body,
        ContentType: 'application/json',
      }),
    )
    for (const replica of this.copyTo) {
      await replica.s3.send(
        new PutObjectCommand({
          Bucket: replica.bucket,
          Key: auditKey(request.id),
          Body: body,
          ContentType: 'application/json',
        }),
      )
    }
  }
}

/** Audit ids in a bucket, in key (= id) order, page by page: constant memory. */
export async function* listAuditIds(target: AuditTarget, startAfterId?: string): AsyncGenerator<string> {
  const {ListObjectsV2Command} = await import('@aws-sdk/client-s3')
  let token: string | undefined
  const startAfter = startAfterId ? auditKey(startAfterId) : undefined
  do {
    const page = await target.s3.send(
      new ListObjectsV2Command({
        Bucket: target.bucket,
        Prefix: AUDIT_PREFIX,
        ContinuationToken: token,
        StartAfter: token ? undefined : startAfter,
        MaxKeys: 1000,
      }),
    )
    for (const object of page.Contents ?? []) {
      const id = object.Key ? idFromAuditKey(object.Key) : undefined
      if (id) yield id
    }

    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
}

/** The audit record of a transfer, or undefined when there is none (404). */
export async function readAuditRecord(target: AuditTarget, id: string): Promise<AuditRecord | undefined> {
  const {GetObjectCommand} = await import('@aws-sdk/client-s3')
  try {
    const object = await target.s3.send(new GetObjectCommand({Bucket: target.bucket, Key: auditKey(id)}))
    return JSON.parse(await object.Body!.transformToString()) as AuditRecord
  } catch (error) {
    const status = (error as {$metadata?: {httpStatusCode?: number}}).$metadata?.httpStatusCode
    if (status === 404 || (error as Error).name === 'NoSuchKey' || (error as Error).name === 'NotFound')
      return undefined
    throw error
  }
}

export async function auditRecordExists(target: AuditTarget, id: string): Promise<boolean> {
  const {HeadObjectCommand} = await import('@aws-sdk/client-s3')
  try {
    await target.s3.send(new HeadObjectCommand({Bucket: target.bucket, Key: auditKey(id)}))
    return true
  } catch (error) {
    const status = (error as {$metadata?: {httpStatusCode?: number}}).$metadata?.httpStatusCode
    if (status === 404 || (error as Error).name === 'NotFound' || (error as Error).name === 'NoSuchKey') return false
    throw error
  }
}

export async function deleteAuditRecord(target: AuditTarget, id: string): Promise<void> {
  const {DeleteObjectCommand} = await import('@aws-sdk/client-s3')
  await target.s3.send(new DeleteObjectCommand({Bucket: target.bucket, Key: auditKey(id)}))
}
