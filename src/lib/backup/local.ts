import {chmod, chown, copyFile, mkdir, readFile, realpath, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {AtlasConfig} from '../config/schema.js'
import type {ClusterHealth} from '../health/model.js'
import type {CloudEndpoint} from '../model/endpoints.js'
import type {ProgressReporter, WorldStatus} from '../world/types.js'

import {primaryRegion} from '../config/regions.js'
import {PreconditionError, UsageError} from '../errors.js'
import {freePort, mkdirOwned, type OsUser, postgresOsUser} from '../proc/index.js'
import {registerSecret} from '../redact.js'
import {findExecutable} from '../tools/discovery.js'
import {CommandRunner, type PlannedCommand} from '../tools/runner.js'
import {pollUntil} from '../wait.js'
import {clientAddresses, type DatabaseSecrets, type LocalLayout, type RegionLayout} from '../world/local/layout.js'
import {archiveParameters, backupLayout, type BackupLayout, pgbackrestConfig, pgbackrestConfigFile} from './layout.js'

/** One backup in the repository, from `pgbackrest info`. */
export interface BackupInfo {
  /** database size and what the repository stores for it (compressed), bytes */
  databaseBytes: number
  label: string
  lsnStart: string
  lsnStop: string
  repositoryBytes: number
  startedAt: string
  stoppedAt: string
  type: 'diff' | 'full' | 'incr'
  walStart: string
  walStop: string
}

export interface BackupListing {
  /** archived WAL: the oldest and newest segment (point-in-time recovery reaches from the oldest backup to the newest segment) */
  archive?: {max: string; min: string}
  backups: BackupInfo[]
  bucket: string
  stanza: string
  status: string
}

export interface BackupResult {
  backup?: BackupInfo
  bucket: string
  dryRun: boolean
  durationSeconds: number
  plan?: PlannedCommand[]
  /** the node the backup was taken from (the current leader) */
  region: string
}

export interface RestoreOptions {
  backup?: string
  dryRun?: boolean
  keep?: boolean
  onProgress?: (message: string) => void
  progress?: ProgressReporter
  signal?: AbortSignal
  /** recovery target: a timestamp PostgreSQL understands, normalised to UTC */
  toTime?: Date
  verify?: boolean
}

export interface RestoreResult {
  /** the backup set pgBackRest restored */
  backup?: string
  dryRun: boolean
  plan?: PlannedCommand[]
  recoveryPoint?: {
    newestTransferAt?: string
    newestTransferId?: string
    /** sha256 of the ids of every transfer present, sorted and comma-joined: compares a restored copy with its source */
    transferIdsSha256?: string
    transfers: number
  }
  /** pgBackRest restore + WAL replay until the copy was promoted, seconds */
  restoreSeconds: number
  scratch: {dir: string; kept: boolean; port: number}
  target: string
  verdict: 'not verified' | 'planned' | 'verified' | 'violations'
  verify?: import('../ledger/verify/index.js').VerifyResult
}

type InfoJson = Array<{
  archive: Array<{max?: string; min?: string}>
  backup: Array<{
    archive: {start: string; stop: string}
    info: {repository: {delta: number; size?: number}; size: number}
    label: string
    lsn?: {start: string; stop: string}
    timestamp: {start: number; stop: number}
    type: 'diff' | 'full' | 'incr'
  }>
  name: string
  status: {code: number; message: string}
}>

/** What backups need of the local world (LocalWorld has it; the world imports this module, not the reverse). */
export interface BackupWorld {
  cloudEndpoint(): Promise<CloudEndpoint>
  readonly config: AtlasConfig
  health(): Promise<ClusterHealth>
  readonly layout: LocalLayout
  regionLayout(name: string): RegionLayout
  status(): Promise<WorldStatus>
}

/**
 * Backups of the local world's ledger with pgBackRest into the primary region's
 * backup bucket, continuous WAL archiving, and verified restores into a scratch
 * PostgreSQL beside the world (own directory, own port; never over the world).
 */
export class LocalBackups {
  readonly b: BackupLayout

  constructor(readonly world: BackupWorld) {
    this.b = backupLayout(world.config, world.layout)
  }

  /** pgBackRest on PATH: without it the world runs without archiving (and says so). */
  static async available(): Promise<boolean> {
    return (await findExecutable('pgbackrest')) !== undefined
  }

  // ------------------------------------------------------------ set-up --

  /** Patroni's local parameters for archiving on one node (merged into its config by the world). */
  archiveParameters(r: RegionLayout): Record<string, string> {
    return archiveParameters(this.b, pgbackrestConfigFile(this.world.layout, r), r)
  }

  async backup(options: {dryRun?: boolean; type?: 'diff' | 'full' | 'incr'} = {}): Promise<BackupResult> {
    const started = Date.now()
    const runner = new CommandRunner({dryRun: options.dryRun, logFile: options.dryRun ? undefined : this.logFile()})
    const leader = options.dryRun ? await this.leader().catch(() => this.primaryLayout()) : await this.leader()
    await this.pgbackrest(runner, leader, [`--type=${options.type ?? 'full'}`, 'backup'], {
      label: 'pgbackrest backup',
      timeoutMs: 3_600_000,
    })
    if (options.dryRun)
      return {dryRun: true, plan: runner.plan, region: leader.region.name, durationSeconds: 0, bucket: this.b.bucket}
    const listing = await this.list()
    return {
      dryRun: false,
      backup: listing.backups.at(-1),
      region: leader.region.name,
      durationSeconds: (Date.now() - started) / 1000,
      bucket: this.b.bucket,
    }
  }

  /** The backup bucket and the stanza (idempotent); run by `up` once the database and the emulator are up. */
  async ensureRepository(): Promise<void> {
    const {CreateBucketCommand} = await import('@aws-sdk/client-s3')
    const {s3Client} = await import('../cloud/clients.js')
    const s3 = await s3Client(await this.world.cloudEndpoint(), this.b.awsRegion)
    try {
      await s3.send(
        new CreateBucketCommand({
          Bucket: this.b.bucket,
          ...(this.b.awsRegion === 'us-east-1'
            ? {}
            : {CreateBucketConfiguration: {LocationConstraint: this.b.awsRegion as never}}),
        }),
      )
    } catch (error) {
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((error as Error).name)) throw error
    } finally {
      s3.destroy()
    }

    await this.pgbackrest(new CommandRunner({logFile: this.logFile()}), await this.leader(), ['stanza-create'], {
      label: 'pgbackrest stanza-create',
    })
  }

  /** The self-signed certificate of the emulator's TLS listener (made once per data dir). */
  async ensureTlsCertificate(runner: CommandRunner): Promise<void> {
    await this.makeTlsCertificate(runner)
    if (!runner.dryRun) await copyFile(this.b.certFile, this.b.repoCaFile)
  }

  async list(): Promise<BackupListing> {
    const result = await this.pgbackrest(
      new CommandRunner({logFile: this.logFile()}),
      await this.leader().catch(() => this.primaryLayout()),
      ['info', '--output=json'],
      {label: 'pgbackrest info'},
    )
    const info = (JSON.parse(result.stdout) as InfoJson).find((s) => s.name === this.b.stanza)
    if (!info)
      throw new PreconditionError(`pgBackRest reports no stanza "${this.b.stanza}"`, {
        hint: 'run `atlas up` (it creates the stanza)',
      })
    if (info.status.code !== 0 && info.status.code !== 2 /* no valid backups */) {
      throw new PreconditionError(
        `the backup repository s3://${this.b.bucket}${this.b.repoPath} is not usable: ${info.status.message}`,
        {hint: 'run `atlas up` (it creates the bucket and the stanza)'},
      )
    }

    const iso = (s: number) => new Date(s * 1000).toISOString()
    const archive = info.archive.find((a) => a.min && a.max)
    return {
      stanza: this.b.stanza,
      bucket: this.b.bucket,
      status: info.status.message,
      archive: archive ? {min: archive.min!, max: archive.max!} : undefined,
      backups: info.backup.map((x) => ({
        label: x.label,
        type: x.type,
        startedAt: iso(x.timestamp.start),
        stoppedAt: iso(x.timestamp.stop),
        databaseBytes: x.info.size,
        repositoryBytes: x.info.repository.size ?? x.info.repository.delta,
        walStart: x.archive.start,
        walStop: x.archive.stop,
        lsnStart: x.lsn?.start ?? '',
        lsnStop: x.lsn?.stop ?? '',
      })),
    }
  }

  // ------------------------------------------------------------ backup --

  /**
   * Restores a backup (the newest, --backup, or the one --to-time needs) into a
   * scratch PostgreSQL under <baseDir>/restore/<stamp> on a free port, replays WAL
   * from the archive up to --to-time (else to the end of the archive), promotes it,
   * and with verify runs the ledger checks that hold for any consistent copy
   * (conservation, replay, balances, duplicates) and reads the recovery point.
   * The copy is stopped and removed afterwards unless keep.
   */
  async restore(options: RestoreOptions): Promise<RestoreResult> {
    const listing = options.dryRun ? undefined : await this.list()
    if (listing && listing.backups.length === 0)
      throw new PreconditionError('there is no backup to restore', {hint: 'take one with `atlas backup`'})
    if (listing && options.backup && !listing.backups.some((x) => x.label === options.backup)) {
      throw new UsageError(
        `no backup "${options.backup}" in s3://${this.b.bucket}; there are: ${listing.backups.map((x) => x.label).join(', ')}`,
        {code: 'BACKUP_NOT_FOUND'},
      )
    }

    if (listing && options.toTime && options.toTime.getTime() < Date.parse(listing.backups[0].stoppedAt)) {
      throw new UsageError(
        `--to-time ${options.toTime.toISOString()} is before the end of the oldest backup (${listing.backups[0].stoppedAt}): nothing can be restored to that time`,
        {code: 'TARGET_BEFORE_BACKUPS'},
      )
    }

    const user = await postgresOsUser()
    const stamp = new Date().toISOString().replaceAll(':', '-').replace('.', '-')
    const dir = path.join(this.b.restoreDir, stamp)
    const dataDir = path.join(dir, 'data')
    const port = options.dryRun ? 0 : await freePort(this.world.layout.host)
    const target = options.toTime
      ? `time ${pgTimestamp(options.toTime)}`
      : options.backup
        ? `end of backup ${options.backup}`
        : 'end of the archived WAL'
    const runner = new CommandRunner({dryRun: options.dryRun, logFile: options.dryRun ? undefined : this.logFile()})
    const configFile = path.join(dir, 'pgbackrest.conf')
    const restoreArgs = [
      `--pg1-path=${dataDir}`,
      // the copy must never push WAL into the world's archive
      '--archive-mode=off',
      ...(options.backup ? [`--set=${options.backup}`] : []),
      ...(options.toTime
        ? ['--type=time', `--target=${pgTimestamp(options.toTime)}`, '--target-action=promote']
        : options.backup
          ? ['--type=immediate', '--target-action=promote']
          : []),
      'restore',
    ]
    const {pgCtl} = await binaries()
    if (options.dryRun) {
      await this.pgbackrest(runner, {configFile}, restoreArgs, {label: 'pgbackrest restore'})
      await runner.run(pgCtl, ['-D', dataDir, '-w', '-t', '3600', '-l', path.join(dir, 'postgres.log'), 'start'], {
        label: 'start the scratch PostgreSQL',
      })
      return {
        dryRun: true,
        plan: runner.plan,
        target,
        restoreSeconds: 0,
        verdict: 'planned',
        scratch: {dir, port, kept: Boolean(options.keep)},
      }
    }

    // everything archived up to now (a WAL switch, waited for), so the target time is within reach
    if (
      await this.world
        .status()
        .then((s) => s.up)
        .catch(() => false)
    ) {
      options.onProgress?.('switching WAL and waiting for the archive (pgbackrest check)')
      await this.pgbackrest(runner, await this.leader(), ['check'], {label: 'pgbackrest check'}).catch(() => {})
    }

    await mkdirOwned(this.b.restoreDir, user, 0o755)
    await mkdirOwned(dir, user)
    await mkdirOwned(dataDir, user)
    await writeFile(configFile, pgbackrestConfig(this.b, this.world.layout.host, {dataDir, port, socketDir: dir}), {
      mode: 0o600,
    })
    if (user) await chown(configFile, user.uid, user.gid)
    const started = Date.now()
    let kept = Boolean(options.keep)
    let running = false
    try {
      options.onProgress?.(`restoring into ${dataDir}`)
      const restored = await this.pgbackrest(runner, {configFile}, restoreArgs, {
        label: 'pgbackrest restore',
        timeoutMs: 3_600_000,
        logLevel: 'info',
      })
      const backup = /restore backup set (\d{8}-\d{6}F(?:_\d{8}-\d{6}[DI])?)/.exec(
        `${restored.stdout}\n${restored.stderr}`,
      )?.[1]
      // the world's postgresql.conf (written by Patroni) names its ports and files: the copy gets its own
      await writeFile(path.join(dataDir, 'postgresql.conf'), scratchPostgresqlConf(this.world.layout.host, port, dir))
      await writeFile(
        path.join(dataDir, 'pg_hba.conf'),
        [
          'local all postgres peer',
          ...clientAddresses(this.world.layout).map((a) => `host all all ${a}/32 scram-sha-256`),
          '',
        ].join('\n'),
      )
      for (const f of ['postgresql.conf', 'pg_hba.conf'])
        if (user) await chown(path.join(dataDir, f), user.uid, user.gid)
      await rm(path.join(dataDir, 'standby.signal'), {force: true})
      options.onProgress?.(`replaying WAL to ${target}`)
      await runner.run(pgCtl, ['-D', dataDir, '-w', '-t', '3600', '-l', path.join(dir, 'postgres.log'), 'start'], {
        label: 'start the scratch PostgreSQL',
        uid: user?.uid,
        gid: user?.gid,
        cwd: dir,
      })
      running = true
      const url = await this.scratchUrl(port)
      await this.waitPromoted(url, dir, options.signal)
      const restoreSeconds = (Date.now() - started) / 1000
      const result: RestoreResult = {
        dryRun: false,
        backup,
        target,
        restoreSeconds,
        verdict: 'not verified',
        scratch: {dir, port, kept},
      }
      if (options.verify) {
        const [{connectLedger}, {verifyLedger}] = await Promise.all([
          import('../ledger/db.js'),
          import('../ledger/verify/index.js'),
        ])
        const sql = await connectLedger(url, {max: 1, applicationName: 'atlas-restore'})
        try {
          result.recoveryPoint = await recoveryPointOf(sql)
        } finally {
          await sql.end({timeout: 5})
        }

        options.onProgress?.('verifying the restored ledger')
        result.verify = await verifyLedger({db: url, signal: options.signal, onProgress: options.onProgress})
        result.verdict = result.verify.ok ? 'verified' : 'violations'
      }

      return result
    } catch (error) {
      // a failed restore is kept for inspection
      kept = true
      const log = await readFile(path.join(dir, 'postgres.log'), 'utf8').catch(() => '')
      const last = log
        .split('\n')
        .filter((l) => /FATAL|ERROR|PANIC/.test(l))
        .slice(-3)
        .join('\n')
      if (last) (error as Error).message += `\nscratch PostgreSQL (${path.join(dir, 'postgres.log')}):\n${last}`
      throw error
    } finally {
      if (running)
        await runner.run(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop'], {
          label: 'stop the scratch PostgreSQL',
          uid: user?.uid,
          gid: user?.gid,
          cwd: dir,
          reject: false,
        })
      if (!kept) await rm(dir, {recursive: true, force: true})
    }
  }

  /** Every node's pgBackRest config (0600, owned by the PostgreSQL OS user) and its work dirs. */
  async writeConfigs(user: OsUser | undefined): Promise<void> {
    await mkdirOwned(this.b.workDir, user)
    for (const dir of ['lock', 'spool', 'log']) await mkdirOwned(path.join(this.b.workDir, dir), user)
    for (const r of this.world.layout.regions) {
      const file = pgbackrestConfigFile(this.world.layout, r)
      await writeFile(
        file,
        pgbackrestConfig(
          this.b,
          this.world.layout.host,
          {dataDir: r.postgresDataDir, port: r.postgresPort, socketDir: this.world.layout.postgresHome},
          {retentionFull: this.world.config.backup.retentionFull},
        ),
        {mode: 0o600},
      )
      if (user) await chown(file, user.uid, user.gid)
    }
  }

  // ----------------------------------------------------------- restore --

  /** The node that leads now: backups and `check` must run against the primary. */
  private async leader(): Promise<RegionLayout> {
    const health = await this.world.health()
    const region = health.groups.find((g) => g.group === 'patroni')?.leaderRegion
    if (!region)
      throw new PreconditionError('the ledger database has no leader: nothing to back up from', {
        hint: 'run `atlas up`, or wait for the failover to finish (`atlas status`)',
      })
    return this.world.regionLayout(region)
  }

  // ----------------------------------------------------------- helpers --

  private logFile(): string {
    return path.join(this.world.layout.logDir, 'atlas.log')
  }

  private async makeTlsCertificate(runner: CommandRunner): Promise<void> {
    try {
      await stat(this.b.certFile)
      await stat(this.b.keyFile)
      return
    } catch {
      // made below
    }

    if (!runner.dryRun) await mkdir(this.b.tlsDir, {recursive: true, mode: 0o755})
    const {host} = this.world.layout
    await runner.run(
      'openssl',
      [
        'req',
        '-x509',
        // an EC key like the world's PKI: an RSA key took 0.5 s of a cold `up` (bench/up)
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        this.b.keyFile,
        '-out',
        this.b.certFile,
        '-days',
        '3650',
        '-subj',
        `/CN=${host}`,
        // pgBackRest matches the endpoint against CN and DNS names only, so the address is a DNS name too
        '-addext',
        `subjectAltName=DNS:${host},IP:${host}`,
      ],
      {label: "make the S3 emulator's TLS certificate"},
    )
    if (!runner.dryRun) {
      await chmod(this.b.keyFile, 0o600)
      await chmod(this.b.certFile, 0o644)
    }
  }

  /** Runs pgbackrest as the PostgreSQL OS user, with the config of a node (or a scratch config). */
  private async pgbackrest(
    runner: CommandRunner,
    node: RegionLayout | {configFile: string},
    args: string[],
    options: {label: string; logLevel?: string; timeoutMs?: number},
  ) {
    if (!runner.dryRun && !(await LocalBackups.available())) {
      throw new PreconditionError('pgBackRest was not found', {hint: 'apt-get install pgbackrest (npm run setup does)'})
    }

    const user = await postgresOsUser()
    const configFile = 'configFile' in node ? node.configFile : pgbackrestConfigFile(this.world.layout, node)
    return runner.run(
      'pgbackrest',
      [
        `--config=${configFile}`,
        `--stanza=${this.b.stanza}`,
        ...(options.logLevel ? [`--log-level-console=${options.logLevel}`] : []),
        ...args,
      ],
      {
        label: options.label,
        timeoutMs: options.timeoutMs ?? 600_000,
        uid: user?.uid,
        gid: user?.gid,
        cwd: this.world.layout.postgresHome,
        env: {HOME: this.world.layout.postgresHome},
      },
    )
  }

  private primaryLayout(): RegionLayout {
    return this.world.regionLayout(primaryRegion(this.world.config).name)
  }

  private async scratchUrl(port: number): Promise<string> {
    const secrets = JSON.parse(await readFile(this.world.layout.secretsFile, 'utf8')) as DatabaseSecrets
    registerSecret(secrets.superuserPassword)
    return `postgres://postgres:${encodeURIComponent(secrets.superuserPassword)}@${this.world.layout.host}:${port}/postgres`
  }

  /** pg_ctl -w returns once connections are accepted, which a hot standby does mid-recovery: wait for the promotion. */
  private async waitPromoted(url: string, dir: string, signal?: AbortSignal): Promise<void> {
    const {default: postgres} = await import('postgres')
    const promoted = async () => {
      const sql = postgres(url, {max: 1, connect_timeout: 10, onnotice() {}})
      try {
        const [row] = await sql.unsafe<Array<{recovering: boolean}>>('SELECT pg_is_in_recovery() AS recovering')
        return !row.recovering
      } catch (error) {
        // 57P03: still replaying WAL (hot_standby is off, so no connection before the promotion)
        if ((error as {code?: string}).code !== '57P03') throw error
        return false
      } finally {
        await sql.end({timeout: 1})
      }
    }

    await pollUntil(promoted, {
      timeoutMs: 3_600_000,
      intervalMs: 200,
      signal,
      timeoutError: () =>
        new PreconditionError(`the restored copy in ${dir} did not finish recovery`, {
          hint: `see ${path.join(dir, 'postgres.log')}`,
        }),
    })
  }
}

/** The recovery point of a ledger: its transfers, the newest, and a digest of every id (the same digest for the same set). */
export async function recoveryPointOf(
  sql: import('postgres').Sql,
): Promise<NonNullable<RestoreResult['recoveryPoint']>> {
  const [row] = await sql.unsafe<Array<{at: Date | null; count: string; digest: null | string; id: null | string}>>(
    `SELECT (SELECT count(*) FROM transfers) AS count, t.id::text AS id, t.created_at AS at,
            (SELECT encode(sha256(convert_to(coalesce(string_agg(id::text, ',' ORDER BY id::text), ''), 'UTF8')), 'hex') FROM transfers) AS digest
       FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT id, created_at FROM transfers ORDER BY created_at DESC, id DESC LIMIT 1) t ON true`,
  )
  return {
    transfers: Number(row.count),
    newestTransferId: row.id ?? undefined,
    newestTransferAt: row.at ? new Date(row.at).toISOString() : undefined,
    transferIdsSha256: row.digest ?? undefined,
  }
}

/** A timestamp in the form PostgreSQL's recovery_target_time reads, always in UTC. */
export function pgTimestamp(at: Date): string {
  return `${at.toISOString().replace('T', ' ').replace('Z', '')}+00`
}

/** The scratch copy's whole postgresql.conf: its own port and socket dir, no archiving, no replication. */
export function scratchPostgresqlConf(host: string, port: number, socketDir: string): string {
  return [
    '# the scratch copy of an `atlas restore`; never part of the world',
    `listen_addresses = '${host}'`,
    `port = ${port}`,
    `unix_socket_directories = '${socketDir}'`,
    "password_encryption = 'scram-sha-256'",
    'shared_buffers = 32MB',
    // recovery needs at least the world's values (Patroni's max_connections and max_wal_senders)
    'max_connections = 100',
    'max_wal_senders = 10',
    'archive_mode = off',
    "wal_level = 'replica'",
    // no connections before the promotion: pg_ctl -w returns once the copy is consistent and promoted
    'hot_standby = off',
    '',
  ].join('\n')
}

async function binaries(): Promise<{pgCtl: string}> {
  const postgres = await findExecutable('postgres')
  if (!postgres)
    throw new PreconditionError('PostgreSQL server binaries were not found', {hint: 'apt-get install -y postgresql'})
  return {pgCtl: path.join(path.dirname(await realpath(postgres)), 'pg_ctl')}
}
