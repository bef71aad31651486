import {appendFile, open, readdir, readFile, stat} from 'node:fs/promises'
import path from 'node:path'

import {UsageError} from '../errors.js'
import {RUN_LOG_FILE} from './runlog.js'

/**
 * Which run logs belong to a world's ledger: the one rule that verify and
 * blast-radius share. A stored transfer that is in none of the logs read is
 * reported as a phantom, so leaving out a log of this ledger cries wolf, and
 * reading a log of another ledger reports its acknowledged transfers as lost.
 *
 * - Every `<runsDir>/<name>/transfers.log`, and every run directory listed in
 *   `<runsDir>/index.txt` (a workload whose --run-dir is outside the runs
 *   directory records it there), belongs to this ledger when its start line
 *   names this ledger's mint time; a log from before that stamp existed belongs
 *   when it was written after the mint.
 * - Run logs given explicitly (--run-dir) are always read.
 * - `onlyGiven` reads the given logs alone.
 */
export const RUNS_INDEX_FILE = 'index.txt'

export interface RunLogSelection {
  /** run log files to read, explicit ones first */
  files: string[]
  /** logs found in the world's runs directory and left out, with the reason */
  skipped: Array<{file: string; reason: string}>
}

export interface RunLogSelectionOptions {
  /** run directories or transfers.log files given explicitly */
  given?: string[]
  /** the mint time of the ledger being checked */
  ledgerMintedAt?: Date
  /** read the given logs only */
  onlyGiven?: boolean
  /** the world's runs directory (<baseDir>/runs); undefined: discover nothing */
  runsDir?: string
}

export async function selectRunLogs(options: RunLogSelectionOptions): Promise<RunLogSelection> {
  const files = await resolveRunLogs(options.given ?? [])
  const chosen = new Set(files.map((f) => path.resolve(f)))
  const skipped: RunLogSelection['skipped'] = []
  if (options.onlyGiven || !options.runsDir) return {files, skipped}
  for (const file of await candidateRunLogs(options.runsDir)) {
    if (chosen.has(file)) continue
    const reason = await notOfLedger(file, options.ledgerMintedAt)
    if (reason) {
      skipped.push({file, reason})
      continue
    }

    chosen.add(file)
    files.push(file)
  }

  return {files, skipped}
}

/** Every transfers.log of a runs directory and of the run directories its index lists (absolute paths). */
async function candidateRunLogs(runsDir: string): Promise<string[]> {
  const root = path.resolve(runsDir)
  const dirs: string[] = []
  const entries = await readdir(root, {withFileTypes: true}).catch(() => [])
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name)))
    if (entry.isDirectory()) dirs.push(path.join(root, entry.name))
  dirs.push(...(await indexedRunDirs(root)))
  const files: string[] = []
  for (const dir of new Set(dirs)) {
    const file = path.join(dir, RUN_LOG_FILE)
    if ((await stat(file).catch(() => {}))?.isFile()) files.push(file)
  }

  return files
}

async function indexedRunDirs(runsDir: string): Promise<string[]> {
  const text = await readFile(path.join(runsDir, RUNS_INDEX_FILE), 'utf8').catch(() => '')
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => path.resolve(line))
}

/** why a discovered run log is not of the ledger minted at mintedAt, or undefined when it is */
async function notOfLedger(file: string, mintedAt: Date | undefined): Promise<string | undefined> {
  if (!mintedAt) return undefined
  const stamp = await runLogLedger(file)
  if (stamp !== undefined)
    return stamp === mintedAt.toISOString() ? undefined : `written against another ledger (minted ${stamp})`
  const info = await stat(file)
  return info.mtime >= mintedAt ? undefined : 'last written before this ledger was minted'
}

/** The mint time of the ledger a run log was written against, from its start line (undefined for logs without it). */
export async function runLogLedger(file: string): Promise<string | undefined> {
  const handle = await open(file, 'r')
  try {
    const head = Buffer.alloc(4096)
    const {bytesRead} = await handle.read(head, 0, head.length, 0)
    const first = head.toString('utf8', 0, bytesRead).split('\n')[0]
    if (!first.startsWith('# start ')) return undefined
    const start = JSON.parse(first.slice('# start '.length)) as {ledgerMintedAt?: unknown}
    return typeof start.ledgerMintedAt === 'string' ? start.ledgerMintedAt : undefined
  } catch {
    return undefined
  } finally {
    await handle.close()
  }
}

/**
 * Records a run directory outside the world's runs directory in its index, so that
 * later verifies and blast-radius rounds read its log. Only for a world whose runs
 * directory exists (it was brought up): a workload against a bare --db leaves no trace.
 */
export async function registerRunDir(runsDir: string, runDir: string): Promise<boolean> {
  const root = path.resolve(runsDir)
  const dir = path.resolve(runDir)
  const relative = path.relative(root, dir)
  if (!relative.startsWith('..') && !path.isAbsolute(relative)) return false
  if (!(await stat(root).catch(() => {}))?.isDirectory()) return false
  if ((await indexedRunDirs(root)).includes(dir)) return false
  await appendFile(path.join(root, RUNS_INDEX_FILE), `${dir}\n`)
  return true
}

/** Run directories or files → run log files (usage errors for what is not a run log). */
export async function resolveRunLogs(inputs: string[]): Promise<string[]> {
  const files: string[] = []
  for (const input of inputs) {
    const info = await stat(input).catch(() => {})
    if (!info)
      throw new UsageError(`run log ${input} does not exist`, {hint: 'pass the --run-dir the workload wrote to'})
    if (info.isDirectory()) {
      const file = path.join(input, RUN_LOG_FILE)
      const log = await stat(file).catch(() => {})
      if (log && !log.isFile())
        throw new UsageError(`${file} is not a file`, {hint: 'pass the --run-dir the workload wrote to'})
      if (!log) {
        const entries = await readdir(input)
        throw new UsageError(`${input} has no ${RUN_LOG_FILE}`, {
          hint: entries.length > 0 ? `it contains: ${entries.slice(0, 5).join(', ')}` : 'it is empty',
        })
      }

      files.push(path.resolve(file))
    } else files.push(path.resolve(input))
  }

  return [...new Set(files)]
}
