import {readdir} from 'node:fs/promises'
import path from 'node:path'

import type {LocalWorld} from './local/index.js'
import type {DatabaseRole, World} from './types.js'

import {findRegion, primaryRegion} from '../config/regions.js'
import {PreconditionError, UsageError} from '../errors.js'

/**
 * A way into a running world without reading its state files: libpq settings
 * (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and the TLS ones: PGSSLMODE,
 * PGSSLROOTCERT, and PGSSLCERT/PGSSLKEY where the role presents a certificate)
 * for a region's database node, plus what the ledger commands read
 * (ATLAS_DATABASE_URL with every node, the cloud endpoint). Default region: the
 * database leader, where writes go. Default role: the read-only one.
 */
export async function connectionSettings(
  world: World,
  regionName?: string,
  role: DatabaseRole = 'verify',
): Promise<{env: Record<string, string>; region: string; role: DatabaseRole}> {
  const urls = await world.databaseUrls(role).catch((error: Error) => {
    throw new PreconditionError(`the world is not up: ${error.message}`, {hint: 'run `atlas up`'})
  })
  const endpoints = await world.endpoints()
  // the node of a URL is its host and port (the endpoints' URLs may be another role's)
  const node = (url: string | undefined) => (url ? new URL(url).host : undefined)
  // databaseUrls() puts the current leader's node first
  const region = regionName
    ? findRegion(world.config, regionName).name
    : (endpoints.find((e) => node(e.databaseUrl) === node(urls[0]))?.region ?? primaryRegion(world.config).name)
  const regionNode = node(endpoints.find((e) => e.region === region)?.databaseUrl)
  const url = urls.find((u) => regionNode !== undefined && node(u) === regionNode)
  if (!url) throw new UsageError(`region "${region}" has no database node`)
  const parsed = new URL(url)
  const tls: Record<string, string> = {}
  for (const [param, variable] of [
    ['sslmode', 'PGSSLMODE'],
    ['sslrootcert', 'PGSSLROOTCERT'],
    ['sslcert', 'PGSSLCERT'],
    ['sslkey', 'PGSSLKEY'],
  ] as const) {
    const value = parsed.searchParams.get(param)
    if (value) tls[variable] = value
  }

  const cloud = await world.cloudEndpoint()
  return {
    region,
    role,
    env: {
      PGHOST: parsed.hostname,
      PGPORT: parsed.port,
      PGUSER: decodeURIComponent(parsed.username),
      PGPASSWORD: decodeURIComponent(parsed.password),
      PGDATABASE: parsed.pathname.slice(1) || 'postgres',
      ...tls,
      ATLAS_DATABASE_URL: urls.join(','),
      AWS_ENDPOINT_URL: cloud.endpoint,
      AWS_ACCESS_KEY_ID: cloud.accessKeyId,
      AWS_SECRET_ACCESS_KEY: cloud.secretAccessKey,
    },
  }
}

/** `export NAME='value'` lines for `eval "$(atlas env)"`. */
export function formatExports(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => `export ${name}='${value.replaceAll("'", String.raw`'\''`)}'`)
    .join('\n')
}

/** The world's log files, optionally only those whose name starts with `component` (etcd, patroni, moto, atlas, etcd-us, …). */
export async function logFiles(world: World, component?: string): Promise<string[]> {
  if (world.driver !== 'local')
    throw new PreconditionError(`the ${world.driver} world keeps its logs in its clusters`, {hint: 'use kubectl logs'})
  const {logDir} = (world as LocalWorld).layout
  const names = (await readdir(logDir).catch(() => [] as string[])).filter((f) => f.endsWith('.log')).sort()
  if (names.length === 0)
    throw new PreconditionError(`no logs in ${logDir}`, {hint: 'the world has not been started here: `atlas up`'})
  const chosen = component ? names.filter((f) => f.startsWith(component)) : names
  if (chosen.length === 0) {
    throw new UsageError(`no log for "${component}"`, {
      hint: `components: ${[...new Set(names.map((f) => f.replace(/\.log$/, '')))].join(', ')}`,
    })
  }

  return chosen.map((f) => path.join(logDir, f))
}
