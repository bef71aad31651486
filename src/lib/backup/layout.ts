import path from 'node:path'

import type {AtlasConfig} from '../config/schema.js'
import type {LocalLayout, RegionLayout} from '../world/local/layout.js'

import {primaryRegion} from '../config/regions.js'

/**
 * Where the local world's backups live and how pgBackRest reaches them. Pure: the
 * same config and layout always give the same answer.
 *
 * The repository is the primary region's backup bucket on the world's S3 emulator.
 * pgBackRest's S3 client speaks HTTPS only, so the emulator also serves the same
 * state over TLS on the port after its plain one, with a self-signed certificate
 * made at `up` (pgBackRest verifies it against that certificate as its CA).
 */
export interface BackupLayout {
  awsRegion: string
  bucket: string
  certFile: string
  keyFile: string
  /** a copy of the emulator's certificate where pgBackRest (the PostgreSQL OS user) can read it: the data dir is atlas's alone */
  repoCaFile: string
  repoPath: string
  /** scratch restores go here, one directory each */
  restoreDir: string
  /** pgBackRest's name for the cluster (Patroni's scope) */
  stanza: string
  tlsDir: string
  /** the emulator's HTTPS port */
  tlsPort: number
  /** pgBackRest's lock, spool and log dirs (owned by the PostgreSQL OS user) */
  workDir: string
}

export function backupBucketName(prefix: string, regionName: string): string {
  return `${prefix}-backup-${regionName}`
}

/** The emulator's TLS listener: the port after its plain one, a certificate made at `up` under the data dir. */
export function motoTls(layout: LocalLayout): {certFile: string; keyFile: string; tlsDir: string; tlsPort: number} {
  const tlsDir = path.join(layout.dataDir, 'moto-tls')
  return {
    tlsPort: layout.motoPort + 1,
    tlsDir,
    certFile: path.join(tlsDir, 'cert.pem'),
    keyFile: path.join(tlsDir, 'key.pem'),
  }
}

export function backupLayout(config: AtlasConfig, layout: LocalLayout): BackupLayout {
  const primary = primaryRegion(config)
  return {
    stanza: layout.scope,
    bucket: backupBucketName(config.namePrefix, primary.name),
    awsRegion: primary.awsRegion,
    repoPath: '/pgbackrest',
    ...motoTls(layout),
    repoCaFile: path.join(layout.postgresHome, 's3-emulator.crt'),
    workDir: path.join(layout.postgresHome, 'pgbackrest'),
    restoreDir: path.join(layout.baseDir, 'restore'),
  }
}

/** One region's pgBackRest configuration file (archive-push on that node, backups when it leads). */
export function pgbackrestConfigFile(layout: LocalLayout, r: RegionLayout): string {
  return path.join(layout.postgresHome, `pgbackrest-${r.region.name}.conf`)
}

/** The emulator's TLS listener, for the moto process's command line. */
export function motoTlsArgs(layout: LocalLayout): string[] {
  const t = motoTls(layout)
  return ['--tls-port', String(t.tlsPort), '--tls-cert', t.certFile, '--tls-key', t.keyFile]
}

export interface PgbackrestNode {
  dataDir: string
  port: number
  socketDir: string
}

/**
 * pgBackRest's configuration: the S3 repository on the emulator (path-style, its
 * test credentials), lz4 (cheap on two shared cores), a fast checkpoint at backup
 * start, and the node pg1 it runs against.
 */
export function pgbackrestConfig(
  b: BackupLayout,
  host: string,
  node: PgbackrestNode,
  options: {retentionFull?: number} = {},
): string {
  const lines = [
    '# written by atlas; the local world rewrites it at every `atlas up`',
    '[global]',
    'repo1-type=s3',
    `repo1-path=${b.repoPath}`,
    `repo1-s3-bucket=${b.bucket}`,
    `repo1-s3-endpoint=${host}`,
    `repo1-storage-port=${b.tlsPort}`,
    `repo1-s3-region=${b.awsRegion}`,
    // moto accepts any credentials; these are its documented test values, never real ones
    'repo1-s3-key=test',
    'repo1-s3-key-secret=test',
    'repo1-s3-uri-style=path',
    `repo1-storage-ca-file=${b.repoCaFile}`,
    `repo1-retention-full=${options.retentionFull ?? 4}`,
    // small files go into bundles: one request per bundle instead of one per file (a full backup of a fresh world: 6 s instead of 60 s on the emulator)
    'repo1-bundle=y',
    'compress-type=lz4',
    'start-fast=y',
    'archive-timeout=30',
    'io-timeout=30',
    `lock-path=${path.join(b.workDir, 'lock')}`,
    `spool-path=${path.join(b.workDir, 'spool')}`,
    `log-path=${path.join(b.workDir, 'log')}`,
    'log-level-file=off',
    'log-level-console=warn',
    'log-level-stderr=off',
    '',
    `[${b.stanza}]`,
    `pg1-path=${node.dataDir}`,
    `pg1-port=${node.port}`,
    `pg1-socket-path=${node.socketDir}`,
    'pg1-user=postgres',
    '',
  ]
  return lines.join('\n')
}

/**
 * PostgreSQL parameters for continuous WAL archiving on one node, as Patroni's local
 * `postgresql.parameters` (they survive a DCS that was bootstrapped without them).
 * archive_command runs in PostgreSQL's archiver process, never in a committing
 * backend, so it does not slow commits; a failing push keeps the segment in pg_wal
 * and is retried. archive_mode=on on every node: only the primary archives, and a
 * standby promoted by a failover starts archiving at once (its new timeline, the
 * history file and the old timeline's partial segment). Not `always`: a standby's copy
 * of a switched segment can differ from the primary's in the unused tail, pgBackRest
 * then refuses the second push, and it refuses backups under `always` at all.
 * The cost: a segment the old primary had finished but not yet pushed when it died
 * (a window of about one push, ~0.3 s, unless the repository was unreachable) is
 * not in the archive; `atlas backup` after a failover closes such a gap.
 */
export function archiveParameters(b: BackupLayout, configFile: string, _r: RegionLayout): Record<string, string> {
  return {
    archive_mode: 'on',
    archive_command: `pgbackrest --config=${configFile} --stanza=${b.stanza} archive-push %p`,
    // an idle world still closes a segment a minute, so the archive is never more than that behind
    archive_timeout: '60s',
  }
}
