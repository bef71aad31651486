import {Flags} from '@oclif/core'

import type {LedgerInitResult} from '../../lib/ledger/schema.js'

import {AtlasCommand} from '../../lib/command.js'
import {dbFlag} from '../../lib/ledger/flags.js'

export default class LedgerInit extends AtlasCommand<typeof LedgerInit> {
  static description = `Applies the ledger migrations (accounts, transfers, the mint record) and mints ledger.openingBalance to each of ledger.accounts accounts in one recorded step, so that verify can check conservation against the minted total.
Re-running is a no-op; re-running with different ledger settings is refused (exit 3). The SQL runs unchanged on PostgreSQL and CockroachDB.`
  static examples = [
    '<%= config.bin %> ledger init',
    '<%= config.bin %> ledger init --db postgres://atlas@127.0.0.1:5432/postgres --accounts 1000 --json',
  ]
  static flags = {
    db: dbFlag,
    accounts: Flags.integer({summary: 'Number of accounts (default: config ledger.accounts).', min: 2, max: 1_000_000}),
    'opening-balance': Flags.integer({
      summary: 'Opening balance per account, integer minor units (default: config ledger.openingBalance).',
      min: 0,
    }),
    'allow-negative': Flags.boolean({
      summary: 'Allow negative balances (default: config ledger.allowNegativeBalances).',
      allowNo: true,
    }),
  }
  static summary = 'Create the ledger schema and mint the opening balances (idempotent).'

  async run(): Promise<LedgerInitResult & {database: string}> {
    const config = await this.atlasConfig()
    const {LedgerTarget} = await import('../../lib/world/ledger-target.js')
    const {connectLedger, describeDatabase} = await import('../../lib/ledger/db.js')
    const {initLedger} = await import('../../lib/ledger/schema.js')
    // schema and mint: the superuser (the world's setup role)
    const urls = await new LedgerTarget(config, {db: this.flags.db}).databaseUrls('admin')
    const sql = await connectLedger(urls, {max: 1, applicationName: 'atlas-ledger-init'})
    try {
      const result = await initLedger(sql, {
        accounts: this.flags.accounts ?? config.ledger.accounts,
        openingBalance: this.flags['opening-balance'] ?? config.ledger.openingBalance,
        allowNegativeBalances: this.flags['allow-negative'] ?? config.ledger.allowNegativeBalances,
      })
      const m = result.mint
      this.print(
        result.minted
          ? `ledger initialised: ${m.accounts} accounts × ${m.openingBalance} minted (total ${m.total})${m.allowNegativeBalances ? ', negative balances allowed' : ''}`
          : `ledger already initialised (${m.accounts} accounts, total ${m.total}, minted ${m.mintedAt})${result.migrationsApplied.length > 0 ? `; applied migrations ${result.migrationsApplied.join(', ')}` : ''}`,
      )
      return {...result, database: describeDatabase(urls)}
    } finally {
      await sql.end({timeout: 2})
    }
  }
}
