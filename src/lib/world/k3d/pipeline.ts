import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'

import type {CommandRunner, PlannedCommand} from '../../tools/runner.js'
import type {PlanStep, ProgressReporter} from '../types.js'
import type {K3dStep} from './plan.js'
import type {StepState} from './state.js'

import {AtlasError, ExitCode} from '../../errors.js'
import {redact} from '../../redact.js'

/** A failed step: says which one, why, and what to do next. */
export class K3dStepError extends AtlasError {
  constructor(step: K3dStep, index: number, total: number, cause: unknown) {
    const inner = cause instanceof Error ? cause.message : String(cause)
    const exitCode = cause instanceof AtlasError ? cause.exitCode : ExitCode.Unexpected
    const innerHint = cause instanceof AtlasError && cause.hint && step.kind === 'check' ? `${cause.hint}; ` : ''
    super(
      `k3d world: step ${index + 1}/${total} "${step.title}" failed: ${redact(inner)}`,
      exitCode,
      cause instanceof AtlasError && cause.code === 'TOOL_MISSING' ? 'TOOL_MISSING' : 'K3D_STEP_FAILED',
      {
        hint: `${innerHint}${step.hint}`,
        cause,
        details: {step: step.id, ...(cause instanceof AtlasError ? cause.details : {})},
      },
    )
  }
}

export interface PipelineOptions {
  dryRun: boolean
  /** digest of everything rendered: a changed config re-runs the steps after it */
  inputsDigest: string
  progress: ProgressReporter
  /** down: honour step.undoes against what up completed */
  reverse?: boolean
  runner: CommandRunner
  signal?: AbortSignal
  state: StepState
}

export function stepFingerprint(step: K3dStep, inputsDigest: string): string {
  const commands = step.commands.map((c) => ({tool: c.tool, args: c.args, cwd: c.cwd, stdinFile: c.stdinFile}))
  return createHash('sha256')
    .update(JSON.stringify({id: step.id, commands, inputsDigest}))
    .digest('hex')
    .slice(0, 16)
}

/**
 * Runs the steps in order through the one command runner. In a dry run every
 * command is only recorded and in-process work has no side effects; the
 * returned plan groups the recorded commands by step.
 */
export async function runPipeline(steps: K3dStep[], options: PipelineOptions): Promise<PlanStep[]> {
  const {runner, state, progress, dryRun} = options
  const plan: PlanStep[] = []
  // resume = skip the longest prefix of completed steps: once one step runs
  // again, every later step depends on it and runs again too
  let rerunning = false
  for (const [index, step] of steps.entries()) {
    options.signal?.throwIfAborted()
    const fingerprint = stepFingerprint(step, options.inputsDigest)
    let skipReason = whySkip(step, options, fingerprint)
    if (skipReason && !options.reverse && !dryRun) {
      if (rerunning) skipReason = undefined
      // a completed step whose result is gone (LocalStack restarted, a cluster deleted) runs again
      else if (step.stillDone && !(await step.stillDone(runner))) skipReason = undefined
    }

    if (!skipReason && !step.always && !options.reverse) rerunning = true
    const planStep: PlanStep = {id: step.id, title: step.title, commands: []}
    if (step.files && step.files.length > 0) planStep.files = [...step.files]
    if (step.sql && step.sql.length > 0) planStep.sql = [...step.sql]
    if (skipReason) planStep.skip = skipReason
    plan.push(planStep)
    if (skipReason && !dryRun) {
      progress.step(step.title)({skipped: true, note: skipReason})
      continue
    }

    const done = dryRun ? () => {} : progress.step(step.title)
    const recordedBefore = runner.plan.length
    try {
      await step.before?.(dryRun)
      for (const command of step.commands) {
        const input = !dryRun && command.stdinFile ? await readFile(command.stdinFile, 'utf8') : undefined
        const result = await runner.run(command.tool, command.args, {
          cwd: command.cwd,
          env: command.env,
          input,
          label: step.title,
          timeoutMs: command.timeoutMs,
          reject: command.tolerate === undefined,
        })
        if (result.exitCode !== 0 && command.tolerate && !command.tolerate.test(`${result.stderr}\n${result.stdout}`)) {
          const {ToolError} = await import('../../errors.js')
          throw new ToolError(result.argv, result.exitCode, result.stderr.split('\n').slice(-20).join('\n'))
        }

        if (!dryRun) await command.after?.(result)
      }

      if (!dryRun && !options.reverse) await state.markDone(step.id, fingerprint)
      done()
    } catch (error) {
      done({error: error as Error})
      throw new K3dStepError(step, index, steps.length, error)
    } finally {
      // a dry run shows what the runner recorded; a real run what it was asked to run
      planStep.commands = dryRun
        ? runner.plan.slice(recordedBefore).map(withStdin(step))
        : step.commands.map((c) => ({
            argv: [c.tool, ...c.args],
            cwd: c.cwd,
            label: step.title,
            ...(c.stdinFile ? {stdinFile: c.stdinFile} : {}),
          }))
    }
  }

  return plan
}

function whySkip(step: K3dStep, options: PipelineOptions, fingerprint: string): string | undefined {
  if (step.always) return undefined
  if (options.reverse) {
    if (step.undoes && !options.state.empty && !options.state.wasDone(step.undoes))
      return `"${step.undoes}" never completed`
    const cwd = step.commands[0]?.cwd
    if (!options.dryRun && cwd && cwd !== '.' && !existsSync(cwd)) return `${cwd} does not exist`
    return undefined
  }

  return options.state.isDone(step.id, fingerprint) ? 'already done' : undefined
}

/** Adds the stdin file of each command to its recorded plan entry. */
function withStdin(step: K3dStep) {
  return (recorded: PlannedCommand, i: number): PlannedCommand & {stdinFile?: string} => {
    const stdinFile = step.commands[i]?.stdinFile
    return stdinFile ? {...recorded, stdinFile} : recorded
  }
}
