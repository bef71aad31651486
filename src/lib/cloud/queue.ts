import type {Message, MessageAttributeValue, SQSClient} from '@aws-sdk/client-sqs'

import type {TransferRequest} from '../model/transfer.js'

import {parseTraceparent, TRACEPARENT, type TraceParent} from '../model/trace-context.js'

export interface SendResult {
  /** the request may or may not have been enqueued (network error after sending) */
  ambiguous?: boolean
  ok: boolean
  reason?: string
}

/** The wire format of a transfer request on the queue. */
export const encodeTransferMessage = (request: TransferRequest): string => JSON.stringify(request)

/** Parses and validates a queue message body; undefined for a malformed (poison) message. */
export function decodeTransferMessage(body: string | undefined): TransferRequest | undefined {
  if (!body) return undefined
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return undefined
  }

  if (!value || typeof value !== 'object') return undefined
  const v = value as Record<string, unknown>
  if (
    typeof v.id !== 'string' ||
    typeof v.from !== 'number' ||
    typeof v.to !== 'number' ||
    typeof v.amount !== 'number' ||
    typeof v.originRegion !== 'string'
  ) {
    return undefined
  }

  return {id: v.id, from: v.from, to: v.to, amount: v.amount, originRegion: v.originRegion}
}

/**
 * The W3C trace context of a transfer travels beside the body, as the SQS message attribute
 * `traceparent` (String): the body stays the request, and any consumer that knows trace
 * context finds it where AWS's own instrumentation puts it.
 */
export const encodeTraceAttributes = (traceparent: string): Record<string, MessageAttributeValue> => ({
  [TRACEPARENT]: {DataType: 'String', StringValue: traceparent},
})

/** The trace context a received message carries; undefined when it has none or it is not valid W3C trace context. */
export const decodeTraceAttributes = (message: Pick<Message, 'MessageAttributes'>): TraceParent | undefined =>
  parseTraceparent(message.MessageAttributes?.[TRACEPARENT]?.StringValue)

/** Sends transfer requests to a region's SQS queue (`atlas workload --via queue`). */
export class TransferQueue {
  constructor(
    readonly sqs: SQSClient,
    readonly queueUrl: string,
  ) {}

  async approximateDepth(): Promise<{inFlight: number; visible: number}> {
    const {GetQueueAttributesCommand} = await import('@aws-sdk/client-sqs')
    const result = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    )
    return {
      visible: Number(result.Attributes?.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(result.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
    }
  }

  async delete(receiptHandle: string): Promise<void> {
    const {DeleteMessageCommand} = await import('@aws-sdk/client-sqs')
    await this.sqs.send(new DeleteMessageCommand({QueueUrl: this.queueUrl, ReceiptHandle: receiptHandle}))
  }

  async receive(options: {
    max?: number
    signal?: AbortSignal
    visibilityTimeout?: number
    waitSeconds: number
  }): Promise<Message[]> {
    const {ReceiveMessageCommand} = await import('@aws-sdk/client-sqs')
    const result = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: options.max ?? 10,
        WaitTimeSeconds: options.waitSeconds,
        VisibilityTimeout: options.visibilityTimeout,
        MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
        MessageAttributeNames: [TRACEPARENT],
      }),
      {abortSignal: options.signal},
    )
    return result.Messages ?? []
  }

  /** makes a received message visible again after `seconds` (0: at once) */
  async release(receiptHandle: string, seconds: number): Promise<void> {
    const {ChangeMessageVisibilityCommand} = await import('@aws-sdk/client-sqs')
    await this.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: seconds,
      }),
    )
  }

  /** traceparent: the transfer's W3C trace context, sent as the message attribute `traceparent` */
  async send(request: TransferRequest, traceparent?: string): Promise<SendResult> {
    const {SendMessageCommand} = await import('@aws-sdk/client-sqs')
    try {
      await this.sqs.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: encodeTransferMessage(request),
          MessageAttributes: traceparent ? encodeTraceAttributes(traceparent) : undefined,
        }),
      )
      return {ok: true}
    } catch (error) {
      const status = (error as {$metadata?: {httpStatusCode?: number}}).$metadata?.httpStatusCode
      // a 4xx answer means SQS refused it; anything else may have been enqueued
      const definite = status !== undefined && status >= 400 && status < 500
      return {ok: false, ambiguous: !definite, reason: (error as Error).message}
    }
  }

  async sendRaw(body: string): Promise<void> {
    const {SendMessageCommand} = await import('@aws-sdk/client-sqs')
    await this.sqs.send(new SendMessageCommand({QueueUrl: this.queueUrl, MessageBody: body}))
  }
}

export async function queueUrlByName(sqs: SQSClient, name: string): Promise<string> {
  const {GetQueueUrlCommand} = await import('@aws-sdk/client-sqs')
  const result = await sqs.send(new GetQueueUrlCommand({QueueName: name}))
  return result.QueueUrl!
}
