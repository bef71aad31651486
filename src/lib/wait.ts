/**
 * Waiting, in one place: every pause and every "check until it holds or time runs out"
 * in atlas goes through these two, so an abort and a timeout behave the same everywhere.
 * A leaf: imports nothing of the project.
 */

/**
 * Resolves after ms. With a signal: rejects with the signal's reason as soon as it aborts
 * (at once when it already has), and removes its listener when the time is up, so a
 * long-lived signal does not collect one listener per sleep.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal!.reason)
    }

    signal?.addEventListener('abort', onAbort, {once: true})
  })
}

/** A check's answer: anything but undefined, null or false means "done" (and is what the poll returns). */
type Answer<T> = false | null | T | undefined

export interface PollOptions {
  /** pause between two checks */
  intervalMs: number
  /** aborting rejects the poll with the signal's reason, also in the middle of a pause */
  signal?: AbortSignal
  /** give up this long after the first check (a last check is made once it has passed) */
  timeoutMs: number
}

export interface PollUntilOptions extends PollOptions {
  /** what is waited for, for the default timeout error: "<describe> within <n> s" */
  describe?: string
  /** the error thrown on timeout, when the caller has a better one (a hint, an exit code, the last state seen) */
  timeoutError?: () => Error
}

/** A poll ran out of time (the default error of pollUntil). */
export class PollTimeoutError extends Error {
  constructor(describe: string, timeoutMs: number) {
    super(`${describe} within ${timeoutMs / 1000} s`)
    this.name = 'PollTimeoutError'
  }
}

/**
 * Calls check until it answers (see Answer), pausing intervalMs between calls, and returns
 * the answer; undefined when timeoutMs passes first. The first check is made at once, and
 * one is made after the deadline has passed, so a slow check still gets its last word.
 */
export async function poll<T>(
  check: () => Answer<T> | Promise<Answer<T>>,
  options: PollOptions,
): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    options.signal?.throwIfAborted()
    const answer = await check()
    if (answer !== undefined && answer !== null && answer !== false) return answer
    if (Date.now() >= deadline) return undefined
    await sleep(options.intervalMs, options.signal)
  }
}

/** poll, but running out of time throws: options.timeoutError(), else a PollTimeoutError naming options.describe. */
export async function pollUntil<T>(check: () => Answer<T> | Promise<Answer<T>>, options: PollUntilOptions): Promise<T> {
  const answer = await poll(check, options)
  if (answer !== undefined) return answer
  throw (
    options.timeoutError?.() ??
    new PollTimeoutError(options.describe ?? 'the condition did not hold', options.timeoutMs)
  )
}
