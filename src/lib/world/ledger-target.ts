import path from 'node:path'
import type {AtlasConfig, Region} from '../config/schema.js'
import {dataRegions, findRegion, primaryRegion} from '../config/regions.js'
import {PreconditionError} from '../errors.js'
import type {CloudEndpoint, DatabaseRole, RegionEndpoints, World} from './types.js'

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

  world(): Promise<World> {
    this.worldPromise ??= (async () => {
      const {createWorld} = await import('../world/index.js')
      return createWorld(this.config)
    })()
    return this.worldPromise
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
    if (urls.length === 0) throw new PreconditionError('the world has no database nodes (is it up?)', {code: 'NO_DATABASE', hint: 'run `atlas up`, or pass --db'})
    return urls
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

  /** A data region (not the witness) by name; default: the primary. */
  region(name?: string): Region {
    const region = name ? findRegion(this.config, name) : primaryRegion(this.config)
    return region
  }

  dataRegions(): Region[] {
    return dataRegions(this.config)
  }

  /** bucket and queue of a region: from the world's endpoints when it knows them, else from names.ts */
  async regionResources(region: Region): Promise<{auditBucket: string; queueUrl?: string; queueName: string}> {
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

  /** <baseDir>/runs: the world's, else computed from the config like the local world does */
  async runsDir(): Promise<string> {
    try {
      return (await this.world()).runsDir()
    } catch {
      const base = this.config.source ? path.dirname(this.config.source) : process.cwd()
      return path.resolve(base, this.config.local.baseDir, 'runs')
    }
  }
}
