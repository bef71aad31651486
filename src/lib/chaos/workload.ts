import type {WorkloadHandle, WorkloadOptions, WorkloadResult, WorkloadStats} from '../ledger/workload/index.js'
import type {DatabaseRole, ProgressReporter, World} from '../world/types.js'

import {primaryRegion} from '../config/regions.js'
import {LatencyHistogram} from '../ledger/stats.js'

/** One finished transfer, as the workload reports it (onOutcome). */
export type OutcomeEvent = Parameters<NonNullable<WorkloadOptions['onOutcome']>>[0]
export type OutcomeListener = (event: OutcomeEvent) => void

/**
 * A window onto a running chaos workload: what one round of a campaign saw of the
 * workload the campaign started once for all its rounds.
 */
export interface WorkloadWindow {
  /** stops listening; the counters from the window's opening to now (latencies: this window's own) */
  close(): WorkloadStats
}

/**
 * The transfer workload chaos runs write under: against every database node of the world
 * (the leader's first), with an S3 audit record (and replica copies) per acknowledged
 * transfer, its counters served to the world's Prometheus while it runs. A blast-radius
 * round starts one and stops it; a campaign starts one before its first round, lends it to
 * every round (blastRadius's sharedWorkload: each round opens a window onto it and leaves
 * it running) and stops it after the last, so one run log holds the whole campaign.
 */
export interface ChaosWorkload {
  readonly handle: WorkloadHandle
  /** every finished transfer from now on goes to the listener too, until the window is closed */
  observe(listener: OutcomeListener): WorkloadWindow
  readonly pid: number
  /** when it started, and the process it runs in: the same for every round of a campaign */
  readonly startedAt: Date
  /** stop issuing, settle unknown outcomes, close the run log, the audit clients and the metrics endpoint (once; later calls get the same result) */
  stop(): Promise<WorkloadResult>
}

export async function startChaosWorkload(
  world: World,
  options: {
    concurrency: number
    leaderRegion: null | string
    onOutcome?: OutcomeListener
    /** transfers in flight per connection (default: the workload's, DEFAULT_PIPELINE) */
    pipeline?: number
    progress: ProgressReporter
    runDir: string
  },
): Promise<ChaosWorkload> {
  const {startWorkload} = await import('../ledger/workload/index.js')
  const cleanups: Array<() => void> = []
  const listeners = new Set<OutcomeListener>(options.onOutcome ? [options.onOutcome] : [])
  const primary = primaryRegion(world.config)
  let started: undefined | WorkloadHandle
  try {
    const {LedgerTarget} = await import('../world/ledger-target.js')
    const audit = await LedgerTarget.ofWorld(world).auditLog(primary)
    cleanups.push(() => audit.destroy())
    started = await startWorkload({
      db: await leaderFirstUrls(world, options.leaderRegion, 'ledger'),
      runDir: options.runDir,
      runsDir: world.runsDir(),
      concurrency: options.concurrency,
      pipeline: options.pipeline,
      onOutcome(event) {
        for (const listener of listeners) listener(event)
      },
      originRegion: primary.name,
      audit,
      signal: new AbortController().signal,
      // a frozen node accepts TCP connections and never answers: give up on it within a second on
      // loopback (a renewed pool starts from the next host), and on a statement it holds within
      // 2.5 s rather than the default 10 s (the retry is idempotent)
      ...(world.driver === 'local'
        ? {connectTimeoutSeconds: 1, retry: {attemptTimeoutMs: 2500, maxDelayMs: 250}}
        : {retry: {attemptTimeoutMs: 6000}}),
    })
    if (world.monitoring) {
      // Prometheus scrapes the workload's counters while it runs (unknown outcomes, errors, audit failures)
      const {serveWorkloadMetrics} = await import('../monitoring/workload-metrics.js')
      const workload = started
      cleanups.push(
        await serveWorkloadMetrics(
          world.monitoring.workloadMetricsAddress(),
          () => workload.stats(),
          primary.name,
          (m) => options.progress.info(m),
        ),
      )
    }
  } catch (error) {
    // the metrics endpoint may fail after the workload started: stop what did start
    await started?.stop().catch(() => {})
    for (const c of cleanups) c()
    throw error
  }

  const handle = started
  let stopped: Promise<WorkloadResult> | undefined
  return {
    handle,
    startedAt: new Date(),
    pid: process.pid,
    observe(listener) {
      const from = handle.stats()
      const latencies = new LatencyHistogram()
      let firstAck: number | undefined
      let lastAck: number | undefined
      const own: OutcomeListener = (event) => {
        listener(event)
        if (event.outcome === 'applied' || event.outcome === 'already_applied') {
          latencies.record(event.latencyMs)
          firstAck ??= event.at.getTime()
          lastAck = event.at.getTime()
        }
      }

      listeners.add(own)
      let closed: undefined | WorkloadStats
      return {
        close() {
          if (closed) return closed
          listeners.delete(own)
          closed = windowStats(from, handle.stats(), latencies, firstAck, lastAck)
          return closed
        },
      }
    },
    stop() {
      stopped ??= handle.stop().finally(() => {
        for (const c of cleanups) c()
      })
      return stopped
    },
  }
}

/**
 * The counters of a window of a running workload: the differences of two snapshots (taken
 * in the same tick as the window's listener was added and removed, so they count the same
 * transfers the listener saw), with the window's own latencies and acknowledgement times.
 */
export function windowStats(
  from: WorkloadStats,
  to: WorkloadStats,
  latencies: LatencyHistogram,
  firstAckMs?: number,
  lastAckMs?: number,
): WorkloadStats {
  const d = (
    key:
      | 'acknowledged'
      | 'alreadyApplied'
      | 'applied'
      | 'attempted'
      | 'auditErrors'
      | 'failed'
      | 'rejected'
      | 'retries'
      | 'sent'
      | 'unknown'
      | 'unknownResolved',
  ) => to[key] - from[key]
  const elapsedSeconds = Math.round((to.elapsedSeconds - from.elapsedSeconds) * 1000) / 1000
  const completed = d('acknowledged') + d('sent')
  return {
    elapsedSeconds,
    attempted: d('attempted'),
    acknowledged: d('acknowledged'),
    applied: d('applied'),
    alreadyApplied: d('alreadyApplied'),
    sent: d('sent'),
    rejected: d('rejected'),
    failed: d('failed'),
    unknown: d('unknown'),
    unknownResolved: d('unknownResolved'),
    retries: d('retries'),
    inFlight: to.inFlight,
    auditErrors: d('auditErrors'),
    tps: to.tps,
    averageTps: elapsedSeconds > 0 ? Math.round((completed / elapsedSeconds) * 10) / 10 : 0,
    latencyMs: {
      p50: round2(latencies.percentile(0.5)),
      p99: round2(latencies.percentile(0.99)),
      max: round2(latencies.max),
    },
    firstAcknowledgedAt: firstAckMs === undefined ? undefined : new Date(firstAckMs).toISOString(),
    lastAcknowledgedAt: lastAckMs === undefined ? undefined : new Date(lastAckMs).toISOString(),
    recentErrors: [...to.recentErrors],
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100

/** Database URLs with the current leader's first: the client tries hosts in order. */
export async function leaderFirstUrls(
  world: World,
  leaderRegion: null | string,
  role: DatabaseRole,
): Promise<string[]> {
  const all = await world.databaseUrls(role)
  const endpoints = await world.endpoints()
  // the endpoints' URLs may be another role's: the node is its host and port
  const node = (url: string | undefined) => (url ? /^[a-z]+:\/\/(?:[^@/]*@)?([^/?]+)/.exec(url)?.[1] : undefined)
  const leaderNode = node(endpoints.find((e) => e.region === leaderRegion)?.databaseUrl)
  const leader = all.find((u) => leaderNode !== undefined && node(u) === leaderNode)
  return leader ? [leader, ...all.filter((u) => u !== leader)] : all
}
