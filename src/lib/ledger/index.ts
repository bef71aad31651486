/**
 * The ledger library: what worlds, commands and the blast-radius orchestrator call.
 * Heavy clients (postgres, AWS SDK) are loaded lazily inside the functions.
 */
import type {AtlasConfig} from '../config/schema.js'
import {connectLedger} from './db.js'
import {initLedger, type LedgerInitResult} from './schema.js'

export {combineDatabaseUrls, connectLedger, describeDatabase, type LedgerSql} from './db.js'
export {initLedger, readMint, requireMint, type LedgerInitOptions, type LedgerInitResult, type MintRecord} from './schema.js'
export {transfer, isAcknowledged, classifyError, type TransferRequest, type TransferResult, type TransferOutcome, type RetryPolicy} from './transfer.js'
export {startWorkload, runWorkload, defaultRunDir, type WorkloadOptions, type WorkloadHandle, type WorkloadResult, type WorkloadStats} from './workload.js'
export {verifyLedger, formatVerifyReport, type VerifyOptions, type VerifyResult, type Violation, type ViolationKind, type AuditOptions} from './verify.js'
export {RUN_LOG_FILE} from './runlog.js'

/** Schema + mint from the config's ledger settings (what `atlas up` runs after the database is up). */
export async function initSchema(databaseUrls: string | string[], config: AtlasConfig): Promise<LedgerInitResult> {
  const sql = await connectLedger(databaseUrls, {max: 1, applicationName: 'atlas-init'})
  try {
    return await initLedger(sql, {
      accounts: config.ledger.accounts,
      openingBalance: config.ledger.openingBalance,
      allowNegativeBalances: config.ledger.allowNegativeBalances,
    })
  } finally {
    await sql.end({timeout: 2})
  }
}
