import type {KubeConfig} from '@kubernetes/client-node'

import {sleep} from '../wait.js'
import {kubeClient} from './config.js'
import {kubeGet, KubeUnreachableError} from './request.js'

/** What the health model needs of a pod. */
export interface PodState {
  name: string
  namespace: string
  /** the Kubernetes node it runs on */
  nodeName?: string
  phase: string
  podIP?: string
  /** the Ready condition */
  ready: boolean
  resourceVersion?: string
  /** sum of the containers' restart counts */
  restarts: number
}

/** The subset of a v1 Pod the watcher reads. */
interface PodObject {
  metadata?: {deletionTimestamp?: string; name?: string; namespace?: string; resourceVersion?: string}
  spec?: {nodeName?: string}
  status?: {
    conditions?: Array<{status?: string; type?: string}>
    containerStatuses?: Array<{restartCount?: number}>
    phase?: string
    podIP?: string
  }
}

export function podState(pod: PodObject): PodState {
  const conditions = pod.status?.conditions ?? []
  return {
    name: pod.metadata?.name ?? '',
    namespace: pod.metadata?.namespace ?? '',
    phase: pod.status?.phase ?? 'Unknown',
    // a terminating pod keeps Ready=True for a moment; it is on its way out
    ready: !pod.metadata?.deletionTimestamp && conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    restarts: (pod.status?.containerStatuses ?? []).reduce((sum, c) => sum + (c.restartCount ?? 0), 0),
    nodeName: pod.spec?.nodeName,
    podIP: pod.status?.podIP,
    resourceVersion: pod.metadata?.resourceVersion,
  }
}

export interface PodWatcherOptions {
  labelSelector: string
  maxReconnectDelayMs?: number
  namespace: string
  onChange?: (pods: PodState[]) => void
  /** first delay before reconnecting; doubles up to maxReconnectDelayMs */
  reconnectDelayMs?: number
  /** deadline of a list request */
  requestTimeoutMs?: number
  /** a watch silent for longer than this is presumed dead (a frozen API server sends nothing) */
  watchIdleMs?: number
  /** the API server ends each watch after this long; the watcher then lists and watches again */
  watchTimeoutSeconds?: number
}

type Connection = 'connecting' | 'reconnecting' | 'stopped' | 'watching'

/**
 * Keeps the pods matching a selector up to date: list, then watch from the
 * list's resourceVersion; when the watch ends (dropped connection, server
 * timeout, 410 Gone, silence) it lists and watches again, with backoff. It
 * never throws: an unreachable API server is a state (lastError), not a crash.
 */
export class PodWatcher {
  connection: Connection = 'connecting'
  /** whether a list has ever succeeded */
  everListed = false
  /** when the API server last answered (list, watch event) */
  lastContactAt?: Date
  /** the last failure talking to the API server; cleared by a successful list */
  lastError?: Error
  listsDone = 0
  /** watches opened so far (a reconnect opens another) */
  watchesStarted = 0
  private activeAbort?: () => void
  private firstListDone?: () => void
  private readonly kc: KubeConfig
  private loop?: Promise<void>
  private readonly options: Pick<PodWatcherOptions, 'onChange'> & Required<Omit<PodWatcherOptions, 'onChange'>>
  private readonly podsByName = new Map<string, PodState>()
  private stopped = false
  /** ends the pause between two reconnects (stop) */
  private wakeUp?: AbortController

  constructor(kc: KubeConfig, options: PodWatcherOptions) {
    this.kc = kc
    this.options = {
      requestTimeoutMs: 5000,
      watchTimeoutSeconds: 60,
      watchIdleMs: 75_000,
      reconnectDelayMs: 250,
      maxReconnectDelayMs: 5000,
      // an option passed as undefined keeps its default (an undefined watchIdleMs
      // made every watch "silent" at once: a list per event-loop turn)
      ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as PodWatcherOptions),
    }
  }

  pods(): PodState[] {
    return [...this.podsByName.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  /** Starts the loop; resolves once the first list has succeeded or failed. */
  async start(): Promise<void> {
    if (this.loop) return
    const firstList = new Promise<void>((resolve) => (this.firstListDone = resolve))
    this.loop = this.run()
    await firstList
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.connection = 'stopped'
    this.activeAbort?.()
    this.wakeUp?.abort()
    await this.loop
  }

  /** Replaces the known pods with a fresh list; returns the list's resourceVersion. */
  private async list(): Promise<string> {
    const query = new URLSearchParams({labelSelector: this.options.labelSelector})
    const res = await kubeGet(this.kc, `${this.podsPath()}?${query}`, {timeoutMs: this.options.requestTimeoutMs})
    if (res.status !== 200) throw new Error(`listing pods: HTTP ${res.status}: ${res.body.slice(0, 200)}`)
    const list = JSON.parse(res.body) as {items?: PodObject[]; metadata?: {resourceVersion?: string}}
    this.podsByName.clear()
    for (const item of list.items ?? []) {
      const state = podState(item)
      this.podsByName.set(state.name, state)
    }

    this.lastContactAt = new Date()
    this.lastError = undefined
    this.everListed = true
    this.listsDone++
    this.options.onChange?.(this.pods())
    return list.metadata?.resourceVersion ?? ''
  }

  private podsPath(): string {
    return `/api/v1/namespaces/${encodeURIComponent(this.options.namespace)}/pods`
  }

  private async run(): Promise<void> {
    let delay = this.options.reconnectDelayMs
    while (!this.stopped) {
      let listed = false
      try {
        const resourceVersion = await this.list()
        listed = true
        this.firstListDone?.()
        delay = this.options.reconnectDelayMs
        await this.watch(resourceVersion)
      } catch (error) {
        this.lastError = error as Error
      } finally {
        if (!listed) this.firstListDone?.()
      }

      if (this.stopped) break
      this.connection = 'reconnecting'
      this.wakeUp = new AbortController()
      await sleep(delay, this.wakeUp.signal).catch(() => {})
      this.wakeUp = undefined
      delay = Math.min(delay * 2, this.options.maxReconnectDelayMs)
    }
  }

  /** One watch; resolves when it ends for any reason. */
  private async watch(resourceVersion: string): Promise<void> {
    const k8s = await kubeClient()
    // stop() may have come while the list ran or the client loaded: nothing to abort yet
    if (this.stopped) return
    const watcher = new k8s.Watch(this.kc)
    this.connection = 'watching'
    this.watchesStarted++
    await new Promise<void>((resolve) => {
      let controller: AbortController | undefined
      let ended = false
      let idleTimer: NodeJS.Timeout | undefined
      const end = (error?: unknown) => {
        if (ended) return
        ended = true
        clearTimeout(idleTimer)
        this.activeAbort = undefined
        if (error && !this.stopped) this.lastError = error instanceof Error ? error : new Error(String(error))
        controller?.abort()
        resolve()
      }

      const armIdle = () => {
        clearTimeout(idleTimer)
        idleTimer = setTimeout(
          () => end(new KubeUnreachableError(`watch silent for ${this.options.watchIdleMs} ms`, 'ETIMEDOUT')),
          this.options.watchIdleMs,
        )
      }

      this.activeAbort = () => end()
      armIdle()
      watcher
        .watch(
          this.podsPath(),
          {
            labelSelector: this.options.labelSelector,
            resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: this.options.watchTimeoutSeconds,
          },
          (type: string, object: PodObject & {code?: number}) => {
            armIdle()
            this.lastContactAt = new Date()
            if (type === 'ERROR') {
              // 410 Gone: our resourceVersion is too old; list again
              end(new Error(`watch error: ${object.code ?? ''} ${(object as {message?: string}).message ?? ''}`.trim()))
              return
            }

            if (type === 'BOOKMARK') return
            const state = podState(object)
            if (type === 'DELETED') this.podsByName.delete(state.name)
            else this.podsByName.set(state.name, state)
            this.options.onChange?.(this.pods())
          },
          (error: unknown) => end(error ?? undefined),
        )
        .then((c) => {
          controller = c
          if (ended) c.abort()
        })
        .catch((error: unknown) => end(error))
    })
  }
}
