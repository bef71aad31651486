import {createHash, createHmac, pbkdf2Sync, randomBytes} from 'node:crypto'

import type {LedgerSql} from '../../ledger/db.js'

import {type DatabaseSecrets, MONITOR_ROLE, ROLE_NAMES} from './layout.js'

/**
 * The local world's least-privilege database roles, created by `atlas up` as the
 * superuser right after the ledger schema. What each may do is exactly what its
 * statements in src/lib/ledger/sql.ts need:
 *
 *   atlas_ledger (workload, ledger service)
 *     TRANSFER         INSERT into transfers (RETURNING id: SELECT), UPDATE accounts.balance
 *                      (its WHERE and RETURNING read accounts: SELECT)
 *     CONFIRM_TRANSFER SELECT on transfers, UPDATE accounts.balance (a no-op update: its commit waits
 *                      for the synchronous standbys)
 *     SELECT_MINT      SELECT on ledger_mint (the workload checks the ledger is minted)
 *     PING             nothing
 *   atlas_verify (atlas verify, atlas env / psql by default)
 *     SELECT on accounts, transfers and ledger_mint; nothing else
 *   atlas_monitor (postgres_exporter of the world's monitoring)
 *     pg_monitor (statistics views and settings); no table of the ledger
 *
 * Neither may DELETE, TRUNCATE, change opening balances, touch the mint or the
 * migrations, create objects (no CREATE on the schema, no TEMP), connect to another
 * database (PUBLIC keeps no CONNECT on postgres or template1) or log in without TLS.
 * The foreign keys of transfers are checked with the table owner's rights, so the
 * ledger role needs no REFERENCES.
 */
export const LEDGER_DATABASE = 'postgres'

export function grantStatements(database = LEDGER_DATABASE): string[] {
  const {ledger, verify} = ROLE_NAMES
  return [
    // no one but the owner creates objects or temporary tables here; connecting is granted by name
    'REVOKE CREATE ON SCHEMA public FROM PUBLIC',
    `REVOKE ALL ON DATABASE ${database} FROM PUBLIC`,
    // initdb leaves PUBLIC CONNECT on template1 (every new database's model): no role but the superuser's gets in
    ...(database === 'template1' ? [] : ['REVOKE ALL ON DATABASE template1 FROM PUBLIC']),
    `GRANT CONNECT ON DATABASE ${database} TO ${ledger}, ${verify}`,
    `GRANT USAGE ON SCHEMA public TO ${ledger}, ${verify}`,
    // start from nothing, then grant exactly what the statements need
    `REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${ledger}, ${verify}`,
    `GRANT SELECT, INSERT ON transfers TO ${ledger}`,
    `GRANT SELECT, UPDATE (balance) ON accounts TO ${ledger}`,
    `GRANT SELECT ON ledger_mint TO ${ledger}`,
    `GRANT SELECT ON accounts, transfers, ledger_mint TO ${verify}`,
    // the exporter reads statistics views only: pg_monitor, CONNECT, and no table
    `GRANT CONNECT ON DATABASE ${database} TO ${MONITOR_ROLE}`,
    `REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ${MONITOR_ROLE}`,
    `GRANT pg_monitor TO ${MONITOR_ROLE}`,
  ]
}

/**
 * A SCRAM-SHA-256 verifier (RFC 5802/7677, PostgreSQL's storage format): the
 * role's password is set with this, so the plain password is never part of a
 * statement the server could log.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256')
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}

/** Creates the roles when missing, sets their passwords and their grants. Idempotent; runs as the superuser. */
export async function ensureRoles(sql: LedgerSql, secrets: DatabaseSecrets): Promise<void> {
  const roles = [
    {name: ROLE_NAMES.ledger, password: secrets.ledgerPassword},
    {name: ROLE_NAMES.verify, password: secrets.verifyPassword},
    ...(secrets.monitorPassword ? [{name: MONITOR_ROLE, password: secrets.monitorPassword}] : []),
  ]
  for (const role of roles) {
    const existing = await sql.unsafe('SELECT 1 FROM pg_roles WHERE rolname = $1', [role.name])
    if (existing.length === 0) {
      // a concurrent `up` may create it first
      await sql.unsafe(`CREATE ROLE ${role.name}`).catch((error: {code?: string}) => {
        if (error.code !== '42710') throw error
      })
    }

    const verifier = scramVerifier(role.password)
    if (!/^[A-Za-z0-9+/=:$-]+$/.test(verifier)) throw new Error('unexpected characters in a SCRAM verifier')
    await sql.unsafe(
      `ALTER ROLE ${role.name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD '${verifier}'`,
    )
  }

  for (const statement of grantStatements()) {
    // a world whose secrets predate the monitoring role has no such role to grant to
    if (!secrets.monitorPassword && statement.includes(MONITOR_ROLE)) continue
    await sql.unsafe(statement)
  }
}
