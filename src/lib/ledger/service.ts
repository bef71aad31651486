import type {Message} from '@aws-sdk/client-sqs'
import type {AddressInfo} from 'node:net'

import http from 'node:http'

import type {AuditLog} from '../cloud/audit.js'
import type {TransferRequest} from '../model/transfer.js'

import {decodeTraceAttributes, decodeTransferMessage, type TransferQueue} from '../cloud/queue.js'
import {PreconditionError} from '../errors.js'
import {traceIdOf} from '../model/trace-context.js'
import {sleep} from '../wait.js'
import {createLedgerMetrics, type LedgerMetrics, type MetricOutcome} from './metrics.js'
import * as q from './sql.js'
import {continueTransfer, endTransfer} from './tracing.js'
import {isAcknowledged, type RetryPolicy, transfer, type TransferResult, type TransferSql} from './transfer.js'

export interface LedgerServiceOptions {
  audit: AuditLog
  /** messages per receive, processed concurrently (max 10) */
  batchSize?: number
  host?: string
  /** /healthz and /readyz (and /metrics when metricsPort is unset or equal); 0 = any free port */
  httpPort?: number
  log?: (line: string) => void
  metricsPort?: number
  queue: TransferQueue
  region: string
  retry?: Partial<RetryPolicy>
  /** after a failed/unknown outcome the message becomes visible again after this many seconds */
  retryDelaySeconds?: number
  /** the pool transfers go through (`ledger serve`: the transfer pool, wire/pool.ts) */
  sql: TransferSql
  /** SQS long-poll wait, seconds (max 20) */
  waitSeconds?: number
}

export interface LedgerServiceStats {
  auditErrors: number
  committed: number
  deleted: number
  duplicates: number
  malformed: number
  received: number
  rejected: number
  released: number
}

/**
 * `atlas ledger serve`: long-polls the region's queue and applies each transfer
 * request with the one transfer function. A message is deleted only after its
 * transfer is committed and audited (or definitely rejected); anything else is
 * released for redelivery, which the idempotency key makes safe. A malformed
 * message is never deleted: after the queue's maxReceiveCount receives, SQS's
 * redrive policy moves it to the dead-letter queue. While the database is
 * unreachable the service stops receiving (so valid messages do not burn their
 * receive count) and /readyz says not ready.
 */
export class LedgerService {
  /** the service's log (timestamped lines on stderr, from the command) */
  readonly log: (line: string) => void
  readonly stats: LedgerServiceStats = {
    received: 0,
    committed: 0,
    duplicates: 0,
    rejected: 0,
    malformed: 0,
    released: 0,
    deleted: 0,
    auditErrors: 0,
  }
  private databaseHealthy = true
  private loop?: Promise<void>
  private metrics?: LedgerMetrics
  private queueHealthy = false
  private running = false
  private servers: http.Server[] = []
  private readonly stopController = new AbortController()

  constructor(private readonly options: LedgerServiceOptions) {
    this.log = options.log ?? (() => {})
  }

  get ready(): boolean {
    return this.running && this.databaseHealthy && this.queueHealthy
  }

  async start(): Promise<{httpUrl: string; metricsUrl: string}> {
    this.metrics = await createLedgerMetrics()
    const host = this.options.host ?? '127.0.0.1'
    const httpServer = await this.listen(
      host,
      this.options.httpPort ?? 8080,
      this.options.metricsPort === undefined || this.options.metricsPort === this.options.httpPort,
    )
    const httpUrl = `http://${host}:${(httpServer.address() as AddressInfo).port}`
    let metricsUrl = `${httpUrl}/metrics`
    if (this.options.metricsPort !== undefined && this.options.metricsPort !== this.options.httpPort) {
      const metricsServer = await this.listen(host, this.options.metricsPort, true, true)
      metricsUrl = `http://${host}:${(metricsServer.address() as AddressInfo).port}/metrics`
    }

    this.running = true
    // ready as soon as both answer, not after the first long poll returns (up to waitSeconds)
    await this.probeDependencies()
    this.loop = this.run()
    this.loop.catch((error) => this.log(`service loop crashed: ${(error as Error).message}`))
    return {httpUrl, metricsUrl}
  }

  /** Clean shutdown: stop receiving, finish in-flight messages (release those not started), close the servers. */
  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.stopController.abort()
    await this.loop?.catch(() => {})
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    this.servers = []
    this.log('ledger service stopped')
  }

  private async apply(
    message: Message,
    request: TransferRequest,
    result: TransferResult,
    traceId: string,
  ): Promise<void> {
    const metrics = this.metrics!
    const {region} = this.options
    metrics.duration.observe({region}, result.latencyMs / 1000)
    const outcome: MetricOutcome =
      result.outcome === 'applied' ? 'committed' : result.outcome === 'already_applied' ? 'duplicate' : result.outcome
    metrics.transfers.inc({region, outcome})
    switch (result.outcome) {
      case 'already_applied':
      case 'applied': {
        if (result.outcome === 'applied') this.stats.committed++
        else this.stats.duplicates++
        try {
          await this.options.audit.record(request, new Date(), traceId)
        } catch (error) {
          // not deleted: the redelivery finds the transfer applied and writes the record again
          this.stats.auditErrors++
          metrics.auditFailures.inc({region})
          this.log(`audit record for ${request.id} (trace ${traceId}) failed: ${(error as Error).message}`)
          await this.release(message, this.options.retryDelaySeconds ?? 2)
          return
        }

        await this.delete(message)
        return
      }

      case 'rejected': {
        this.stats.rejected++
        this.log(`transfer ${request.id} (trace ${traceId}) rejected: ${result.reason}`)
        await this.delete(message)
        return
      }

      default: {
        this.log(
          `transfer ${request.id} (trace ${traceId}) ${result.outcome}: ${result.reason}; released for redelivery`,
        )
        this.databaseHealthy = await this.pingDatabase()
        await this.release(message, this.options.retryDelaySeconds ?? 2)
      }
    }
  }

  private async delete(message: Message): Promise<void> {
    try {
      await this.options.queue.delete(message.ReceiptHandle!)
      this.stats.deleted++
    } catch (error) {
      // the message comes back; the transfer is idempotent
      this.log(`delete of ${message.MessageId} failed: ${(error as Error).message}`)
    }
  }

  private async handle(message: Message): Promise<void> {
    const metrics = this.metrics!
    const {region} = this.options
    const sent = Number(message.Attributes?.SentTimestamp)
    if (Number.isFinite(sent)) metrics.queueLag.set({region}, Math.max(0, (Date.now() - sent) / 1000))
    const request = decodeTransferMessage(message.Body)
    if (!request) {
      // poison: leave it to the redrive policy (visible again at once, so it reaches the DLQ quickly)
      this.stats.malformed++
      metrics.transfers.inc({region, outcome: 'malformed'})
      this.log(
        `malformed message ${message.MessageId} (receive ${message.Attributes?.ApproximateReceiveCount ?? '?'}): left for the dead-letter queue`,
      )
      await this.release(message, 0)
      return
    }

    // the trace the sender started (W3C traceparent in the message attributes) continues here and ends in the audit record
    const traceparent = continueTransfer(request.id, decodeTraceAttributes(message))
    const traceId = traceIdOf(traceparent)
    const result: TransferResult = await transfer(this.options.sql, request, {
      retry: this.options.retry,
      onRetry: () => metrics.retries.inc({region}),
    })
    try {
      await this.apply(message, request, result, traceId)
    } finally {
      endTransfer(traceparent, result.outcome, isAcknowledged(result.outcome))
    }
  }

  private listen(host: string, port: number, withMetrics: boolean, metricsOnly = false): Promise<http.Server> {
    const server = http.createServer((req, res) => {
      void this.serve(req, res, withMetrics, metricsOnly)
    })
    this.servers.push(server)
    return new Promise((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'EADDRINUSE'
            ? new PreconditionError(`port ${host}:${port} is already in use`, {
                code: 'PORT_BUSY',
                hint: `is a ledger service for region ${this.options.region} already running? Stop it, or pass --port (0: any free port)`,
                details: {host, port},
              })
            : error,
        ),
      )
      server.listen(port, host, () => resolve(server))
    })
  }

  /** A bounded probe; on failure the pool is renewed, so a connection the crash left unusable is not reused. */
  private async pingDatabase(): Promise<boolean> {
    const {sql} = this.options
    const generation = sql.generation ?? 0
    let timer: NodeJS.Timeout | undefined
    try {
      const ping = Promise.resolve(sql.unsafe(q.PING, [], {prepare: true}))
      ping.catch(() => {})
      await Promise.race([
        ping,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('ping timed out')), 2000))),
      ])
      return true
    } catch {
      sql.renew?.(generation)
      return false
    } finally {
      clearTimeout(timer)
    }
  }

  /** One cheap call to each dependency: the database (PING) and the queue (its attributes). */
  private async probeDependencies(): Promise<void> {
    const [database, queue] = await Promise.all([
      this.pingDatabase(),
      this.options.queue.approximateDepth().then(
        () => true,
        (error: Error) => {
          this.log(`queue not reachable: ${error.message}`)
          return false
        },
      ),
    ])
    this.databaseHealthy = database
    this.queueHealthy = queue
  }

  private async release(message: Message, seconds: number): Promise<void> {
    try {
      await this.options.queue.release(message.ReceiptHandle!, seconds)
      this.stats.released++
    } catch (error) {
      this.log(
        `release of ${message.MessageId} failed (it returns after the visibility timeout): ${(error as Error).message}`,
      )
    }
  }

  private async run(): Promise<void> {
    const {signal} = this.stopController
    while (this.running) {
      if (!this.databaseHealthy) {
        this.databaseHealthy = await this.pingDatabase()
        if (!this.databaseHealthy) {
          await pauseUnlessStopped(signal)
          continue
        }

        this.log('database reachable again: receiving')
      }

      let messages: Message[]
      try {
        messages = await this.options.queue.receive({
          waitSeconds: this.options.waitSeconds ?? 20,
          max: this.options.batchSize ?? 10,
          signal,
        })
        this.queueHealthy = true
      } catch (error) {
        if (signal.aborted) break
        this.queueHealthy = false
        this.log(`receive failed: ${(error as Error).message}`)
        await pauseUnlessStopped(signal)
        continue
      }

      this.stats.received += messages.length
      // a stop during the receive: hand the messages back at once
      if (!this.running) {
        await Promise.all(messages.map((m) => this.release(m, 0)))
        break
      }

      await Promise.all(messages.map((m) => this.handle(m)))
    }
  }

  private async serve(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    withMetrics: boolean,
    metricsOnly: boolean,
  ): Promise<void> {
    const url = (req.url ?? '/').split('?')[0]
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, {'content-type': type})
      res.end(body)
    }

    if (url === '/metrics' && withMetrics) {
      send(200, await this.metrics!.registry.metrics(), this.metrics!.registry.contentType)
    } else if (metricsOnly) {
      send(404, 'not found\n')
    } else if (url === '/healthz') {
      send(this.running ? 200 : 503, this.running ? 'ok\n' : 'stopping\n')
    } else if (url === '/readyz') {
      const body = JSON.stringify({
        ready: this.ready,
        database: this.databaseHealthy,
        queue: this.queueHealthy,
        stats: this.stats,
      })
      send(this.ready ? 200 : 503, `${body}\n`, 'application/json')
    } else send(404, 'not found\n')
  }
}

/** A second before trying again; a stop ends it early (the loop then sees it is no longer running). */
function pauseUnlessStopped(signal: AbortSignal): Promise<void> {
  return sleep(1000, signal).catch(() => {})
}
