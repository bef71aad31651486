import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import {loadConfig} from './config/load.js'
import type {AtlasConfig} from './config/schema.js'
import {AtlasError, asAtlasError, ExitCode, exitCodeOf} from './errors.js'
import {stderrProgress} from './progress.js'
import {redact, redactObject} from './redact.js'
import type {ProgressReporter} from './world/types.js'

export type AtlasFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof AtlasCommand)['baseFlags'] & T['flags']>
export type AtlasArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

/**
 * The base of every Atlas command. It owns --json (the result object on stdout,
 * nothing else there), --config, --verbose, error printing (once, no stack unless
 * --verbose), the exit-code table, and Ctrl-C handling for long operations.
 * Commands stay thin: parse flags, call src/lib, return a result, print text.
 */
export abstract class AtlasCommand<T extends typeof Command> extends Command {
  static enableJsonFlag = true

  static baseFlags = {
    config: Flags.string({
      char: 'c',
      summary: 'Path to atlas.yaml (default: ./atlas.yaml if it exists, else built-in defaults).',
      env: 'ATLAS_CONFIG',
      helpGroup: 'GLOBAL',
    }),
    verbose: Flags.boolean({
      summary: 'Show stack traces and tool output.',
      helpGroup: 'GLOBAL',
      default: false,
    }),
  }

  protected flags!: AtlasFlags<T>
  protected args!: AtlasArgs<T>
  private configPromise?: Promise<AtlasConfig>
  private interruptController?: AbortController

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

  /** The effective configuration (loaded once). */
  protected atlasConfig(): Promise<AtlasConfig> {
    this.configPromise ??= loadConfig(this.flags.config)
    return this.configPromise
  }

  /** Text for humans: suppressed under --json so stdout carries only the result. */
  protected print(text = ''): void {
    if (!this.jsonEnabled()) this.log(text)
  }

  protected progress(): ProgressReporter {
    return stderrProgress({enabled: !this.jsonEnabled()})
  }

  /** Sets the exit code while still printing the result (e.g. verify found violations: exit 4). */
  protected setExitCode(code: ExitCode): void {
    process.exitCode = code
  }

  /**
   * An AbortSignal that fires on the first Ctrl-C or SIGTERM, so long operations
   * (chaos) can restore what they broke before exiting. A second Ctrl-C is not
   * swallowed: Node's default handler ends the process.
   */
  protected interruptSignal(): AbortSignal {
    if (!this.interruptController) {
      const controller = new AbortController()
      const onSignal = (signal: NodeJS.Signals) => {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        if (!this.jsonEnabled()) process.stderr.write(`\nreceived ${signal}: restoring before exit (press Ctrl-C again to abort now)\n`)
        controller.abort(new AtlasError(`interrupted by ${signal}`, ExitCode.Unexpected, 'INTERRUPTED'))
      }
      process.on('SIGINT', onSignal)
      process.on('SIGTERM', onSignal)
      this.interruptController = controller
    }
    return this.interruptController.signal
  }

  protected toSuccessJson(result: unknown): unknown {
    return redactObject(result)
  }

  protected async catch(thrown: Error & {exitCode?: number}): Promise<unknown> {
    // oclif's own exit (this.exit) and help requests pass through untouched
    if (thrown instanceof Errors.ExitError) throw thrown
    const atlasError = asAtlasError(thrown)
    const error: Error = atlasError ?? thrown
    const exitCode = exitCodeOf(error)
    const message = redact(error.message || String(error))
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
      else if (exitCode === ExitCode.Unexpected && !atlasError) lines.push('(run again with --verbose for the stack trace)')
      process.stderr.write(`${lines.join('\n')}\n`)
    }
    process.exitCode = exitCode
    // already printed: tell oclif's handler to exit with the code and print nothing more
    throw new Errors.ExitError(exitCode)
  }

  protected async finally(error: Error | undefined): Promise<unknown> {
    return super.finally(error)
  }
}
