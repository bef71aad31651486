import {Command, type Config, Errors, Flags, type Interfaces} from '@oclif/core'
import {constants as osConstants} from 'node:os'

import type {AtlasConfig} from './config/schema.js'
import type {ProgressReporter} from './world/types.js'

import {DEFAULT_CONFIG_FILE, loadConfig} from './config/load.js'
import {asAtlasError, AtlasError, ExitCode, exitCodeOf, UsageError} from './errors.js'
import {commandProgress} from './progress.js'
import {redact, redactObject} from './redact.js'

export type AtlasFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof AtlasCommand)['baseFlags'] & T['flags']
>
export type AtlasArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

type Progress = ProgressReporter & {finish(): Promise<void>}

/**
 * The base of every Atlas command. It owns --json and its synonym `-o json` (the
 * result object on stdout, nothing else there), --config, --verbose, --quiet, the
 * stderr header naming the config in force, the progress style, error printing
 * (once, no stack unless --verbose), the exit-code table, confirmation of
 * destructive actions, and Ctrl-C (exit 130, after restoring what was broken).
 * Commands stay thin: parse flags, call src/lib, return a result, print text.
 */
export abstract class AtlasCommand<T extends typeof Command> extends Command {
  static baseFlags = {
    config: Flags.string({
      char: 'c',
      summary:
        'Path to atlas.yaml (default: atlas.yaml in this directory or the nearest parent, else built-in defaults).',
      env: 'ATLAS_CONFIG',
      helpGroup: 'GLOBAL',
    }),
    output: Flags.option({
      char: 'o',
      options: ['text', 'json'] as const,
      summary: 'Output format: `-o json` is the same as --json.',
      helpGroup: 'GLOBAL',
    })(),
    quiet: Flags.boolean({
      char: 'q',
      summary: 'No header or progress on stderr: only the result and errors.',
      helpGroup: 'GLOBAL',
      default: false,
    }),
    verbose: Flags.boolean({
      summary: 'Show stack traces and tool output.',
      helpGroup: 'GLOBAL',
      default: false,
    }),
  }
  static enableJsonFlag = true
  /** what a command does on Ctrl-C, as told to the user; commands that break something say they restore it */
  static interruptAction = 'stopping'
  protected args!: AtlasArgs<T>
  protected flags!: AtlasFlags<T>
  private configPromise?: Promise<AtlasConfig>
  private interruptController?: AbortController
  private interruptedBy?: NodeJS.Signals
  private progressPromise?: Promise<Progress>

  constructor(argv: string[], config: Config) {
    super(jsonOutputAsJsonFlag(argv), config)
  }

  /** Whether stderr carries headers and progress (not under --json or --quiet). */
  protected get chatty(): boolean {
    return !this.jsonEnabled() && !this.flags?.quiet
  }

  /** The effective configuration (loaded once); its source is the first line on stderr, so nobody runs against the wrong world unknowingly. */
  protected atlasConfig(): Promise<AtlasConfig> {
    this.configPromise ??= loadConfig(this.flags.config).then((config) => {
      this.note(
        `config: ${config.source ?? `built-in defaults (no ${DEFAULT_CONFIG_FILE} in ${process.cwd()} or a parent directory)`}`,
      )
      return config
    })
    return this.configPromise
  }

  protected async catch(thrown: Error & {exitCode?: number}): Promise<unknown> {
    // oclif's own exit (this.exit) and help requests pass through untouched
    if (thrown instanceof Errors.ExitError) throw thrown
    await this.finishProgress()
    const atlasError = asAtlasError(thrown)
    const error: Error = atlasError ?? thrown
    // after Ctrl-C whatever fails on the way out is the interruption's doing; only a failed restore (5) says more
    const exitCode =
      this.interruptedBy && exitCodeOf(error) !== ExitCode.RestoreFailed
        ? this.interruptExitCode(this.interruptedBy)
        : exitCodeOf(error)
    const message = redact(withoutOclifFlagWrapper(error.message || String(error)))
    if (this.jsonEnabled()) {
      const payload = {
        error: {
          code: atlasError?.code ?? (exitCode === ExitCode.Usage ? 'USAGE' : 'UNEXPECTED'),
          message,
          exitCode,
          ...(atlasError?.hint ? {hint: redact(atlasError.hint)} : {}),
          ...(atlasError?.details ? {details: redactObject(atlasError.details)} : {}),
        },
      }
      process.stdout.write(`${JSON.stringify(payload, null, 2)}\n`)
    } else {
      const lines = [`Error: ${message}`]
      if (atlasError?.hint) lines.push(`Hint: ${redact(atlasError.hint)}`)
      if (this.flags?.verbose && error.stack) lines.push(redact(error.stack))
      else if (exitCode === ExitCode.Unexpected && !atlasError)
        lines.push('(run again with --verbose for the stack trace)')
      process.stderr.write(`${lines.join('\n')}\n`)
    }

    process.exitCode = exitCode
    // already printed: tell oclif's handler to exit with the code and print nothing more
    throw new Errors.ExitError(exitCode)
  }

  /**
   * Asks before destroying data: on a terminal a y/N question, elsewhere (scripts,
   * CI) a refusal (exit 2) unless --yes was given. `yes` is the command's --yes.
   */
  protected async confirm(question: string, yes: boolean): Promise<void> {
    if (yes) return
    if (!process.stdin.isTTY || !process.stderr.isTTY) {
      throw new UsageError(`${question} Refused: not a terminal, so nobody can confirm`, {
        code: 'CONFIRMATION_REQUIRED',
        hint: 'pass --yes to confirm',
      })
    }

    await (await this.progressPromise)?.finish()
    const {createInterface} = await import('node:readline/promises')
    const rl = createInterface({input: process.stdin, output: process.stderr})
    try {
      const answer = await rl.question(`${question} [y/N] `)
      if (!/^y(es)?$/i.test(answer.trim()))
        throw new UsageError('not confirmed: nothing was changed', {code: 'NOT_CONFIRMED'})
    } finally {
      rl.close()
    }
  }

  protected async finally(error: Error | undefined): Promise<unknown> {
    await this.finishProgress()
    // an interrupted command that still returned its result (workload, status --watch) exits as interrupted too
    if (!error && this.interruptedBy) process.exitCode = this.interruptExitCode(this.interruptedBy)
    return super.finally(error)
  }

  /** Lets the terminal renderer draw its last step, so the result printed next comes after it. */
  protected async finishProgress(): Promise<void> {
    await (await this.progressPromise?.catch(() => {}))?.finish()
  }

  public async init(): Promise<void> {
    await super.init()
    const {args, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof AtlasCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    })
    this.flags = flags as AtlasFlags<T>
    this.args = args as AtlasArgs<T>
  }

  /** 128 + the signal number, as shells report a process ended by that signal. */
  protected interruptExitCode(signal: NodeJS.Signals): number {
    return signal === 'SIGINT' ? ExitCode.Interrupted : 128 + (osConstants.signals[signal] ?? 15)
  }

  /**
   * An AbortSignal that fires on the first Ctrl-C or SIGTERM, so long operations
   * can stop cleanly and chaos can restore what it broke before exiting; the exit
   * code is then 130 (143 for SIGTERM). A second Ctrl-C is not swallowed: Node's
   * default handler ends the process.
   */
  protected interruptSignal(): AbortSignal {
    if (!this.interruptController) {
      const controller = new AbortController()
      const onSignal = (signal: NodeJS.Signals) => {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        this.interruptedBy = signal
        if (!this.flags?.quiet)
          process.stderr.write(
            `\nreceived ${signal}: ${(this.ctor as typeof AtlasCommand).interruptAction} (press Ctrl-C again to abort now)\n`,
          )
        controller.abort(new AtlasError(`interrupted by ${signal}`, this.interruptExitCode(signal), 'INTERRUPTED'))
      }

      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      this.interruptController = controller
    }

    return this.interruptController.signal
  }

  /** One line for humans on stderr (headers, hints); silent under --json and --quiet. */
  protected note(text: string): void {
    if (this.chatty) process.stderr.write(`${text}\n`)
  }

  /** Text for humans: suppressed under --json so stdout carries only the result. */
  protected print(text = ''): void {
    if (!this.jsonEnabled()) this.log(text)
  }

  /** The command's progress reporter: listr2 on a terminal, plain lines otherwise, nothing under --json/--quiet. */
  protected progress(): Promise<ProgressReporter> {
    this.progressPromise ??= commandProgress({enabled: this.chatty})
    return this.progressPromise
  }

  /** Sets the exit code while still printing the result (e.g. verify found violations: exit 4). */
  protected setExitCode(code: ExitCode): void {
    process.exitCode = code
  }

  protected toSuccessJson(result: unknown): unknown {
    return redactObject(result)
  }
}

/**
 * `-o json`, `-ojson`, `--output json` and `--output=json` become --json before
 * oclif sees them, so every place that asks jsonEnabled() agrees (arguments after `--` are left alone).
 */
export function jsonOutputAsJsonFlag(argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') {
      out.push(...argv.slice(i))
      break
    }

    if ((arg === '-o' || arg === '--output') && argv[i + 1] === 'json') {
      out.push('--json')
      i++
    } else if (arg === '-ojson' || arg === '-o=json' || arg === '--output=json') out.push('--json')
    else out.push(arg)
  }

  return out
}

/** oclif wraps an error thrown while parsing a flag as "Parsing --name \n\t<message>\nSee more help with --help"; one line reads better. */
function withoutOclifFlagWrapper(message: string): string {
  const wrapped = /^Parsing (--[\w-]+) \n\t([\s\S]*)\nSee more help with --help$/.exec(message)
  return wrapped ? `${wrapped[1]}: ${wrapped[2]}` : message
}
