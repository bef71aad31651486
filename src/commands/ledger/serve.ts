import {Flags} from '@oclif/core'

import type {LedgerServiceStats} from '../../lib/ledger/service.js'

import {AtlasCommand} from '../../lib/command.js'
import {dbFlag, endpointFlag} from '../../lib/ledger/flags.js'

export default class LedgerServe extends AtlasCommand<typeof LedgerServe> {
  static description = `Long-polls the region's queue, applies each request idempotently with the one transfer function, deletes the message only after commit and audit, and writes one audit record per committed transfer to the region's S3 bucket (copied to the replica buckets of the replication rules). Malformed messages are left for the dead-letter queue (after its maxReceiveCount receives).
Serves /healthz, /readyz (ready once the database and the queue answer) and Prometheus /metrics, on the region's port of the world's port block unless --port says otherwise (a port in use: exit 3).
SIGTERM: stops receiving, finishes in-flight messages, exits 0 (Ctrl-C: the same, exit 130).
Every flag has an environment variable (the Helm chart sets them).`
  static examples = [
    '<%= config.bin %> ledger serve --region us',
    'ATLAS_REGION=eu ATLAS_DATABASE_URL=postgres://ledger@db:26257/ledger <%= config.bin %> ledger serve --port 8080 --metrics-port 9464',
  ]
  static flags = {
    region: Flags.string({summary: 'Region this service runs in (default: the primary region).', env: 'ATLAS_REGION'}),
    db: dbFlag,
    endpoint: endpointFlag,
    'queue-url': Flags.string({
      summary: "The region's queue URL (default: from the world, else by name).",
      env: 'ATLAS_QUEUE_URL',
    }),
    'audit-bucket': Flags.string({
      summary: "The region's audit bucket (default: from the world, else by name).",
      env: 'ATLAS_AUDIT_BUCKET',
    }),
    host: Flags.string({summary: 'Address to listen on.', default: '127.0.0.1', env: 'ATLAS_HTTP_HOST'}),
    port: Flags.integer({
      summary:
        "Port of /healthz and /readyz (and /metrics unless --metrics-port). Default: the region's port in the world's port block, else 8080; 0: any free port.",
      env: 'ATLAS_HTTP_PORT',
      min: 0,
      max: 65_535,
    }),
    'metrics-port': Flags.integer({
      summary: 'Separate port for /metrics.',
      env: 'ATLAS_METRICS_PORT',
      min: 0,
      max: 65_535,
    }),
    'wait-seconds': Flags.integer({summary: 'SQS long-poll wait.', default: 20, min: 0, max: 20}),
    'replicate-audit': Flags.boolean({
      summary: 'Copy each audit record to the replica buckets of the replication rules (emulators do not replicate).',
      default: true,
      allowNo: true,
    }),
  }
  static interruptAction = 'shutting down (in-flight messages finish first)'
  static summary = "Run the ledger service: apply transfer requests from the region's SQS queue."

  /** SIGTERM is how a service is told to stop (Kubernetes, systemd): a clean stop, exit 0 */
  protected interruptExitCode(signal: NodeJS.Signals): number {
    return signal === 'SIGTERM' ? 0 : super.interruptExitCode(signal)
  }

  async run(): Promise<{region: string; stats: LedgerServiceStats}> {
    const config = await this.atlasConfig()
    const {flags} = this
    const {LedgerTarget} = await import('../../lib/world/ledger-target.js')
    const {connectTransferPool} = await import('../../lib/ledger/wire/pool.js')
    const {LedgerService} = await import('../../lib/ledger/service.js')
    const target = new LedgerTarget(config, {db: flags.db, endpoint: flags.endpoint})
    const region = target.region(flags.region)
    const awsRegion = process.env.AWS_REGION ?? region.awsRegion
    const queue = await target.transferQueue(region, {queueUrl: flags['queue-url'], awsRegion})
    const audit = await target.auditLog(region, {
      bucket: flags['audit-bucket'],
      replicate: flags['replicate-audit'],
      awsRegion,
    })
    const sql = await connectTransferPool(await target.databaseUrls(), {
      max: 12,
      applicationName: `atlas-ledger-${region.name}`,
    })
    const service = new LedgerService({
      region: region.name,
      sql,
      queue,
      audit,
      waitSeconds: flags['wait-seconds'],
      host: flags.host,
      httpPort: flags.port ?? (await target.servicePort(region)),
      metricsPort: flags['metrics-port'],
      log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
    })
    const {startTracing} = await import('../../lib/ledger/tracing.js')
    const tracing = await startTracing({
      endpoint: config.tracing.otlpEndpoint,
      serviceName: `atlas-ledger-${region.name}`,
    })
    if (tracing.endpoint)
      service.log(
        tracing.exporting
          ? `tracing: exporting spans to ${tracing.endpoint}`
          : `tracing: not exporting to ${tracing.endpoint}: ${tracing.reason}`,
      )
    const signal = this.interruptSignal()
    try {
      const urls = await service.start()
      // the one start line, on stderr with the service's other log lines (so also under --json)
      service.log(
        `ledger service (region ${region.name}) listening on ${urls.httpUrl}; metrics ${urls.metricsUrl}; queue ${queue.queueUrl}; ready: ${service.ready}`,
      )
      await new Promise((resolve) => signal.addEventListener('abort', resolve, {once: true}))
      await service.stop()
      return {region: region.name, stats: service.stats}
    } finally {
      await tracing.stop()
      await sql.end({timeout: 5})
      audit.destroy()
      queue.sqs.destroy()
    }
  }
}
