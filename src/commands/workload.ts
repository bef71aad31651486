import {Flags} from '@oclif/core'

import type {WorkloadResult, WorkloadStats} from '../lib/ledger/workload/index.js'

import {AtlasCommand} from '../lib/command.js'
import {UsageError} from '../lib/errors.js'
import {durationFlag} from '../lib/flags.js'
import {describeDatabase} from '../lib/ledger/db.js'
import {dbFlag, endpointFlag, pipelineFlag} from '../lib/ledger/flags.js'

const WORKLOAD_DURATION = {min: '1s', max: '24h'}

export default class Workload extends AtlasCommand<typeof Workload> {
  static description = `Moves random amounts between random accounts from --concurrency workers, straight to the database (reconnecting to whichever node is writable) or, with --via queue, as requests on the region's SQS queue for \`atlas ledger serve\`.
Every attempted, acknowledged, unknown and failed transfer id is appended to <run-dir>/transfers.log before it is counted; pass the same --run-dir to \`atlas verify\` to check durability and phantoms.
Live progress (tps, p50/p99 latency, errors, unknowns) goes to stderr. Ctrl-C stops it cleanly.`
  static examples = [
    '<%= config.bin %> workload --duration 30s',
    '<%= config.bin %> workload --duration 30s --concurrency 16 --hot-accounts 10',
    '<%= config.bin %> workload --count 1000 --rate 200 --run-dir .atlas/runs/demo',
    '<%= config.bin %> workload --via queue --region eu --duration 1m',
  ]
  static flags = {
    db: dbFlag,
    endpoint: endpointFlag,
    via: Flags.option({
      options: ['db', 'queue'] as const,
      default: 'db' as const,
      summary: "Send transfers to the database directly, or to the region's SQS queue.",
    })(),
    region: Flags.string({
      summary: 'Origin region of the transfers (and the queue with --via queue). Default: the primary region.',
    }),
    'hot-accounts': Flags.integer({
      summary: 'Move money only between accounts 1..N, for contention (default: all minted accounts).',
      aliases: ['accounts'],
      min: 2,
    }),
    // 4 workers on the default 100 accounts retry ~3% of transfers (8: ~9%, more under synchronous replication); --hot-accounts adds contention on purpose
    concurrency: Flags.integer({
      char: 'n',
      summary: 'Concurrent workers: database connections (with --via queue, senders).',
      default: 4,
      min: 1,
      max: 256,
    }),
    pipeline: pipelineFlag,
    duration: durationFlag({char: 'd', summary: 'Stop after this long (e.g. 30s, 5m).', range: WORKLOAD_DURATION}),
    count: Flags.integer({summary: 'Stop after this many transfers.', min: 1}),
    rate: Flags.integer({summary: 'Transfers per second across all workers (default: as fast as possible).', min: 1}),
    'max-amount': Flags.integer({summary: 'Amounts are uniform in 1..max-amount minor units.', default: 100, min: 1}),
    'run-dir': Flags.string({summary: 'Where the run log goes (default: <baseDir>/runs/<timestamp>).'}),
    audit: Flags.boolean({
      summary: 'Write an S3 audit record per acknowledged transfer (direct mode); --no-audit to skip.',
      allowNo: true,
      default: true,
    }),
  }
  static summary = 'Run a transfer workload against the ledger and log every attempt and acknowledgement.'

  async run(): Promise<WorkloadResult> {
    const config = await this.atlasConfig()
    const {flags} = this
    if (!flags.duration && !flags.count)
      throw new UsageError('give --duration or --count', {hint: 'e.g. atlas workload --duration 30s'})
    const {LedgerTarget} = await import('../lib/world/ledger-target.js')
    const {startWorkload, defaultRunDir} = await import('../lib/ledger/workload/index.js')
    const target = new LedgerTarget(config, {db: flags.db, endpoint: flags.endpoint})
    const region = target.region(flags.region)
    if (region.role === 'witness')
      throw new UsageError(`region "${region.name}" is a witness: it has no queue and takes no transfers`)
    const durationMs = flags.duration
    const runsDir = await target.runsDir()
    const runDir = flags['run-dir'] ?? defaultRunDir(runsDir)

    let queue: import('../lib/cloud/queue.js').TransferQueue | undefined
    let audit: import('../lib/cloud/audit.js').AuditLog | undefined
    const cleanups: Array<() => void> = []
    if (flags.via === 'queue') {
      const q = await target.transferQueue(region)
      queue = q
      cleanups.push(() => q.sqs.destroy())
    } else if (flags.audit && (flags.endpoint || config.cloud.endpoint || !flags.db)) {
      const log = await target.auditLog(region)
      audit = log
      cleanups.push(() => log.destroy())
    } else if (flags.audit) {
      ;(await this.progress()).info('no cloud endpoint known (--db without --endpoint): no audit records are written')
    }

    const db = flags.via === 'db' || flags['hot-accounts'] === undefined ? await target.databaseUrls() : undefined
    const progress = await this.progress()
    const {startTracing} = await import('../lib/ledger/tracing.js')
    const tracing = await startTracing({endpoint: config.tracing.otlpEndpoint, serviceName: 'atlas-workload'})
    if (tracing.reason) progress.info(`tracing: not exporting to ${tracing.endpoint}: ${tracing.reason}`)
    else if (tracing.exporting) progress.info(`tracing: exporting spans to ${tracing.endpoint}`)
    try {
      const handle = await startWorkload({
        db,
        via: flags.via,
        queue,
        audit,
        accounts: flags['hot-accounts'],
        concurrency: flags.concurrency,
        pipeline: flags.pipeline,
        durationMs,
        count: flags.count,
        rate: flags.rate,
        maxAmount: flags['max-amount'],
        originRegion: region.name,
        runDir,
        runsDir,
        signal: this.interruptSignal(),
        onProgress: (stats) => progress.info(formatProgress(stats)),
      })
      progress.info(
        flags.via === 'queue'
          ? `workload: ${flags.concurrency} senders via queue ${region.name}, run log ${runDir}`
          : `workload: ${flags.concurrency} connections to the database, ${handle.pipeline} transfer${handle.pipeline === 1 ? '' : 's'} in flight on each, run log ${runDir}`,
      )
      // against the world (no --db): its Prometheus scrapes this workload's counters while it runs
      const monitoring = flags.db
        ? undefined
        : await target.world().then(
            (w) => w.monitoring,
            () => {},
          )
      if (monitoring) {
        const {serveWorkloadMetrics} = await import('../lib/monitoring/workload-metrics.js')
        cleanups.push(
          await serveWorkloadMetrics(
            monitoring.workloadMetricsAddress(),
            () => handle.stats(),
            region.name,
            (m) => progress.info(m),
          ),
        )
      }

      const result = await handle.done
      const s = result.stats
      this.print(
        `${s.attempted} attempted: ${flags.via === 'queue' ? `${s.sent} sent to the queue` : `${s.acknowledged} acknowledged`}, ${s.rejected} rejected, ${s.failed} failed, ${s.unknown} unknown${s.unknownResolved ? ` (${s.unknownResolved} settled afterwards by a retry under the same key)` : ''}; ${s.averageTps} tps, p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, ${s.retries} retries`,
      )
      this.print(`run log: ${result.runLog}`)
      if (s.unknown > s.unknownResolved)
        this.print(`${s.unknown - s.unknownResolved} outcome(s) still unknown: verify tells which committed`)
      this.print(
        `verify: ${verifyCommand(runDir, {db: flags.db, endpoint: flags.endpoint, audit: audit !== undefined})}`,
      )
      return result
    } finally {
      for (const cleanup of cleanups) cleanup()
      await tracing.stop()
    }
  }
}

/** The `atlas verify` command that checks this run (the --db password masked). */
function verifyCommand(runDir: string, options: {audit: boolean; db?: string; endpoint?: string}): string {
  const parts = ['atlas verify --ledger-balance', `--run-dir ${shellQuote(runDir)}`]
  // a --db from ATLAS_DATABASE_URL is in the environment for verify too
  if (options.db && options.db !== process.env.ATLAS_DATABASE_URL)
    parts.push(`--db ${shellQuote(describeDatabase(options.db))}`)
  if (options.audit) parts.push('--audit')
  if (options.audit && options.endpoint && options.endpoint !== process.env.AWS_ENDPOINT_URL)
    parts.push(`--endpoint ${shellQuote(options.endpoint)}`)
  return parts.join(' ')
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", String.raw`'\''`)}'`
}

export function formatProgress(s: WorkloadStats): string {
  const done = s.sent > 0 ? `${s.sent} sent` : `${s.acknowledged} acked`
  return `${s.elapsedSeconds.toFixed(0).padStart(4)}s  ${done}  ${s.tps} tps  p50 ${s.latencyMs.p50} ms  p99 ${s.latencyMs.p99} ms  errors ${s.rejected + s.failed}  unknown ${s.unknown}  retries ${s.retries}${s.recentErrors.length > 0 ? `  last error: ${s.recentErrors.at(-1)}` : ''}`
}
