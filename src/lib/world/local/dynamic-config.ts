import type {ConfigChange} from '../types.js'
import type {LocalContext} from './context.js'

import {PreconditionError} from '../../errors.js'
import {HttpStatusError} from '../../health/http.js'
import {getDynamicConfig, patchDynamicConfig, type PatroniTarget} from '../../health/patroni.js'
import {poll} from '../../wait.js'
import {formatConfigChanges} from '../plan-format.js'
import {patroniTargets} from './health.js'
import {patroniDynamicConfig, patroniRestAuthorization} from './layout.js'

/*
 * Patroni's dynamic configuration (layout.ts's patroniDynamicConfig) reaches etcd only when the cluster is
 * bootstrapped: a world made by an older atlas keeps that version's ttl, retry_timeout, ... until it is
 * purged. `up` compares what the DCS holds (GET /config) with what this version sets and changes what
 * differs in one PATCH /config: Patroni writes the patched document in one compare-and-set of the config
 * key (409 when it changed meanwhile), so a refused PATCH changes nothing. Every Patroni takes the new
 * values at its next HA loop; its watchdog takes a new ttl at its next keepalive.
 */

export interface DynamicConfigDiff {
  /** values that differ and that `up` leaves as they are, each with why */
  notReconciled: Array<ConfigChange & {reason: string}>
  /** PATCH /config's body for `reconcile` */
  patch: Record<string, unknown>
  /** values that differ and that `up` sets */
  reconcile: ConfigChange[]
}

/**
 * The PostgreSQL parameters of the dynamic configuration that take effect on a reload (pg_settings
 * context sighup): Patroni reloads every node when they change. Every other parameter the world sets
 * (wal_level, hot_standby, wal_log_hints, max_wal_senders, max_replication_slots, max_connections:
 * context postmaster) takes a restart of each node, which Patroni only flags (pending_restart).
 */
export const RELOAD_PARAMETERS: ReadonlySet<string> = new Set([
  'wal_keep_size',
  'wal_receiver_timeout',
  'wal_retrieve_retry_interval',
  'wal_sender_timeout',
])

/**
 * Why `up` leaves a differing value as it is; undefined: `up` sets it. Set are the HA timing (ttl,
 * loop_wait, retry_timeout), maximum_lag_on_failover, the synchronous settings (Patroni applies them at
 * its next loop by rewriting synchronous_standby_names and reloading, no restart; the world's "no
 * acknowledged write lost" rests on them), what Patroni does at a rewind (use_pg_rewind,
 * remove_data_directory_*: read only when one happens) and the reload-only parameters.
 */
export function notReconciledReason(key: string): string | undefined {
  if (key === 'postgresql.use_slots')
    return "switching replication slots on or off changes how the running standbys stream (slots made or dropped under them); `atlas down --purge` and `atlas up` make a world with this version's setting"
  const parameter = /^postgresql\.parameters\.(.+)$/.exec(key)?.[1]
  if (parameter !== undefined && !RELOAD_PARAMETERS.has(parameter))
    return "PostgreSQL applies it only when restarted (Patroni would leave every node pending_restart); `atlas down --purge` and `atlas up` make a world with this version's value"
  return undefined
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Whether two values of the configuration mean the same. Patroni's PATCH compares them as strings
 * (utils.patch_config), and the config file's YAML turns an unquoted `on` into true, so the DCS of every
 * world holds hot_standby: true where this version says 'on': booleans and PostgreSQL's spellings of them agree.
 */
function sameValue(a: unknown, b: unknown): boolean {
  const spelling = (v: unknown) => {
    const text = String(v).toLowerCase()
    return ['on', 'true', 'yes'].includes(text) ? 'on' : ['off', 'false', 'no'].includes(text) ? 'off' : String(v)
  }

  return spelling(a) === spelling(b)
}

/** What differs between a dynamic configuration (GET /config) and the wanted one; keys only the former has are not looked at. */
export function diffDynamicConfig(current: unknown, wanted: Record<string, unknown>): DynamicConfigDiff {
  const diff: DynamicConfigDiff = {reconcile: [], notReconciled: [], patch: {}}
  const walk = (have: unknown, want: Record<string, unknown>, path: string[]) => {
    for (const [name, value] of Object.entries(want)) {
      const at = [...path, name]
      const had = isObject(have) ? have[name] : undefined
      if (isObject(value)) {
        walk(had, value, at)
        continue
      }

      if (had !== undefined && had !== null && !isObject(had) && sameValue(had, value)) continue
      const change = {key: at.join('.'), from: had ?? null, to: value}
      const reason = notReconciledReason(change.key)
      if (reason) {
        diff.notReconciled.push({...change, reason})
        continue
      }

      diff.reconcile.push(change)
      let node = diff.patch
      for (const part of path) node = (node[part] ??= {}) as Record<string, unknown>
      node[name] = value
    }
  }

  walk(current, wanted, [])
  return diff
}

export interface DynamicConfigResult {
  /** the nodes whose GET /config showed the new values (empty when nothing changed, and in a dry run) */
  confirmedBy: string[]
  notReconciled: Array<ConfigChange & {reason: string}>
  /** what was changed, old to new (with dryRun: what would be) */
  reconciled: ConfigChange[]
}

/**
 * GET /config of the first node that answers, in region order. A cluster whose state in etcd was just
 * cleared (an in-place restore) has no configuration (502) until its leader's next loop writes it back.
 */
async function readDynamicConfig(
  targets: PatroniTarget[],
  signal: AbortSignal | undefined,
): Promise<{config: Record<string, unknown>; target: PatroniTarget}> {
  let why: string[] = []
  const found = await poll(
    async () => {
      const answers = await Promise.allSettled(targets.map((t) => getDynamicConfig(t, 2000)))
      const index = answers.findIndex((a) => a.status === 'fulfilled')
      why = answers.map((a, i) => `${targets[i].name}: ${((a as PromiseRejectedResult).reason as Error)?.message}`)
      return (
        index !== -1 && {
          target: targets[index],
          config: (answers[index] as PromiseFulfilledResult<Record<string, unknown>>).value,
        }
      )
    },
    {intervalMs: 250, timeoutMs: 5000, signal},
  )
  if (!found)
    throw new PreconditionError(`no Patroni of the world answered GET /config (${why.join('; ')})`, {
      code: 'PATRONI_UNREACHABLE',
      hint: '`atlas status` shows which members run, `atlas logs` what they said',
    })
  return found
}

/**
 * Brings the DCS's dynamic configuration to this version's values (see the top of this file): GET /config,
 * one PATCH /config with what differs, then every node's GET /config must show the new values. With
 * dryRun only the GET: the result says what would change.
 */
export async function reconcileDynamicConfig(
  ctx: LocalContext,
  options: {dryRun?: boolean; restApiPassword: () => Promise<string>; signal?: AbortSignal; timeoutMs?: number},
): Promise<DynamicConfigResult> {
  const wanted = patroniDynamicConfig(ctx.layout)
  const targets = patroniTargets(ctx)
  const {target, config} = await readDynamicConfig(targets, options.signal)
  const diff = diffDynamicConfig(config, wanted)
  const result: DynamicConfigResult = {reconciled: diff.reconcile, notReconciled: diff.notReconciled, confirmedBy: []}
  if (diff.reconcile.length === 0 || options.dryRun) return result
  const authorization = patroniRestAuthorization(await options.restApiPassword())
  let written: Record<string, unknown>
  try {
    written = await patchDynamicConfig(target, diff.patch, authorization, 5000)
  } catch (error) {
    throw refused(target, diff.reconcile, error)
  }

  // Patroni answers with the document it wrote
  const unchanged = diffDynamicConfig(written, wanted).reconcile
  if (unchanged.length > 0)
    throw new PreconditionError(
      `${target.name} accepted PATCH /config, but the configuration it wrote still has ${formatConfigChanges(unchanged)}`,
      {code: 'PATRONI_CONFIG_REFUSED', details: {node: target.name, unchanged}},
    )

  // each node's GET /config reads its own copy of the DCS, refreshed at its next HA loop
  const timeoutMs = options.timeoutMs ?? 15_000
  const confirmed = new Set<string>()
  await poll(
    async () => {
      await Promise.all(
        targets
          .filter((t) => !confirmed.has(t.name))
          .map(async (t) => {
            const seen = await getDynamicConfig(t, 1000).catch(() => {})
            if (seen && diffDynamicConfig(seen, wanted).reconcile.length === 0) confirmed.add(t.name)
          }),
      )
      return confirmed.size === targets.length
    },
    {intervalMs: 200, timeoutMs, signal: options.signal},
  )
  const missing = targets.filter((t) => !confirmed.has(t.name)).map((t) => t.name)
  if (missing.length > 0)
    throw new PreconditionError(
      `PATCH /config wrote ${formatConfigChanges(diff.reconcile)} to etcd, but GET /config on ${missing.join(', ')} did not show it within ${timeoutMs / 1000} s`,
      {
        code: 'PATRONI_CONFIG_UNCONFIRMED',
        hint: '`atlas status` shows whether those members run; `atlas up` checks again',
        details: {missing},
      },
    )
  result.confirmedBy = targets.map((t) => t.name)
  return result
}

/** A PATCH Patroni did not take, as the error `up` ends with: what it answered, and what that means here. */
function refused(target: PatroniTarget, changes: ConfigChange[], error: unknown): PreconditionError {
  const status = error instanceof HttpStatusError ? error.status : undefined
  // a 4xx or a 503 comes before Patroni writes (authentication, the request, the compare-and-set); anything else may not
  const nothingWritten = status !== undefined && ((status >= 400 && status < 500) || status === 503)
  const why =
    status === 401
      ? "it refused the REST API password of the world's secrets.json (401)"
      : status === 409
        ? 'the configuration in etcd changed while it was patched (409)'
        : status === 503
          ? 'etcd holds no configuration of the cluster (503)'
          : (error as Error).message
  const hint =
    status === 401
      ? 'each Patroni reads its REST API password from its configuration file when it starts: `atlas down` and `atlas up` restart it with the one in secrets.json'
      : status === 409
        ? 'run `atlas up` again'
        : `\`atlas logs patroni-${target.region}\` shows what Patroni said; \`atlas up\` checks again`
  const what = status === undefined ? `PATCH /config on ${target.name} failed` : `${target.name} refused PATCH /config`
  return new PreconditionError(
    `${what} (${formatConfigChanges(changes)}): ${why}; ${nothingWritten ? 'nothing was changed' : 'whether it was applied is unknown'}`,
    {code: 'PATRONI_CONFIG_REFUSED', hint, details: {node: target.name, status, changes}, cause: error},
  )
}
