import type {LocalContext} from './context.js'

import {PreconditionError} from '../../errors.js'
import {etcdGroupHealth, sampleEtcd} from '../../health/etcd.js'
import {type ClientTls, fetchJson} from '../../health/http.js'
import {clusterHealth, type ClusterHealth} from '../../health/model.js'
import {patroniGroupHealth, samplePatroni} from '../../health/patroni.js'
import {poll, pollUntil} from '../../wait.js'
import {etcdClientUrl, patroniUrl} from './layout.js'
import {atlasEtcdTls} from './pki.js'

/** The etcd members with atlas's client certificate (not enumerable: a target never reaches any output). */
export async function etcdTargets(ctx: LocalContext) {
  ctx.etcdTls ??= atlasEtcdTls(ctx.layout)
  const tls = await ctx.etcdTls.catch((error: NodeJS.ErrnoException) => {
    ctx.etcdTls = undefined
    throw new PreconditionError(
      `the local world in ${ctx.layout.baseDir} has no etcd client certificate (${error.code ?? error.message})`,
      {hint: 'run `atlas up`'},
    )
  })
  return ctx.layout.regions.map(
    (r) =>
      Object.defineProperty({region: r.region.name, name: r.etcdName, clientUrl: etcdClientUrl(ctx.layout, r)}, 'tls', {
        value: tls,
        enumerable: false,
      }) as {clientUrl: string; name: string; region: string; tls: ClientTls},
  )
}

export function patroniTargets(ctx: LocalContext) {
  return ctx.layout.regions.map((r) => ({
    region: r.region.name,
    name: r.postgresName,
    apiUrl: patroniUrl(ctx.layout, r),
  }))
}

export async function health(ctx: LocalContext): Promise<ClusterHealth> {
  const at = new Date()
  const [etcd, patroni] = await Promise.all([
    etcdTargets(ctx).then((t) => sampleEtcd(t)),
    samplePatroni(patroniTargets(ctx)),
  ])
  const etcdGroup = etcdGroupHealth(etcd.samples, etcd.members)
  const patroniGroup = patroniGroupHealth(patroni)
  const cluster = clusterHealth(
    [etcdGroup, patroniGroup],
    'patroni',
    ctx.config.regions.map((r) => r.name),
    at,
  )
  // the database leader holds its lease in etcd: without etcd quorum it demotes itself
  return {...cluster, writable: cluster.writable && etcdGroup.quorumHeld}
}

/**
 * Converged: every etcd member answers and follows one leader; one Patroni leader whose PostgreSQL
 * runs as the primary; every other node a synchronous standby (synchronous_node_count is regions-1)
 * that streams from it with no lag. Each node's own answer must agree with the DCS's, which is up
 * to an HA loop old: a PostgreSQL that has just crashed or restarts is still 'streaming' there.
 */
export function isConverged(health: ClusterHealth): boolean {
  const etcd = health.groups.find((g) => g.group === 'etcd')
  const pg = health.groups.find((g) => g.group === 'patroni')
  if (!etcd || !pg) return false
  if (!etcd.leaderRegion || etcd.members.some((m) => !m.alive || m.role === 'unknown')) return false
  if (!pg.leaderRegion || pg.members.some((m) => !m.alive)) return false
  return pg.members.every((m) => {
    const d = m.detail ?? {}
    if (m.role === 'leader') return d.state === 'running' && d.ownState === 'running' && d.ownRole === 'primary'
    return (
      d.syncStandby === true &&
      d.state === 'streaming' &&
      d.ownState === 'running' &&
      d.ownReplication === 'streaming' &&
      m.lag === 0
    )
  })
}

/** Waits until a Patroni leader runs (it takes writes; its standbys may still be on their way). */
export async function waitForLeader(
  ctx: LocalContext,
  options: {signal?: AbortSignal; timeoutMs: number},
): Promise<void> {
  await pollUntil(
    async () => {
      const pg = (await health(ctx)).groups.find((g) => g.group === 'patroni')
      const leader = pg?.members.find((m) => m.role === 'leader' && m.alive)
      return leader?.detail?.state === 'running'
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: 250,
      signal: options.signal,
      timeoutError: () =>
        new PreconditionError(`no PostgreSQL leader within ${options.timeoutMs / 1000} s`, {
          hint: `see ${ctx.layout.logDir}/patroni-*.log`,
        }),
    },
  )
}

export async function waitConverged(
  ctx: LocalContext,
  options: {
    /** called with each sample that is not converged yet (bootstrap: wakes Patroni loops that have work, patroni-wake.ts) */
    onSample?: (health: ClusterHealth) => Promise<void>
    signal?: AbortSignal
    timeoutMs?: number
  } = {},
): Promise<ClusterHealth> {
  const timeoutMs = options.timeoutMs ?? 90_000
  const deadline = Date.now() + timeoutMs
  let current!: ClusterHealth
  const converged = async () => {
    if (isConverged((current = await health(ctx)))) return true
    await options.onSample?.(current)
    return false
  }

  await pollUntil(converged, {
    timeoutMs,
    intervalMs: 250,
    signal: options.signal,
    timeoutError: () =>
      new PreconditionError(`the world did not converge within ${timeoutMs / 1000} s: ${describeHealth(current)}`, {
        hint: `see ${ctx.layout.logDir}`,
      }),
  })
  if (await placeEtcdLeader(ctx, current)) {
    // the hand-over takes a few heartbeats: return the settled state, with the new Raft leader in it (or the last one seen by the deadline)
    await poll(converged, {timeoutMs: Math.max(0, deadline - Date.now()), intervalMs: 100, signal: options.signal})
  }

  return current
}

/**
 * Steady state puts the etcd (Raft) leader on the witness. Why: etcd renews every
 * lease when its leader changes, so a region that held both the etcd leader and
 * the database leader would keep its dead leader lease for a whole extra TTL.
 * Best effort: returns whether leadership was moved. Without a health sample, asks etcd
 * who leads (`up` moves it as soon as etcd has formed, while Patroni starts).
 */
export async function placeEtcdLeader(ctx: LocalContext, health?: ClusterHealth): Promise<boolean> {
  const witness = ctx.config.regions.find((r) => r.role === 'witness')
  const {samples, members} = await sampleEtcd(await etcdTargets(ctx))
  const leaderRegion = (health ?? {groups: [etcdGroupHealth(samples, members)]}).groups.find(
    (g) => g.group === 'etcd',
  )?.leaderRegion
  if (!witness || !leaderRegion || leaderRegion === witness.name) return false
  const target = samples.find((s) => s.target.region === witness.name)?.status?.header?.member_id
  const leader = samples.find((s) => s.target.region === leaderRegion)
  if (!target || !leader) return false
  // etcd's gRPC gateway (MoveLeader), so that no etcdctl is needed
  try {
    await fetchJson(`${leader.target.clientUrl}/v3/maintenance/transfer-leadership`, {
      body: {targetID: target},
      timeoutMs: 5000,
      tls: leader.target.tls,
    })
    return true
  } catch {
    return false
  }
}

export async function waitEtcdQuorum(ctx: LocalContext, signal?: AbortSignal, timeoutMs = 20_000): Promise<void> {
  let last = ''
  const formed = async () => {
    const {samples} = await sampleEtcd(await etcdTargets(ctx))
    const group = etcdGroupHealth(samples)
    last = `${group.votersAlive}/${group.voters} members answering, leader ${group.leaderRegion ?? 'none'}`
    return group.quorumHeld && group.leaderRegion !== undefined
  }

  await pollUntil(formed, {
    timeoutMs,
    intervalMs: 100,
    signal,
    timeoutError: () =>
      new PreconditionError(`etcd did not form a cluster within ${timeoutMs / 1000} s (${last})`, {
        hint: `see ${ctx.layout.logDir}/etcd-*.log`,
      }),
  })
}

/**
 * Waits until one etcd member serves its peers (GET /members on its peer port, answered before the
 * cluster has formed; its client port waits for quorum), or timeoutMs has passed: best effort, the
 * quorum wait that follows reports a member that never does.
 */
export async function waitEtcdServingPeers(
  ctx: LocalContext,
  region: string,
  options: {signal?: AbortSignal; timeoutMs: number},
): Promise<void> {
  const r = ctx.layout.regions.find((x) => x.region.name === region)
  const target = (await etcdTargets(ctx)).find((t) => t.region === region)
  if (!r || !target) return
  await poll(
    () =>
      fetchJson(`https://${r.address}:${r.etcdPeerPort}/members`, {tls: target.tls, timeoutMs: 200}).then(
        () => true,
        () => false,
      ),
    {timeoutMs: options.timeoutMs, intervalMs: 20, signal: options.signal},
  )
}

/** Waits until some Patroni node has claimed the bootstrap (the DCS initialize key exists). */
export async function waitForInitializeKey(ctx: LocalContext, signal?: AbortSignal, timeoutMs = 30_000): Promise<void> {
  const key = Buffer.from(`/service/${ctx.layout.scope}/initialize`).toString('base64')
  const claimed = async () => {
    for (const target of await etcdTargets(ctx)) {
      try {
        const body = await fetchJson<{kvs?: unknown[]}>(`${target.clientUrl}/v3/kv/range`, {
          body: {key},
          tls: target.tls,
        })
        return body.kvs !== undefined && body.kvs.length > 0
      } catch {
        // try the next member
      }
    }

    return false
  }

  await pollUntil(claimed, {
    timeoutMs,
    intervalMs: 100,
    signal,
    timeoutError: () =>
      new PreconditionError(`the primary's Patroni did not bootstrap the cluster within ${timeoutMs / 1000} s`, {
        hint: `see ${ctx.layout.logDir}/patroni-*.log`,
      }),
  })
}

/**
 * Deletes Patroni's whole state of this world's cluster from etcd (/service/<scope>/: initialize, leader,
 * members, config, history, status), as `patronictl remove` does. Only with every Patroni stopped: the
 * next Patroni to start with a data directory claims the cluster again with that data's system id
 * (an in-place restore), and no last known leader position keeps a restored, older copy from leading.
 */
export async function clearClusterState(ctx: LocalContext): Promise<void> {
  const prefix = `/service/${ctx.layout.scope}/`
  // etcd's range end for "every key with this prefix": the prefix with its last byte plus one
  const rangeEnd = prefix.slice(0, -1) + String.fromCodePoint(prefix.codePointAt(prefix.length - 1)! + 1)
  const errors: string[] = []
  for (const target of await etcdTargets(ctx)) {
    try {
      const answer = await fetchJson<{header?: unknown}>(`${target.clientUrl}/v3/kv/deleterange`, {
        body: {key: Buffer.from(prefix).toString('base64'), range_end: Buffer.from(rangeEnd).toString('base64')},
        tls: target.tls,
        timeoutMs: 5000,
      })
      if (answer.header === undefined) throw new Error('no answer from etcd')
      return
    } catch (error) {
      errors.push(`${target.name}: ${(error as Error).message}`)
    }
  }

  throw new PreconditionError(`could not clear the Patroni cluster state in etcd (${errors.join('; ')})`, {
    hint: 'etcd must have quorum: `atlas status`',
  })
}

/** One line per group, for error messages and progress. */
export function describeHealth(health: ClusterHealth): string {
  return health.groups
    .map(
      (g) =>
        `${g.group}: ${g.members.map((m) => `${m.region}=${m.alive ? `${m.role}${m.detail?.state ? `/${m.detail.state}` : ''}${m.detail?.patroniRole ? `/${m.detail.patroniRole}` : ''}${m.lag ? ` lag ${m.lag}` : ''}` : 'down'}`).join(' ')}`,
    )
    .join('; ')
}
