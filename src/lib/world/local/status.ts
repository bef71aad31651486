import type {CloudEndpoint, RegionEndpoints, WorldStatus} from '../types.js'

import {patroniGroupHealth, samplePatroni} from '../../health/patroni.js'
import {type LocalContext, readState} from './context.js'
import {health, patroniTargets} from './health.js'
import {type DatabaseRole, type DatabaseSecrets, databaseUrl} from './layout.js'
import {liveProcesses} from './processes.js'
import {worldSecrets} from './secrets.js'

/** moto accepts any credentials; these are its documented test values, never real ones. */
const EMULATOR_CREDENTIALS = {accessKeyId: 'test', secretAccessKey: 'test'}

export async function status(ctx: LocalContext): Promise<WorldStatus> {
  const live = await liveProcesses(ctx.processes)
  const up = live.size > 0
  const complete = up && ctx.processes.every((p) => live.has(p.name)) && (await readState(ctx))?.complete === true
  const [cluster, monitoring] = await Promise.all([up ? health(ctx) : null, ctx.monitoring.status()])
  return {
    driver: 'local',
    up,
    complete,
    regions: await endpoints(ctx),
    health: cluster,
    ...(monitoring ? {monitoring} : {}),
  }
}

/**
 * Every node's URL for a role (default: the ledger's), the current database leader's first:
 * clients try hosts in order, so they reach the writable node at once.
 */
export async function databaseUrls(ctx: LocalContext, role: DatabaseRole = 'ledger'): Promise<string[]> {
  const secrets = await worldSecrets(ctx.layout)
  const leader = patroniGroupHealth(await samplePatroni(patroniTargets(ctx), 300)).leaderRegion
  const ordered = [...ctx.layout.regions].sort(
    (a, b) => Number(b.region.name === leader) - Number(a.region.name === leader),
  )
  return ordered.map((r) => databaseUrl(ctx.layout, r, secrets, role))
}

export async function cloudEndpoint(ctx: LocalContext): Promise<CloudEndpoint> {
  return {
    endpoint: ctx.config.cloud.endpoint ?? `http://${ctx.layout.host}:${ctx.layout.motoPort}`,
    ...EMULATOR_CREDENTIALS,
  }
}

export async function endpoints(ctx: LocalContext): Promise<RegionEndpoints[]> {
  const state = await readState(ctx)
  let secrets: DatabaseSecrets | undefined
  try {
    secrets = await worldSecrets(ctx.layout)
  } catch {
    secrets = undefined
  }

  return ctx.layout.regions.map((r) => {
    const cloud = state?.cloud?.regions.find((c) => c.region === r.region.name)
    return {
      region: r.region.name,
      databaseUrl: secrets ? databaseUrl(ctx.layout, r, secrets) : undefined,
      serviceUrl: `http://${ctx.layout.host}:${r.servicePort}`,
      auditBucket: cloud?.auditBucket,
      queueUrl: cloud?.queueUrl,
      deadLetterQueueUrl: cloud?.deadLetterQueueUrl,
    }
  })
}
