import type {ProgressReporter} from './world/types.js'

/** how often the plain reporter prints a live status line */
export const STATUS_INTERVAL_MS = 5000

/**
 * Progress on stderr, one line per step start and end, so that it reads well in
 * CI logs and never mixes with the --json result on stdout.
 */
export function stderrProgress(options: {
  enabled: boolean
  now?: () => number
  statusIntervalMs?: number
  stream?: NodeJS.WritableStream
}): ProgressReporter {
  const out = options.stream ?? process.stderr
  const now = options.now ?? Date.now
  const statusInterval = options.statusIntervalMs ?? STATUS_INTERVAL_MS
  let lastStatusAt = -Infinity
  const write = (line: string) => {
    if (options.enabled) out.write(`${line}\n`)
  }

  return {
    // a log cannot redraw a line: one every few seconds, the first at once
    status(line) {
      const at = now()
      if (at - lastStatusAt < statusInterval) return
      lastStatusAt = at
      write(`  ${line}`)
    },
    step(title) {
      const started = Date.now()
      lastStatusAt = -Infinity
      write(`→ ${title}`)
      return (outcome = {}) => {
        const secs = ((Date.now() - started) / 1000).toFixed(1)
        if (outcome.error) write(`✗ ${title} (${secs}s): ${outcome.error.message.split('\n')[0]}`)
        else if (outcome.skipped) write(`- ${title}: skipped${outcome.note ? ` (${outcome.note})` : ''}`)
        else write(`✓ ${title} (${secs}s)${outcome.note ? `: ${outcome.note}` : ''}`)
      }
    },
    info(message) {
      write(`  ${message}`)
    },
  }
}

export const silentProgress: ProgressReporter = {step: () => () => {}, info() {}}

/**
 * The one progress style of every long command: listr2 on a terminal, plain lines
 * otherwise (CI logs, pipes), nothing when disabled (--json, --quiet). finish()
 * waits until the terminal renderer has drawn the last step.
 */
export async function commandProgress(options: {
  enabled: boolean
  stream?: NodeJS.WriteStream
}): Promise<ProgressReporter & {finish(): Promise<void>}> {
  const stream = options.stream ?? process.stderr
  if (options.enabled && stream.isTTY && process.env.TERM !== 'dumb') {
    const {listrProgress} = await import('./progress-listr.js')
    return listrProgress()
  }

  return {...stderrProgress({enabled: options.enabled, stream}), async finish() {}}
}

/**
 * One step of long work: started on `progress`, marked done with the note `describe` gives for
 * its result, or failed with the error, which is rethrown. The one way to wrap work in a step.
 */
export async function runStep<T>(
  progress: ProgressReporter,
  title: string,
  work: () => Promise<T>,
  describe?: (result: T) => string | undefined,
): Promise<T> {
  const done = progress.step(title)
  let result: T
  try {
    result = await work()
  } catch (error) {
    done({error: error as Error})
    throw error
  }

  done({note: describe?.(result)})
  return result
}
