type OnSent = (connection: number) => void

/**
 * Who waits to hear that a statement was written to a connection, by the statement's first
 * parameter (a transfer's idempotency key). A statement never written cannot have committed, so a
 * transfer tells "not sent" from "maybe committed" by it (transfer.ts). Several watchers of one key
 * are possible (a redelivered request). This runs once per transfer: no Set or wrapper per
 * statement, just the one callback, or a list when the key is watched more than once.
 */
export class SentWatchers {
  private readonly watchers = new Map<string, Array<OnSent> | OnSent>()

  /** a statement whose first parameter is `key` is being written to `connection` */
  notify(key: unknown, connection: number): void {
    if (this.watchers.size === 0 || typeof key !== 'string') return
    const watchers = this.watchers.get(key)
    if (watchers === undefined) return
    if (typeof watchers === 'function') watchers(connection)
    // a copy: the callbacks may stop watching (and so change the list) as they run
    else for (const onSent of watchers.slice()) onSent(connection)
  }

  /** calls `onSent` for each statement under `key` written from now on, until the returned function is called */
  watch(key: string, onSent: OnSent): () => void {
    const existing = this.watchers.get(key)
    if (existing === undefined) this.watchers.set(key, onSent)
    else if (typeof existing === 'function') this.watchers.set(key, [existing, onSent])
    else existing.push(onSent)
    let watching = true
    return () => {
      if (!watching) return
      watching = false
      const current = this.watchers.get(key)
      if (current === onSent) {
        this.watchers.delete(key)
      } else if (Array.isArray(current)) {
        const i = current.indexOf(onSent)
        if (i !== -1) current.splice(i, 1)
        if (current.length === 1) this.watchers.set(key, current[0])
      }
    }
  }
}
