import type {ClusterHealth} from '../../health/model.js'
import type {LocalContext} from './context.js'

import {fetchJson} from '../../health/http.js'
import {patchDynamicConfig} from '../../health/patroni.js'
import {patroniTargets} from './health.js'
import {patroniRestAuthorization} from './layout.js'

/**
 * While a new cluster comes up, each Patroni acts once per HA loop (loop_wait): a standby whose clone
 * already streams reports "running" in its member key only at its next loop, and the leader puts it in
 * synchronous_standby_names (and then, 2 s later, in /sync) only at its own loop after that: up to two
 * loop_waits of nothing to do on the path of a cold `up` (bench/up). `up` wakes a loop as soon as it has
 * something to do; a woken loop is an ordinary HA cycle, run earlier (failover settings untouched).
 */

/** Member states in the DCS of a standby whose PostgreSQL runs (Patroni 3+ says "streaming" once it streams). */
const RUNNING = new Set(['running', 'streaming'])

export interface WakeView {
  /** each standby's own state (its GET /patroni), asked only of standbys not yet running in the DCS */
  localState: Map<string, string | undefined>
  /** wakes already sent, by reason: each is sent once */
  sent: Set<string>
}

/**
 * The Patroni nodes (member names) to wake now, each with the reason it is woken (the key in `sent`):
 * a standby whose PostgreSQL runs while its member key still says otherwise, and the leader once every
 * standby is listed as running but not all are synchronous yet.
 */
export function loopsToWake(health: ClusterHealth, view: WakeView): Array<{name: string; reason: string}> {
  const pg = health.groups.find((g) => g.group === 'patroni')
  const leader = pg?.members.find((m) => m.role === 'leader' && m.alive)
  if (!pg || !leader) return []
  const standbys = pg.members.filter((m) => m !== leader)
  const wake: Array<{name: string; reason: string}> = []
  for (const m of standbys) {
    const listed = m.detail?.state
    if (m.alive && !RUNNING.has(String(listed)) && view.localState.get(m.name) === 'running')
      wake.push({name: m.name, reason: `standby ${m.name} running`})
  }

  const allListed = standbys.length > 0 && standbys.every((m) => m.alive && RUNNING.has(String(m.detail?.state)))
  if (allListed && standbys.some((m) => m.detail?.syncStandby !== true))
    wake.push({name: leader.name, reason: `leader ${leader.name} with ${standbys.map((m) => m.name).join(',')}`})
  return wake.filter((w) => !view.sent.has(w.reason))
}

/**
 * A waker for one `up`: given each health sample of the convergence wait, asks the standbys that need it
 * for their own state and wakes the loops loopsToWake names. Best effort: a failed wake only means the
 * node acts at its own next loop.
 */
export function patroniWaker(ctx: LocalContext, restApiPassword: string): (health: ClusterHealth) => Promise<void> {
  const targets = new Map(patroniTargets(ctx).map((t) => [t.name, t]))
  const sent = new Set<string>()
  const authorization = patroniRestAuthorization(restApiPassword)
  return async (health) => {
    const pg = health.groups.find((g) => g.group === 'patroni')
    const pending = (pg?.members ?? []).filter(
      (m) => m.role !== 'leader' && m.alive && !RUNNING.has(String(m.detail?.state)),
    )
    // a standby that does not answer has nothing to report: it is not woken
    const ownState = (name: string) =>
      fetchJson<{state?: string}>(`${targets.get(name)!.apiUrl}/patroni`, {timeoutMs: 300}).then(
        (s) => s.state ?? '',
        () => '',
      )
    const localState = new Map(await Promise.all(pending.map(async (m) => [m.name, await ownState(m.name)] as const)))
    await Promise.all(
      loopsToWake(health, {localState, sent}).map(async ({name, reason}) => {
        sent.add(reason)
        // PATCH /config removing a key the configuration does not have changes nothing in the DCS, and
        // Patroni answers any PATCH /config by waking its HA loop
        await patchDynamicConfig(targets.get(name)!, {atlas_wakeup: null}, authorization, 1000).catch(() => {})
      }),
    )
  }
}
