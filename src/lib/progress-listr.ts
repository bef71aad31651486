import type {ProgressReporter} from './world/types.js'

/**
 * A ProgressReporter drawn by listr2 on a terminal (stderr, so stdout keeps only
 * the result). Steps are sequential; each runs as a one-task Listr whose task
 * settles when the step reports done. Detail lines become the task's output.
 * Colour follows colorette: off under NO_COLOR or when stdout is not a terminal.
 */
export async function listrProgress(): Promise<ProgressReporter & {finish(): Promise<void>}> {
  const {Listr, ProcessOutput} = await import('listr2')
  let current: Promise<unknown> = Promise.resolve()
  let setOutput: ((line: string) => void) | undefined
  // a status line reported before listr2 has started the step's task is shown when it starts
  let pendingStatus: string | undefined
  return {
    step(title) {
      pendingStatus = undefined
      let settle!: (outcome: {error?: Error; note?: string; skipped?: boolean}) => void
      const finished = new Promise<{error?: Error; note?: string; skipped?: boolean}>((resolve) => (settle = resolve))
      const list = new Listr(
        [
          {
            title,
            async task(_ctx, task) {
              setOutput = (line) => (task.output = line)
              if (pendingStatus !== undefined) setOutput(pendingStatus)
              pendingStatus = undefined
              const outcome = await finished
              setOutput = undefined
              if (outcome.error) throw outcome.error
              if (outcome.skipped) task.skip(outcome.note ? `${title}: skipped (${outcome.note})` : undefined)
              else if (outcome.note) task.title = `${title}: ${outcome.note}`
            },
          },
        ],
        {
          exitOnError: false,
          rendererOptions: {processOutput: new ProcessOutput(process.stderr, process.stderr)} as never,
        },
      )
      current = current.then(() => list.run().catch(() => {}))
      return (outcome = {}) => settle(outcome)
    },
    info(message) {
      if (setOutput) setOutput(message)
      else process.stderr.write(`  ${message}\n`)
    },
    // the task's output line is redrawn in place
    status(line) {
      if (setOutput) setOutput(line)
      else pendingStatus = line
    },
    async finish() {
      await current
    },
  }
}
