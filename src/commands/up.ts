import {Flags} from '@oclif/core'

import type {UpResult} from '../lib/world/types.js'

import {AtlasCommand} from '../lib/command.js'
import {baseDirFlag, driverFlag, dryRunFlag} from '../lib/flags.js'
import {redact} from '../lib/redact.js'

export default class Up extends AtlasCommand<typeof Up> {
  static description = `Local world (no Docker): per region an etcd member and a Patroni-managed PostgreSQL node with synchronous replication, plus one moto server for S3/SQS/IAM, all on loopback; state, logs and reports under local.baseDir (.atlas).
Idempotent: a running world is reported, not started twice; processes that died are started again with the same configuration. Patroni's dynamic configuration in etcd (ttl, loop_wait, retry_timeout, synchronous mode, ...), written when the cluster was made, is set to this version's values where it differs (the result's \`reconciled\`, old → new).`
  static examples = [
    '<%= config.bin %> up',
    '<%= config.bin %> up --driver local --json',
    '<%= config.bin %> up --dry-run',
  ]
  static flags = {
    driver: driverFlag,
    'dry-run': dryRunFlag,
    'base-dir': baseDirFlag,
    provisioner: Flags.option({
      options: ['sdk', 'terraform'] as const,
      summary:
        'Local world: create the S3/SQS/IAM resources with the AWS SDK (default), or with terraform/ against moto (needs `terraform init` to download the AWS provider).',
      default: 'sdk' as const,
    })(),
    monitoring: Flags.boolean({
      summary:
        'Local world: start Prometheus, Alertmanager and a postgres_exporter per region where they are installed; --no-monitoring leaves them out.',
      allowNo: true,
      default: true,
    }),
  }
  static interruptAction =
    'stopping; what already started keeps running (`atlas down` stops it, `atlas up` completes it)'
  static summary = 'Stand up the world: three regions, the ledger database, the cloud emulator and the ledger schema.'

  async run(): Promise<UpResult> {
    const config = await this.atlasConfig()
    const {createWorld} = await import('../lib/world/index.js')
    const world = await createWorld(config, {
      driver: this.flags.driver,
      baseDir: this.flags['base-dir'],
      provisioner: this.flags.provisioner,
    })
    const result = await world.up({
      dryRun: this.flags['dry-run'],
      progress: await this.progress(),
      signal: this.interruptSignal(),
      monitoring: this.flags.monitoring,
    })
    await this.finishProgress()
    if (result.dryRun) {
      const {formatPlan} = await import('../lib/world/plan-format.js')
      this.print(`would run (${result.driver} world):`)
      this.print(formatPlan(result))
      if (result.missingTools?.length)
        this.print(`missing tools: ${result.missingTools.join(', ')} (see \`atlas doctor\`)`)
      return result
    }

    this.print(
      result.started
        ? `${result.driver} world is up (${result.durationSeconds.toFixed(1)} s)`
        : `${result.driver} world is already running; nothing started`,
    )
    for (const r of result.regions) {
      const parts = [
        r.databaseUrl ? `db ${r.databaseUrl}` : undefined,
        r.auditBucket ? `bucket ${r.auditBucket}` : undefined,
        r.queueUrl ? `queue ${r.queueUrl}` : undefined,
      ].filter(Boolean)
      this.print(redact(`  ${r.region.padEnd(8)} ${parts.join('  ')}`))
    }

    if (result.reconciled?.length) {
      const {formatConfigChanges} = await import('../lib/world/plan-format.js')
      this.print(`  patroni: set this version's dynamic configuration: ${formatConfigChanges(result.reconciled)}`)
    }

    if (result.monitoring?.enabled)
      this.print(
        `  monitoring: Prometheus ${result.monitoring.prometheusUrl}  Alertmanager ${result.monitoring.alertmanagerUrl}`,
      )
    else if (result.monitoring) this.print(`  monitoring: off (${result.monitoring.reason})`)
    this.print('next: `atlas status`, `atlas blast-radius --region us`')
    return result
  }
}
