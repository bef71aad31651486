import {Flags} from '@oclif/core'

import type {AuditOptions, VerifyResult} from '../lib/ledger/verify/index.js'

import {AtlasCommand} from '../lib/command.js'
import {ExitCode} from '../lib/errors.js'
import {durationFlag} from '../lib/flags.js'
import {dbFlag, endpointFlag} from '../lib/ledger/flags.js'

export default class Verify extends AtlasCommand<typeof Verify> {
  static description = `--ledger-balance checks, streaming in constant memory:
  conservation   the balances sum to the recorded minted total
  replay         each balance = opening + incoming - outgoing transfers
  balances       no negative balance where the schema forbids them
  duplicates     no transfer stored twice
  durability     every transfer a workload saw acknowledged is stored (needs a run log)
  phantoms       every stored transfer was attempted by a client (needs a run log)
  integrity      every stored transfer equals what the client sent (from, to, amount in the run log) and what its audit record says (--audit); no id was sent twice with different contents
  audit          every committed transfer has its S3 audit record and, where replication is on, its copy in the other region's bucket (--audit)
Run logs: every transfers.log of this ledger in the world's runs directory (<baseDir>/runs, and run directories outside it that a workload recorded in runs/index.txt), plus each --run-dir; --only-run-dir reads the --run-dir logs alone.
Prints a summary and each violation with the transfer and account ids involved; a long verify reports its phase and the rows read every few seconds (stderr).
Exit 0: all hold; 4: a violation; 3: the database did not answer within --timeout (the host is named).`
  static examples = [
    '<%= config.bin %> verify --ledger-balance',
    '<%= config.bin %> verify --ledger-balance --run-dir .atlas/runs/2026-01-01T00-00-00-000Z --audit --json',
  ]
  static flags = {
    'ledger-balance': Flags.boolean({
      summary: 'Check the ledger invariants (the default and, for now, only check).',
      default: true,
      allowNo: false,
    }),
    db: dbFlag,
    endpoint: endpointFlag,
    'run-dir': Flags.string({
      summary: "Run directory (or transfers.log) of a workload to read besides the world's run logs; repeatable.",
      multiple: true,
    }),
    'only-run-dir': Flags.boolean({
      summary:
        'Read only the --run-dir logs, not every run log of the world (none given: no durability/phantom checks).',
      default: false,
    }),
    audit: Flags.boolean({summary: 'Also check the S3 audit records and their replicated copies.', default: false}),
    'audit-timeout': durationFlag({
      summary: 'How long to poll for audit records missing at first (asynchronous replication).',
      default: '10s',
      range: {min: '0s', max: '1h'},
    }),
    timeout: durationFlag({
      summary:
        'How long one statement or connection may go unanswered before verify gives up (exit 3, naming the host).',
      default: '1m',
      range: {min: '100ms', max: '24h'},
    }),
    'max-listed': Flags.integer({
      summary: 'List at most this many violations per kind (all are counted).',
      default: 100,
      min: 1,
    }),
  }
  static summary = 'Prove no money was lost or created: check every ledger invariant (exit 4 on any violation).'

  async run(): Promise<VerifyResult> {
    const config = await this.atlasConfig()
    const {LedgerTarget} = await import('../lib/world/ledger-target.js')
    const {verifyLedger, formatVerifyReport} = await import('../lib/ledger/verify/index.js')
    const timeoutMs = this.flags.timeout
    const target = new LedgerTarget(config, {db: this.flags.db, endpoint: this.flags.endpoint})
    // read-only: verify never writes
    const urls = await target.databaseUrls('verify')
    const progress = await this.progress()
    const auditBuckets = this.flags.audit ? await target.auditBuckets() : undefined
    try {
      const audit: AuditOptions | undefined = auditBuckets && {
        buckets: auditBuckets.buckets,
        replication: config.cloud.replication,
        timeoutMs: this.flags['audit-timeout'],
      }
      const result = await verifyLedger({
        db: urls,
        runLogs: this.flags['run-dir'],
        runsDir: this.flags['only-run-dir'] ? undefined : await target.runsDir(),
        onlyGivenRunLogs: this.flags['only-run-dir'],
        audit,
        maxListed: this.flags['max-listed'],
        timeoutMs,
        signal: this.interruptSignal(),
        onProgress: (message) => progress.info(message),
      })
      this.print(formatVerifyReport(result))
      if (!result.ok) this.setExitCode(ExitCode.InvariantViolated)
      return result
    } finally {
      auditBuckets?.destroy()
    }
  }
}
