/**
 * Exit codes are part of Atlas's interface: shell scripts and CI branch on them,
 * so they survive --json and never change meaning.
 */
export enum ExitCode {
  Ok = 0,
  /** a bug or an unexpected failure of a tool or service */
  Unexpected = 1,
  /** bad flags, bad arguments or a bad atlas.yaml */
  Usage = 2,
  /** a required tool is missing, or the world is not up / not healthy enough */
  Precondition = 3,
  /** a ledger invariant was violated (verify) */
  InvariantViolated = 4,
  /** a fault could not be undone: the world is left broken */
  RestoreFailed = 5,
  /** no such command (@oclif/plugin-not-found's code; on a terminal it offers the closest one) */
  UnknownCommand = 127,
  /** stopped by Ctrl-C (SIGINT), after restoring what the command had broken */
  Interrupted = 130,
}

export const EXIT_CODE_TABLE: ReadonlyArray<{code: ExitCode; meaning: string}> = [
  {code: ExitCode.Ok, meaning: 'success'},
  {code: ExitCode.Unexpected, meaning: 'unexpected error (a bug, or a tool/service failed)'},
  {code: ExitCode.Usage, meaning: 'usage or configuration error'},
  {code: ExitCode.Precondition, meaning: 'precondition failed: missing tool, world not up, or fault refused'},
  {code: ExitCode.InvariantViolated, meaning: 'a ledger invariant was violated'},
  {code: ExitCode.RestoreFailed, meaning: 'a fault could not be undone; the world is left broken'},
  {code: ExitCode.UnknownCommand, meaning: 'no such command (on a terminal atlas offers the closest one)'},
  {
    code: ExitCode.Interrupted,
    meaning: 'interrupted by Ctrl-C (SIGINT; 143 for SIGTERM), after restoring anything broken',
  },
]

export interface AtlasErrorOptions {
  cause?: unknown
  /** machine-readable details for --json (never secrets) */
  details?: Record<string, unknown>
  /** one line telling the user what to do next */
  hint?: string
}

export class AtlasError extends Error {
  /** a stable identifier for scripts, e.g. CONFIG_INVALID */
  readonly code: string
  readonly details?: Record<string, unknown>
  readonly exitCode: ExitCode
  readonly hint?: string

  constructor(message: string, exitCode: ExitCode, code: string, options: AtlasErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    this.exitCode = exitCode
    this.code = code
    this.hint = options.hint
    this.details = options.details
  }
}

export class UsageError extends AtlasError {
  constructor(message: string, options: AtlasErrorOptions & {code?: string} = {}) {
    super(message, ExitCode.Usage, options.code ?? 'USAGE', options)
  }
}

export class ConfigError extends AtlasError {
  constructor(message: string, options: AtlasErrorOptions = {}) {
    super(message, ExitCode.Usage, 'CONFIG_INVALID', options)
  }
}

export class PreconditionError extends AtlasError {
  constructor(message: string, options: AtlasErrorOptions & {code?: string} = {}) {
    super(message, ExitCode.Precondition, options.code ?? 'PRECONDITION', options)
  }
}

export class MissingToolError extends PreconditionError {
  constructor(tool: string, installHint: string) {
    super(`required tool "${tool}" was not found`, {code: 'TOOL_MISSING', hint: installHint, details: {tool}})
  }
}

export class RestoreError extends AtlasError {
  constructor(message: string, options: AtlasErrorOptions = {}) {
    super(message, ExitCode.RestoreFailed, 'RESTORE_FAILED', options)
  }
}

/** A tool ran and exited non-zero (or could not be run). */
export class ToolError extends AtlasError {
  readonly argv: string[]
  readonly stderrTail: string
  readonly toolExitCode: number | undefined

  constructor(argv: string[], toolExitCode: number | undefined, stderrTail: string, options: AtlasErrorOptions = {}) {
    const what = toolExitCode === undefined ? 'failed to run' : `exited with code ${toolExitCode}`
    const tail = stderrTail.trim() ? `:\n${stderrTail.trimEnd()}` : ''
    super(`command \`${argv.join(' ')}\` ${what}${tail}`, ExitCode.Unexpected, 'TOOL_FAILED', {
      ...options,
      details: {argv, exitCode: toolExitCode, ...options.details},
    })
    this.argv = argv
    this.toolExitCode = toolExitCode
    this.stderrTail = stderrTail
  }
}

/** Network error codes that mean "nothing answers there" (Node's and postgres.js's). */
const UNREACHABLE_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  CONNECT_TIMEOUT: 'connection timed out',
}

/**
 * Gives errors from below (sockets, database clients) their meaning for the user:
 * a database or endpoint that does not answer is a precondition (exit 3: the world
 * is not up, or the address is wrong), not a bug.
 */
export function asAtlasError(error: unknown): AtlasError | undefined {
  if (error instanceof AtlasError) return error
  const e = error as undefined | {address?: string; code?: string; hostname?: string; message?: string; port?: number}
  // the ledger runs SERIALIZABLE, which a hot standby refuses (0A000); a read-only node refuses writes (25006)
  if ((e?.code === '0A000' && /hot standby/.test(e.message ?? '')) || e?.code === '25006') {
    return new PreconditionError(`the database is a read-only standby: ${e.message}`, {
      code: 'DATABASE_READ_ONLY',
      hint: 'pass the primary, or all hosts so the primary is found: --db postgres://user@host1:port1,host2:port2/db',
      cause: error,
    })
  }

  const reason = e?.code ? UNREACHABLE_CODES[e.code] : undefined
  if (!reason) return undefined
  const where = e?.address
    ? `${e.address}${e.port ? `:${e.port}` : ''}`
    : (e?.hostname ?? /\b([\w.-]+:\d+)\b/.exec(e?.message ?? '')?.[1] ?? 'the service')
  return new PreconditionError(`cannot reach ${where} (${reason})`, {
    code: 'UNREACHABLE',
    hint: 'is the world up? `atlas status` shows it and `atlas up` starts it; or point --db / --endpoint at a running service',
    cause: error,
    details: {address: where, reason: e?.code},
  })
}

/** Maps anything thrown to an exit code: ours carry one, oclif parse errors carry oclif.exit. */
export function exitCodeOf(error: unknown): ExitCode {
  const known = asAtlasError(error)
  if (known) return known.exitCode
  const oclifExit = (error as {oclif?: {exit?: number}})?.oclif?.exit
  if (typeof oclifExit === 'number') return oclifExit === 0 ? ExitCode.Ok : oclifExit === 2 ? ExitCode.Usage : oclifExit
  return ExitCode.Unexpected
}
