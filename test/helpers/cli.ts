import {execa} from 'execa'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface CliResult {
  exitCode: number
  stderr: string
  stdout: string
}

/**
 * Runs the built CLI (bin/run.js; `npm test` builds first) as a user would, in a
 * child process, and returns its exit code and output. Never throws on non-zero.
 */
export async function runAtlas(
  args: string[],
  options: {cwd?: string; env?: Record<string, string | undefined>; input?: string; timeoutMs?: number} = {},
): Promise<CliResult> {
  const result = await execa(process.execPath, [path.join(REPO_ROOT, 'bin', 'run.js'), ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: {...options.env, NO_COLOR: '1'},
    extendEnv: true,
    reject: false,
    timeout: options.timeoutMs ?? 120_000,
    input: options.input,
    stdin: options.input === undefined ? 'ignore' : undefined,
  })
  return {exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr}
}

/** Parses stdout as the single JSON document --json promises. */
export function parseJsonOutput<T = unknown>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T
  } catch {
    throw new Error(
      `stdout is not one JSON document (exit ${result.exitCode}):\n${result.stdout}\n--- stderr ---\n${result.stderr}`,
    )
  }
}
