import type {AtlasConfig} from '../../config/schema.js'
import {localityRegion, primaryRegion} from '../../config/regions.js'

/** The ledger's database in CockroachDB. */
export const LEDGER_DATABASE = 'ledger'
/** The SQL user Atlas connects as (password auth over TLS). */
export const LEDGER_USER = 'atlas'
/** The SQL user of the ledger service (charts/ledger database.user; client certificate from ansible/roles/cluster_secrets). */
export const LEDGER_SERVICE_USER = 'ledger'

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`

/**
 * Multi-region DDL for the ledger database. CockroachDB region names are the
 * region tier of each node's --locality. SURVIVE REGION FAILURE needs at least
 * three regions (CockroachDB refuses it otherwise), so with two the database
 * keeps zone survival and Atlas says so before any fault.
 */
export function multiRegionStatements(config: AtlasConfig, database = LEDGER_DATABASE): string[] {
  const primary = localityRegion(primaryRegion(config))
  const others = [...new Set(config.regions.map(localityRegion))].filter((r) => r !== primary)
  const db = quoteIdent(database)
  const statements = [
    `ALTER DATABASE ${db} PRIMARY REGION ${quoteIdent(primary)};`,
    ...others.map((r) => `ALTER DATABASE ${db} ADD REGION IF NOT EXISTS ${quoteIdent(r)};`),
  ]
  statements.push(others.length + 1 >= 3 ? `ALTER DATABASE ${db} SURVIVE REGION FAILURE;` : `ALTER DATABASE ${db} SURVIVE ZONE FAILURE;`)
  return statements
}

export function multiRegionSql(config: AtlasConfig, database = LEDGER_DATABASE): string {
  return `-- Rendered by atlas up (k3d world). Idempotent: safe to run again.\n${multiRegionStatements(config, database).join('\n')}\n`
}
