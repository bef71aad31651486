import {fetchJson} from './http.js'
import {groupHealth, type GroupHealth, type MemberHealth} from './model.js'

export interface PatroniTarget {
  apiUrl: string
  /** Patroni member name, e.g. pg-us */
  name: string
  region: string
}

/**
 * GET /cluster as Patroni (3.x, 4.x) returns it (only the fields Atlas reads): each node's view of the
 * DCS. A member's `state` is its PostgreSQL state as its Patroni last wrote it (once per HA loop):
 * the leader's is 'running'; a standby's is its replication state ('streaming') once its WAL receiver
 * streams, else its PostgreSQL state ('running', 'starting', 'stopped', 'crashed', ...).
 */
export interface PatroniClusterResponse {
  members?: Array<{
    host?: string
    lag?: number | string
    name: string
    port?: number
    role?: string
    state?: string
    tags?: Record<string, unknown>
    timeline?: number
  }>
  scope?: string
}

/** GET /patroni: a node's own PostgreSQL as its Patroni sees it at the request (only the fields Atlas reads). */
export interface PatroniNodeResponse {
  /** 'streaming' on a standby whose WAL receiver streams */
  replication_state?: string
  /** 'primary' or 'replica' (pg_is_in_recovery); Patroni's own idea of it when PostgreSQL does not answer */
  role?: string
  state?: string
}

export interface PatroniSample {
  /** this node's own view of the cluster (from its REST API) */
  cluster?: PatroniClusterResponse
  error?: string
  /** this node's own PostgreSQL (GET /patroni); absent when that did not answer */
  node?: PatroniNodeResponse
  target: PatroniTarget
}

/**
 * Asks every node's REST API in parallel for its view of the cluster and its own PostgreSQL; a node
 * that does not answer is reported, not thrown.
 */
export async function samplePatroni(targets: PatroniTarget[], timeoutMs = 300): Promise<PatroniSample[]> {
  return Promise.all(
    targets.map(async (target): Promise<PatroniSample> => {
      const [cluster, node] = await Promise.allSettled([
        fetchJson<PatroniClusterResponse>(`${target.apiUrl}/cluster`, {timeoutMs}),
        fetchJson<PatroniNodeResponse>(`${target.apiUrl}/patroni`, {timeoutMs}),
      ])
      if (cluster.status === 'rejected') return {target, error: (cluster.reason as Error).message}
      return {target, cluster: cluster.value, ...(node.status === 'fulfilled' ? {node: node.value} : {})}
    }),
  )
}

/**
 * Maps Patroni samples into the health model. A node is alive when its own API
 * answers (a SIGSTOPped node is still listed by its peers until its key expires,
 * so peers' views cannot tell). Role and lag come from the freshest view that
 * names a leader (newest timeline): the leader's own view when it answers. Every node holds a
 * copy, so all count as voters; the timeline is the "term".
 */
export function patroniGroupHealth(samples: PatroniSample[]): GroupHealth {
  const views = samples.filter((s) => s.cluster?.members)
  const leaderIn = (s: PatroniSample) => s.cluster!.members!.find((m) => m.role === 'leader' && m.state === 'running')
  // a primary cut off from the DCS keeps serving its last view, naming itself leader, long after
  // another node was promoted; a promotion always starts a new timeline, so the newest one is current
  const newestTimeline = Math.max(-1, ...views.map((s) => leaderIn(s)?.timeline ?? -1))
  const withLeader = views.filter((s) => leaderIn(s) && (leaderIn(s)!.timeline ?? -1) === newestTimeline)
  const selfLeader = withLeader.find((s) => leaderIn(s)!.name === s.target.name)
  const view = (selfLeader ?? withLeader[0] ?? views[0])?.cluster
  const members = samples.map((s): MemberHealth => {
    const listed = view?.members?.find((m) => m.name === s.target.name)
    const alive = Boolean(s.cluster)
    const patroniRole = listed?.role ?? null
    const lag = typeof listed?.lag === 'number' ? listed.lag : null
    const isLeader = alive && patroniRole === 'leader' && listed?.state === 'running'
    return {
      region: s.target.region,
      name: s.target.name,
      group: 'patroni',
      alive,
      reachable: alive,
      role: isLeader ? 'leader' : alive && listed ? 'follower' : 'unknown',
      term: listed?.timeline ?? null,
      lag: isLeader ? 0 : lag,
      detail: {
        patroniRole,
        state: listed?.state ?? null,
        syncStandby: patroniRole === 'sync_standby',
        nofailover: Boolean(listed?.tags?.nofailover),
        // the node's own answer, not up to an HA loop old as the DCS's is (null: no answer)
        ownState: s.node?.state ?? null,
        ownRole: s.node?.role ?? null,
        ownReplication: s.node?.replication_state ?? null,
        ...(s.error ? {error: s.error} : {}),
      },
    }
  })
  return groupHealth('patroni', members)
}

/**
 * GET /config: the cluster's dynamic configuration as this node's copy of the DCS holds it (refreshed at
 * each of its HA loops). Open, like GET /cluster.
 */
export function getDynamicConfig(target: PatroniTarget, timeoutMs: number): Promise<Record<string, unknown>> {
  return fetchJson<Record<string, unknown>>(`${target.apiUrl}/config`, {timeoutMs})
}

/**
 * PATCH /config: Patroni merges the body into the configuration it reads from the DCS (a null removes a
 * key), writes the result in one compare-and-set of the config key (409 when it changed meanwhile), wakes
 * its HA loop and answers with the document it wrote. Needs the REST API's Basic authorization.
 */
export function patchDynamicConfig(
  target: PatroniTarget,
  patch: Record<string, unknown>,
  authorization: string,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  return fetchJson<Record<string, unknown>>(`${target.apiUrl}/config`, {
    method: 'PATCH',
    body: patch,
    headers: {authorization},
    timeoutMs,
  })
}
