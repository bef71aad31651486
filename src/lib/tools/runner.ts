import {appendFileSync, closeSync, mkdirSync, openSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {createInterface} from 'node:readline'

import {MissingToolError, ToolError} from '../errors.js'
import {redact} from '../redact.js'
import {installHint} from './catalog.js'
import {findExecutable, toolSearchPath} from './discovery.js'

export interface RunOptions {
  cwd?: string
  /** added to the inherited environment */
  env?: Record<string, string | undefined>
  gid?: number
  input?: string
  /** what this step does, for progress and plans */
  label?: string
  /** false: return the result of a non-zero exit instead of throwing */
  reject?: boolean
  /** values masked in logs, errors and plans (in addition to registered secrets) */
  secrets?: string[]
  timeoutMs?: number
  /** run as another OS user (PostgreSQL refuses to run as root) */
  uid?: number
}

export interface StartOptions extends Omit<RunOptions, 'input' | 'reject' | 'timeoutMs'> {
  /**
   * start it in this cgroup (v2 directory): atlas joins it for the synchronous spawn and returns
   * to `home` at once, so the child is in it from its first instruction, before any socket
   */
  cgroup?: {dir: string; home: string}
  /** stdout and stderr of the background process go here */
  logFile: string
}

export interface RunResult {
  argv: string[]
  cwd: string
  dryRun: boolean
  exitCode: number
  stderr: string
  stdout: string
}

/** One step of a dry-run plan: exactly what would be executed, and where. */
export interface PlannedCommand {
  argv: string[]
  background?: boolean
  cwd: string
  /** environment variables set for the step (names only when they hold secrets) */
  env?: Record<string, string>
  label?: string
}

export interface CommandRunnerOptions {
  dryRun?: boolean
  /** every command and its output is appended here (redacted) */
  logFile?: string
  /** live output, line by line, for progress displays */
  onLine?: (line: string, stream: 'stderr' | 'stdout', label?: string) => void
  /** how relative cwd values are shown in plans, so plans are stable across machines */
  planRoot?: string
}

const STDERR_TAIL_LINES = 20

/**
 * The one way Atlas runs external programs. It resolves tools through discovery,
 * logs and streams output, redacts secrets, records exact argv in dry-run mode,
 * and turns a failure into an error that names the command and its stderr tail.
 */
export class CommandRunner {
  readonly dryRun: boolean
  /** tools a dry run could not find: the plan still shows them by name */
  readonly missingTools = new Set<string>()
  readonly plan: PlannedCommand[] = []
  private readonly options: CommandRunnerOptions

  constructor(options: CommandRunnerOptions = {}) {
    this.options = options
    this.dryRun = options.dryRun ?? false
    if (options.logFile) mkdirSync(path.dirname(options.logFile), {recursive: true})
  }

  async run(tool: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
    const cwd = options.cwd ?? process.cwd()
    const resolved = await this.resolve(tool)
    const shownArgv = [tool, ...args].map((a) => redact(a, options.secrets))
    if (this.dryRun) {
      this.record(shownArgv, cwd, options)
      return {argv: shownArgv, cwd, exitCode: 0, stdout: '', stderr: '', dryRun: true}
    }

    this.log(`$ ${shownArgv.join(' ')}  (cwd ${cwd})`, options.secrets)
    const {execa} = await import('execa')
    const child = execa(resolved!, args, {
      cwd,
      env: await this.childEnv(options.env),
      input: options.input,
      stdin: options.input === undefined ? 'ignore' : undefined,
      timeout: options.timeoutMs,
      reject: false,
      buffer: false,
      uid: options.uid,
      gid: options.gid,
      stripFinalNewline: true,
    })
    const stdoutLines: string[] = []
    const stderrLines: string[] = []
    // listeners attach synchronously after spawn, so no output (and no 'end') is missed
    const pump = (stream: NodeJS.ReadableStream | null, name: 'stderr' | 'stdout', sink: string[]) =>
      new Promise<void>((resolve) => {
        if (!stream) return resolve()
        const lines = createInterface({input: stream, crlfDelay: Infinity})
        lines.on('line', (line) => {
          sink.push(line)
          const safe = redact(line, options.secrets)
          this.log(`[${name}] ${safe}`)
          this.options.onLine?.(safe, name, options.label)
        })
        lines.once('close', resolve)
      })
    const pumped = Promise.all([pump(child.stdout, 'stdout', stdoutLines), pump(child.stderr, 'stderr', stderrLines)])
    const result = await child
    await pumped
    const exitCode = result.exitCode ?? (result.failed ? -1 : 0)
    const stdout = stdoutLines.join('\n')
    const stderr = stderrLines.join('\n')
    this.log(`exit ${exitCode}${result.timedOut ? ' (timed out)' : ''}`)
    if (exitCode !== 0 && options.reject !== false) {
      const tail = redact(
        stderrLines.slice(-STDERR_TAIL_LINES).join('\n') || stdoutLines.slice(-STDERR_TAIL_LINES).join('\n'),
        options.secrets,
      )
      const why = result.timedOut
        ? `timed out after ${options.timeoutMs} ms`
        : result.signal
          ? `killed by ${result.signal}`
          : undefined
      throw new ToolError(shownArgv, result.exitCode ?? undefined, why ? `${why}\n${tail}` : tail, {
        hint: options.label
          ? `step "${options.label}" failed; see the output above${this.options.logFile ? ` and ${this.options.logFile}` : ''}`
          : undefined,
      })
    }

    return {argv: shownArgv, cwd, exitCode, stdout, stderr, dryRun: false}
  }

  /**
   * Starts a long-lived process in its own process group (so a region can be
   * SIGKILLed or SIGSTOPped as a whole) with output to a log file; returns its PID.
   */
  async start(tool: string, args: string[], options: StartOptions): Promise<number> {
    const cwd = options.cwd ?? process.cwd()
    const resolved = await this.resolve(tool)
    const shownArgv = [tool, ...args].map((a) => redact(a, options.secrets))
    if (this.dryRun) {
      this.record(shownArgv, cwd, options, true)
      return -1
    }

    this.log(`$ ${shownArgv.join(' ')} &  (cwd ${cwd}, log ${options.logFile})`, options.secrets)
    mkdirSync(path.dirname(options.logFile), {recursive: true})
    const fd = openSync(options.logFile, 'a')
    try {
      const {spawn} = await import('node:child_process')
      const env = await this.childEnv(options.env)
      const join = (dir: string) => writeFileSync(path.join(dir, 'cgroup.procs'), String(process.pid))
      let joined = false
      if (options.cgroup) {
        try {
          join(options.cgroup.dir)
          joined = true
        } catch (error) {
          this.log(`${options.label ?? tool}: not started in ${options.cgroup.dir}: ${(error as Error).message}`)
        }
      }

      let child
      try {
        child = spawn(resolved!, args, {
          cwd,
          env,
          detached: true,
          stdio: ['ignore', fd, fd],
          uid: options.uid,
          gid: options.gid,
        })
      } finally {
        if (joined) join(options.cgroup!.home)
      }

      const pid = await new Promise<number>((resolve, reject) => {
        child.once('error', (error) => reject(new ToolError(shownArgv, undefined, error.message)))
        child.once('spawn', () => resolve(child.pid!))
      })
      child.unref()
      return pid
    } finally {
      closeSync(fd)
    }
  }

  private async childEnv(extra?: Record<string, string | undefined>): Promise<NodeJS.ProcessEnv> {
    // children find the same tools Atlas found (e.g. Patroni needs PostgreSQL's bin dir)
    return {...process.env, PATH: (await toolSearchPath()).join(path.delimiter), ...extra}
  }

  private log(line: string, secrets?: string[]): void {
    if (!this.options.logFile) return
    appendFileSync(this.options.logFile, `${new Date().toISOString()} ${redact(line, secrets)}\n`)
  }

  private record(argv: string[], cwd: string, options: RunOptions, background = false): void {
    const step: PlannedCommand = {argv, cwd: this.showPath(cwd)}
    if (options.label) step.label = options.label
    if (options.env && Object.keys(options.env).length > 0) {
      step.env = Object.fromEntries(
        Object.entries(options.env)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => [k, redact(`${k}=${v}`, options.secrets).slice(k.length + 1)]),
      )
    }

    if (background) step.background = true
    this.plan.push(step)
  }

  private async resolve(tool: string): Promise<string | undefined> {
    const found = await findExecutable(tool)
    if (found) return found
    if (this.dryRun) {
      this.missingTools.add(tool)
      return undefined
    }

    throw new MissingToolError(tool, installHint(tool))
  }

  private showPath(p: string): string {
    const root = this.options.planRoot
    if (!root) return p
    const rel = path.relative(root, p)
    return rel === '' ? '.' : rel.startsWith('..') ? p : rel
  }
}
