import path from 'node:path'

import type {AuditLog, AuditTarget} from '../cloud/audit.js'
import type {TransferQueue} from '../cloud/queue.js'
import type {AtlasConfig, Region} from '../config/schema.js'
import type {CloudEndpoint, DatabaseRole, RegionEndpoints, World} from './types.js'

import {dataRegions, findRegion, primaryRegion} from '../config/regions.js'
import {PreconditionError} from '../errors.js'

/**
 * Where the ledger commands find the database and the cloud: explicit flags
 * (--db / ATLAS_DATABASE_URL, --endpoint) first, else the running world.
 */
export class LedgerTarget {
  private worldPromise?: Promise<World>

  constructor(
    readonly config: AtlasConfig,
    private readonly flags: {db?: string; endpoint?: string},
  ) {}

  /** The target of a world already at hand (a chaos round's): its database, buckets and queues. */
  static ofWorld(world: World): LedgerTarget {
    const target = new LedgerTarget(world.config, {})
    target.worldPromise = Promise.resolve(world)
    return target
  }

  /** Every data region's audit bucket, as `verify --audit` reads them; destroy() closes the S3 clients. */
  async auditBuckets(): Promise<{buckets: Record<string, AuditTarget>; destroy(): void}> {
    const {s3Client} = await import('../cloud/clients.js')
    const cloud = await this.cloud()
    const buckets: Record<string, AuditTarget> = {}
    for (const region of this.dataRegions())
      buckets[region.name] = {
        s3: await s3Client(cloud, region.awsRegion),
        bucket: (await this.regionResources(region)).auditBucket,
      }
    return {
      buckets,
      destroy() {
        for (const b of Object.values(buckets)) b.s3.destroy()
      },
    }
  }

  /**
   * The region's audit log: its bucket (or `bucket`), plus the buckets config.cloud.replication
   * copies its records to unless `replicate` is false. destroy() closes its S3 clients.
   */
  async auditLog(
    region: Region,
    options: {awsRegion?: string; bucket?: string; replicate?: boolean} = {},
  ): Promise<AuditLog> {
    const [{s3Client}, {AuditLog}] = await Promise.all([import('../cloud/clients.js'), import('../cloud/audit.js')])
    const cloud = await this.cloud()
    const primary = {
      s3: await s3Client(cloud, options.awsRegion ?? region.awsRegion),
      bucket: options.bucket ?? (await this.regionResources(region)).auditBucket,
    }
    const replicas: AuditTarget[] = []
    if (options.replicate !== false) {
      for (const rule of this.config.cloud.replication.filter((r) => r.from === region.name)) {
        const to = this.region(rule.to)
        replicas.push({s3: await s3Client(cloud, to.awsRegion), bucket: (await this.regionResources(to)).auditBucket})
      }
    }

    return new AuditLog(primary, replicas)
  }

  async cloud(): Promise<CloudEndpoint> {
    const endpoint = this.flags.endpoint ?? this.config.cloud.endpoint
    if (endpoint) {
      const {emulatorEndpoint} = await import('../cloud/clients.js')
      return emulatorEndpoint(endpoint)
    }

    try {
      return await (await this.world()).cloudEndpoint()
    } catch (error) {
      throw new PreconditionError(`no cloud endpoint given and no running world found: ${(error as Error).message}`, {
        code: 'NO_CLOUD',
        hint: 'pass --endpoint http://127.0.0.1:<port> (moto or LocalStack), or start a world with `atlas up`',
      })
    }
  }

  /** database URL(s): --db, else every database node of the running world, as the given role (least privilege) */
  async databaseUrls(role: DatabaseRole = 'ledger'): Promise<string[]> {
    if (this.flags.db) return [this.flags.db]
    let urls: string[] = []
    try {
      urls = await (await this.world()).databaseUrls(role)
    } catch (error) {
      throw new PreconditionError(`no database given and no running world found: ${(error as Error).message}`, {
        code: 'NO_DATABASE',
        hint: 'pass --db postgres://user@host:port/db (or set ATLAS_DATABASE_URL), or start a world with `atlas up`',
      })
    }

    if (urls.length === 0)
      throw new PreconditionError('the world has no database nodes (is it up?)', {
        code: 'NO_DATABASE',
        hint: 'run `atlas up`, or pass --db',
      })
    return urls
  }

  dataRegions(): Region[] {
    return dataRegions(this.config)
  }

  /** A data region (not the witness) by name; default: the primary. */
  region(name?: string): Region {
    const region = name ? findRegion(this.config, name) : primaryRegion(this.config)
    return region
  }

  /** bucket and queue of a region: from the world's endpoints when it knows them, else from names.ts */
  async regionResources(region: Region): Promise<{auditBucket: string; queueName: string; queueUrl?: string}> {
    const {cloudResourceNames} = await import('../cloud/names.js')
    const names = cloudResourceNames(this.config.namePrefix, region.name)
    let known: RegionEndpoints | undefined
    if (!this.flags.endpoint) {
      try {
        known = (await (await this.world()).endpoints()).find((e) => e.region === region.name)
      } catch {
        known = undefined
      }
    }

    return {auditBucket: known?.auditBucket ?? names.auditBucket, queueUrl: known?.queueUrl, queueName: names.queue}
  }

  /** <baseDir>/runs: the world's, else computed from the config like the local world does */
  async runsDir(): Promise<string> {
    try {
      return (await this.world()).runsDir()
    } catch {
      const base = this.config.source ? path.dirname(this.config.source) : process.cwd()
      return path.resolve(base, this.config.local.baseDir, 'runs')
    }
  }

  /** The port of `atlas ledger serve` for a region: the world's (its port block, in the local world), else 8080. */
  async servicePort(region: Region): Promise<number> {
    try {
      const url = (await (await this.world()).endpoints()).find((e) => e.region === region.name)?.serviceUrl
      if (url) return Number(new URL(url).port)
    } catch {
      // no world: the conventional port
    }

    return 8080
  }

  /** The region's transfer queue: `queueUrl` when given, else the world's, else looked up by name. Close it with queue.sqs.destroy(). */
  async transferQueue(region: Region, options: {awsRegion?: string; queueUrl?: string} = {}): Promise<TransferQueue> {
    const [{sqsClient}, {TransferQueue, queueUrlByName}] = await Promise.all([
      import('../cloud/clients.js'),
      import('../cloud/queue.js'),
    ])
    const sqs = await sqsClient(await this.cloud(), options.awsRegion ?? region.awsRegion)
    try {
      const resources = options.queueUrl ? undefined : await this.regionResources(region)
      return new TransferQueue(
        sqs,
        options.queueUrl ?? resources!.queueUrl ?? (await queueUrlByName(sqs, resources!.queueName)),
      )
    } catch (error) {
      sqs.destroy()
      throw error
    }
  }

  world(): Promise<World> {
    this.worldPromise ??= (async () => {
      const {createWorld} = await import('../world/index.js')
      return createWorld(this.config)
    })()
    return this.worldPromise
  }
}
