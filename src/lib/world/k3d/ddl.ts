import {cloudResourceNames} from '../../cloud/names.js'
import {localityRegion, primaryRegion} from '../../config/regions.js'
import {type AtlasConfig, durationSeconds} from '../../config/schema.js'
import {DEFAULT_RENDER_INPUTS} from '../../gitops/context.js'

/** The ledger's database in CockroachDB. */
export const LEDGER_DATABASE = 'ledger'
/** The SQL user Atlas connects as (password auth over TLS). */
export const LEDGER_USER = 'atlas'
/** The SQL user of the ledger service (charts/ledger database.user; client certificate from ansible/roles/cluster_secrets). */
export const LEDGER_SERVICE_USER = 'ledger'
/**
 * The read-only SQL user `atlas verify` (and `atlas env` / `psql` by default) logs in as:
 * SELECT on the ledger's tables, nothing else. It authenticates with its client certificate
 * (CN = the user name, client.<user>.crt/.key in <base>/k3d/cockroach-certs, issued by
 * ansible/roles/cluster_secrets, whose cluster_secrets_verify_user must equal this); no
 * password, and its key never leaves the host (no Kubernetes Secret holds it).
 */
export const VERIFY_USER = 'atlas_verify'

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`

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
  statements.push(
    others.length + 1 >= 3
      ? `ALTER DATABASE ${db} SURVIVE REGION FAILURE;`
      : `ALTER DATABASE ${db} SURVIVE ZONE FAILURE;`,
  )
  return statements
}

export function multiRegionSql(config: AtlasConfig, database = LEDGER_DATABASE): string {
  return `-- Rendered by atlas up (k3d world). Idempotent: safe to run again.\n${[...multiRegionStatements(config, database), ...backupScheduleStatements(config, database)].join('\n')}\n`
}

/**
 * Where the k3d world's CockroachDB backups go: LocalStack as the pods reach it, the
 * endpoint whose port the nodes' NetworkPolicy opens (gitops/context.ts cockroach.cloudPort).
 */
export const K3D_BACKUP_ENDPOINT = DEFAULT_RENDER_INPUTS.cloudEndpointInCluster

/** backup.schedule ("30m", "6h", "1d") as the crontab CockroachDB's RECURRING takes. */
export function scheduleCrontab(schedule: string): string {
  const seconds = durationSeconds(schedule)
  const minutes = Math.max(1, Math.round(seconds / 60))
  if (minutes < 60) return `*/${minutes} * * * *`
  const hours = Math.round(minutes / 60)
  if (hours < 24) return `0 */${hours} * * *`
  const days = Math.round(hours / 24)
  return days === 1 ? '@daily' : `0 0 */${days} * *`
}

/**
 * backup.schedule for the k3d world: CockroachDB's own scheduled backups of the ledger
 * into the primary region's audit bucket on LocalStack, under cockroach-backups/ (the
 * bucket terraform/modules/region already creates; verify reads only transfers/), with
 * the S3-compatible parameters CockroachDB documents (AWS_ENDPOINT, path style,
 * LocalStack's test credentials). Full backups only: incremental ones need a license on
 * older CockroachDB versions. IF NOT EXISTS: the SQL job runs again at every `up`.
 * None without backup.schedule.
 */
export function backupScheduleStatements(config: AtlasConfig, database = LEDGER_DATABASE): string[] {
  const {schedule} = config.backup
  if (!schedule) return []
  const label = `${config.namePrefix}-ledger-backup`
  return [
    `CREATE SCHEDULE IF NOT EXISTS '${label}' FOR BACKUP DATABASE ${quoteIdent(database)} INTO '${backupCollectionUri(config)}' RECURRING '${scheduleCrontab(schedule)}' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now';`,
  ]
}

/** LocalStack's documented test credentials, which CockroachDB sends to it (never real ones). */
const LOCALSTACK_CREDENTIALS = {AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test'}

/**
 * The backup collection of the k3d world: s3://<primary audit bucket>/cockroach-backups
 * with the parameters CockroachDB's S3 storage reads (pkg/cloud/amazon/s3_storage.go:
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT, AWS_REGION, AWS_USE_PATH_STYLE).
 * With redacted, the two credentials read <redacted>: what plans and reports show.
 */
export function backupCollectionUri(config: AtlasConfig, options: {redacted?: boolean} = {}): string {
  const primary = primaryRegion(config)
  const bucket = cloudResourceNames(config.namePrefix, primary.name).auditBucket
  const params = new URLSearchParams({
    ...LOCALSTACK_CREDENTIALS,
    AWS_ENDPOINT: K3D_BACKUP_ENDPOINT,
    AWS_REGION: primary.awsRegion,
    AWS_USE_PATH_STYLE: 'true',
  })
  const uri = `s3://${bucket}/cockroach-backups?${params.toString()}`
  return options.redacted ? redactCollectionUri(uri) : uri
}

/** The credentials of an s3:// collection URI replaced by <redacted>. */
export function redactCollectionUri(text: string): string {
  return text.replaceAll(/\b(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN)=[^&'\s]*/g, '$1=<redacted>')
}
