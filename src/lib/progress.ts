import type {ProgressReporter} from './world/types.js'

/**
 * Progress on stderr, one line per step start and end, so that it reads well in
 * CI logs and never mixes with the --json result on stdout.
 */
export function stderrProgress(options: {enabled: boolean; stream?: NodeJS.WritableStream}): ProgressReporter {
  const out = options.stream ?? process.stderr
  const write = (line: string) => {
    if (options.enabled) out.write(`${line}\n`)
  }
  return {
    step(title) {
      const started = Date.now()
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

export const silentProgress: ProgressReporter = {step: () => () => {}, info: () => {}}

/**
 * The one progress style of every long command: listr2 on a terminal, plain lines
 * otherwise (CI logs, pipes), nothing when disabled (--json, --quiet). finish()
 * waits until the terminal renderer has drawn the last step.
 */
export async function commandProgress(options: {enabled: boolean; stream?: NodeJS.WriteStream}): Promise<ProgressReporter & {finish(): Promise<void>}> {
  const stream = options.stream ?? process.stderr
  if (options.enabled && stream.isTTY && process.env.TERM !== 'dumb') {
    const {listrProgress} = await import('./progress-listr.js')
    return listrProgress()
  }
  return {...stderrProgress({enabled: options.enabled, stream}), finish: async () => {}}
}
