import type {LedgerSql} from '../db.js'

import {PreconditionError} from '../../errors.js'
import * as q from '../sql.js'

/**
 * Bounds every statement of a verify. A server that stops answering (a frozen
 * primary: SIGSTOP, a hung disk) would otherwise keep verify waiting forever with
 * no output; past the bound it ends with exit 3, naming the host.
 */
export class StatementBound {
  /** host:port of the server the pool talks to, once known */
  private server: string | undefined

  constructor(
    readonly timeoutMs: number,
    private readonly hosts: string[],
  ) {
    if (hosts.length === 1) this.server = hosts[0]
  }

  answer<T>(what: string, pending: PromiseLike<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(this.notAnswering(what, `within ${formatSeconds(this.timeoutMs)}`)),
        this.timeoutMs,
      )
    })
    const answered = Promise.resolve(pending).catch((error: unknown) => {
      // the connect timeout of the pool (connectLedger): the same failure, seen while connecting
      const e = error as {address?: string; code?: string; port?: number}
      if (e?.code === 'CONNECT_TIMEOUT')
        throw this.notAnswering(
          `${what}: connecting`,
          'to a connection attempt',
          e.address && e.port ? `${e.address}:${e.port}` : undefined,
        )
      throw error
    })
    return Promise.race([answered, timeout]).finally(() => clearTimeout(timer))
  }

  /** with several hosts, which one is the primary we talk to (best effort: the message names all hosts otherwise) */
  async identifyServer(sql: LedgerSql): Promise<void> {
    if (this.server) return
    try {
      const [row] = await this.answer('identifying the server', sql.unsafe(q.SERVER_ADDRESS))
      const host = String(row.host ?? '').replace(/\/\d+$/, '')
      if (host && row.port) this.server = `${host}:${row.port}`
    } catch (error) {
      if (error instanceof PreconditionError) throw error
    }
  }

  /** the error of a statement that did not answer (or stopped sending) within the bound */
  notAnsweringError(what: string): PreconditionError {
    return this.notAnswering(what, `within ${formatSeconds(this.timeoutMs)}`)
  }

  private notAnswering(what: string, bound: string, server = this.server): PreconditionError {
    const who = server
      ? `the database server ${server}`
      : this.hosts.length > 0
        ? `the database (hosts ${this.hosts.join(', ')})`
        : 'the database'
    return new PreconditionError(`${who} did not answer ${bound} (${what})`, {
      code: 'DATABASE_NOT_ANSWERING',
      hint: 'is it frozen or overloaded? `atlas status` shows the members; --timeout sets how long verify waits for one statement',
      details: {server: server ?? null, hosts: this.hosts, timeoutMs: this.timeoutMs},
    })
  }
}

export function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`
}
