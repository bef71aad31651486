import type {LedgerSql} from './db.js'

import {PreconditionError} from '../errors.js'
import * as q from './sql.js'

export interface LedgerInitOptions {
  accounts: number
  allowNegativeBalances: boolean
  /** integer minor units */
  openingBalance: number
}

export interface MintRecord {
  accounts: number
  allowNegativeBalances: boolean
  mintedAt: Date
  openingBalance: bigint
  total: bigint
}

export interface LedgerInitResult {
  migrationsApplied: number[]
  mint: {accounts: number; allowNegativeBalances: boolean; mintedAt: string; openingBalance: string; total: string}
  minted: boolean
}

/**
 * Creates the schema and mints the opening balances. Idempotent: applied
 * migrations are recorded and skipped, and the mint happens once, in one
 * transaction with its record, so conservation has a recorded total to check.
 * Re-running with different ledger settings is refused rather than ignored.
 */
export async function initLedger(sql: LedgerSql, options: LedgerInitOptions): Promise<LedgerInitResult> {
  await sql.unsafe(q.CREATE_MIGRATIONS_TABLE)
  const applied = new Set((await sql.unsafe(q.SELECT_APPLIED_MIGRATIONS)).map((r) => Number(r.version)))
  const migrationsApplied: number[] = []
  for (const migration of q.MIGRATIONS) {
    if (applied.has(migration.version)) continue
    // DDL one statement at a time: CockroachDB does not mix schema changes and writes in one transaction
    for (const statement of migration.statements({allowNegativeBalances: options.allowNegativeBalances}))
      await sql.unsafe(statement)
    await sql.unsafe(q.RECORD_MIGRATION, [migration.version, migration.name])
    migrationsApplied.push(migration.version)
  }

  let mint = await readMint(sql)
  let minted = false
  if (!mint) {
    const total = BigInt(options.accounts) * BigInt(options.openingBalance)
    try {
      await sql.begin('isolation level serializable', async (tx) => {
        await tx.unsafe(q.INSERT_MINT, [
          options.accounts,
          options.openingBalance,
          total.toString(),
          options.allowNegativeBalances,
        ])
        await tx.unsafe(q.INSERT_ACCOUNTS, [options.openingBalance, options.accounts])
      })
      minted = true
    } catch (error) {
      // a concurrent init minted first: fall through to the comparison below
      if ((error as {code?: string}).code !== '23505') throw error
    }

    mint = await readMint(sql)
  }

  if (!mint) throw new Error('the mint record is missing after minting')
  if (!minted) {
    const differs: string[] = []
    if (mint.accounts !== options.accounts) differs.push(`accounts ${mint.accounts} (asked ${options.accounts})`)
    if (mint.openingBalance !== BigInt(options.openingBalance))
      differs.push(`openingBalance ${mint.openingBalance} (asked ${options.openingBalance})`)
    if (mint.allowNegativeBalances !== options.allowNegativeBalances) {
      differs.push(`allowNegativeBalances ${mint.allowNegativeBalances} (asked ${options.allowNegativeBalances})`)
    }

    if (differs.length > 0) {
      throw new PreconditionError(`the ledger was already minted with different settings: ${differs.join(', ')}`, {
        code: 'LEDGER_MINTED',
        hint: 'use the settings it was minted with, or start from an empty database',
      })
    }
  }

  return {
    migrationsApplied,
    minted,
    mint: {
      accounts: mint.accounts,
      openingBalance: mint.openingBalance.toString(),
      total: mint.total.toString(),
      allowNegativeBalances: mint.allowNegativeBalances,
      mintedAt: mint.mintedAt.toISOString(),
    },
  }
}

export async function readMint(sql: LedgerSql): Promise<MintRecord | undefined> {
  let rows
  try {
    rows = await sql.unsafe(q.SELECT_MINT)
  } catch (error) {
    if ((error as {code?: string}).code === '42P01') return undefined // undefined_table: not initialised
    throw error
  }

  if (rows.length === 0) return undefined
  const row = rows[0]
  return {
    accounts: Number(row.accounts),
    openingBalance: BigInt(row.opening_balance),
    total: BigInt(row.total),
    allowNegativeBalances: Boolean(row.allow_negative_balances),
    mintedAt: new Date(row.minted_at),
  }
}

/** The mint record, or a precondition error telling the user to run `atlas ledger init`. */
export async function requireMint(sql: LedgerSql): Promise<MintRecord> {
  const mint = await readMint(sql)
  if (!mint)
    throw new PreconditionError('the ledger is not initialised (no mint record)', {
      code: 'LEDGER_NOT_INITIALISED',
      hint: 'run `atlas ledger init` first',
    })
  return mint
}
