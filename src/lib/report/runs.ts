import {open, readdir, readFile, stat} from 'node:fs/promises'
import path from 'node:path'

import {UsageError} from '../errors.js'
import {RUN_LOG_FILE} from '../ledger/runlog.js'
import {RUNS_INDEX_FILE} from '../ledger/runlogs.js'
import {TRAILER_KIND} from '../ledger/verify/digest.js'

/**
 * Past runs of a world, read back from its runs directory (<baseDir>/runs, plus
 * the run directories its index lists): blast-radius rounds by their report.json
 * (or restore-failed.json), workloads by their run log. Nothing is written.
 */
export type RunKind = 'blast-radius' | 'chaos' | 'workload'
export type RunVerdict = 'FAIL' | 'INTERRUPTED' | 'PASS' | 'RESTORE FAILED'

export interface RunSummary {
  acknowledged: null | number
  dir: string
  /** what was broken, e.g. "kill us" */
  fault: null | string
  files: {
    picture?: string
    pictureHtml?: string
    report?: string
    reportJson?: string
    restoreFailed?: string
    runLog?: string
  }
  /** the run directory's name (its path when two listed directories share a name) */
  id: string
  kind: RunKind
  lost: null | number
  rtoSeconds: null | number
  /** when the workload started (else the fault, else the directory's last change) */
  startedAt: string
  /** null: a workload alone proves nothing until verify */
  verdict: null | RunVerdict
}

const exists = async (file: string) => (await stat(file).catch(() => {}))?.isFile() ?? false

async function readJson(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
  } catch {
    return undefined
  }
}

/** the start and end lines of a run log (# start {...} first, # end {...} last but for its writer's # digest trailer) */
async function runLogMarks(
  file: string,
): Promise<{end?: {stats?: {acknowledged?: number}}; start?: {startedAt?: string}}> {
  const handle = await open(file, 'r')
  try {
    const {size} = await handle.stat()
    const read = async (position: number, length: number) => {
      const buffer = Buffer.alloc(length)
      const {bytesRead} = await handle.read(buffer, 0, length, position)
      return buffer.toString('utf8', 0, bytesRead)
    }

    const parse = (line: string | undefined, kind: string) => {
      if (!line?.startsWith(`# ${kind} `)) return
      try {
        return JSON.parse(line.slice(kind.length + 3))
      } catch {}
    }

    const head = (await read(0, 4096)).split('\n')[0]
    const tail = (await read(Math.max(0, size - 8192), 8192))
      .trimEnd()
      .split('\n')
      .findLast((line) => !line.startsWith(`# ${TRAILER_KIND} `))
    return {start: parse(head, 'start'), end: parse(tail, 'end')}
  } finally {
    await handle.close()
  }
}

const num = (v: unknown): null | number => (typeof v === 'number' && Number.isFinite(v) ? v : null)

/** One run directory, or undefined when it holds no run (no report, no run log). */
export async function readRun(dir: string, id = path.basename(dir)): Promise<RunSummary | undefined> {
  const files: RunSummary['files'] = {}
  for (const [key, name] of [
    ['report', 'report.md'],
    ['reportJson', 'report.json'],
    ['picture', 'report.svg'],
    ['pictureHtml', 'report.html'],
    ['runLog', RUN_LOG_FILE],
    ['restoreFailed', 'restore-failed.json'],
  ] as const) {
    if (await exists(path.join(dir, name))) files[key] = path.join(dir, name)
  }

  const marks = files.runLog ? await runLogMarks(files.runLog).catch(() => ({start: undefined, end: undefined})) : {}
  const report = files.reportJson ? await readJson(files.reportJson) : undefined
  const failed = files.restoreFailed ? await readJson(files.restoreFailed) : undefined
  const mtime = (await stat(dir)).mtime.toISOString()
  const started = (fallback?: unknown) =>
    marks.start?.startedAt ?? (typeof fallback === 'string' && fallback ? fallback : mtime)
  if (report?.kind === 'chaos') {
    const totals = (report.totals ?? {}) as Record<string, unknown>
    return {
      id,
      kind: 'chaos',
      dir,
      startedAt: started(mtime),
      verdict: report.verified === true ? 'PASS' : report.interrupted === true ? 'INTERRUPTED' : 'FAIL',
      fault: `${num(totals.rounds) ?? '?'} rounds, seed ${String(report.seed)}`,
      // a campaign's RTO is its median round's
      rtoSeconds: num((report.rto as Record<string, unknown> | undefined)?.median),
      acknowledged: num(totals.acknowledged),
      lost: num(totals.lost),
      files,
    }
  }

  if (report) {
    const regions = Array.isArray(report.regions)
      ? (report.regions as string[]).join(' + ')
      : String(report.region ?? '?')
    const component = report.component && report.component !== 'region' ? `${String(report.component)} of ` : ''
    return {
      id,
      kind: report.kind === 'chaos' ? 'chaos' : 'blast-radius',
      dir,
      startedAt: started(report.faultInjectedAt),
      verdict: report.verified === true ? 'PASS' : report.interrupted === true ? 'INTERRUPTED' : 'FAIL',
      fault: report.mode ? `${String(report.mode)} ${component}${regions}` : null,
      rtoSeconds: num(report.rtoSeconds),
      acknowledged: num(report.acknowledged),
      lost: num(report.lost),
      files,
    }
  }

  if (failed) {
    return {
      id,
      kind: 'blast-radius',
      dir,
      startedAt: started(),
      verdict: 'RESTORE FAILED',
      fault: Array.isArray(failed.regions)
        ? `${String(failed.mode)} ${(failed.regions as string[]).join(' + ')}`
        : null,
      rtoSeconds: null,
      acknowledged: null,
      lost: null,
      files,
    }
  }

  if (files.runLog) {
    return {
      id,
      kind: 'workload',
      dir,
      startedAt: started(),
      verdict: null,
      fault: null,
      rtoSeconds: null,
      acknowledged: num(marks.end?.stats?.acknowledged),
      lost: null,
      files,
    }
  }

  return undefined
}

/** Every run of a runs directory and its index, oldest first. */
export async function listRuns(runsDir: string): Promise<RunSummary[]> {
  const root = path.resolve(runsDir)
  const entries = await readdir(root, {withFileTypes: true}).catch(() => [])
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => path.join(root, e.name))
  const index = await readFile(path.join(root, RUNS_INDEX_FILE), 'utf8').catch(() => '')
  for (const line of index.split('\n').map((l) => l.trim()))
    if (line && !line.startsWith('#')) dirs.push(path.resolve(line))
  const unique = [...new Set(dirs)]
  const names = unique.map((d) => path.basename(d))
  const runs: RunSummary[] = []
  for (const dir of unique) {
    if (!(await stat(dir).catch(() => {}))?.isDirectory()) continue
    const name = path.basename(dir)
    const run = await readRun(dir, names.filter((n) => n === name).length > 1 ? dir : name)
    if (run) runs.push(run)
  }

  return runs.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id))
}

/** The run named id (its directory name, or its path). Unknown: a usage error naming the runs directory. */
export async function findRun(runsDir: string, id: string): Promise<RunSummary> {
  const runs = await listRuns(runsDir)
  const wanted = path.resolve(runsDir, id)
  const run = runs.find((r) => r.id === id) ?? runs.find((r) => r.dir === wanted)
  if (run) return run
  const latest = runs.slice(-3).map((r) => r.id)
  throw new UsageError(`no run "${id}" in ${runsDir}`, {
    code: 'RUN_NOT_FOUND',
    hint:
      runs.length === 0
        ? 'no runs yet: `atlas blast-radius` or `atlas workload` makes one'
        : `\`atlas runs\` lists them (latest: ${latest.join(', ')})`,
    details: {runsDir, id},
  })
}

const fmt = (n: null | number, digits = 2) => (n === null ? '-' : n.toFixed(digits))

export function formatRuns(runs: RunSummary[], runsDir: string): string {
  if (runs.length === 0) return `no runs in ${runsDir}`
  const rows = [['ID', 'KIND', 'STARTED', 'VERDICT', 'RTO (s)', 'LOST', 'FAULT']]
  for (const r of runs)
    rows.push([
      r.id,
      r.kind,
      r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      r.verdict ?? '-',
      fmt(r.rtoSeconds),
      r.lost === null ? '-' : String(r.lost),
      r.fault ?? '-',
    ])
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)))
  return rows
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

export function formatRun(r: RunSummary, summary?: string): string {
  const lines = [`${r.id}: ${r.kind}${r.fault ? ` (${r.fault})` : ''}${r.verdict ? `: ${r.verdict}` : ''}`]
  // the summary's own first line repeats the header; its file lines are listed below
  if (summary)
    lines.push(
      `  started ${r.startedAt}`,
      ...summary
        .split('\n')
        .slice(1)
        .map((l) => l.trim())
        .filter((l) => !/^(report|picture):/.test(l))
        .map((l) => `  ${l}`),
    )
  else {
    lines.push(`  started ${r.startedAt}`)
    if (r.fault) lines.push(`  fault: ${r.fault}; RTO ${fmt(r.rtoSeconds)} s`)
    if (r.acknowledged !== null)
      lines.push(`  ${r.acknowledged} acknowledged${r.lost === null ? '' : `, ${r.lost} lost`}`)
  }

  lines.push(`  directory:   ${r.dir}`)
  const files: Array<[string, string | undefined]> = [
    ['report.md', r.files.report],
    ['report.json', r.files.reportJson],
    ['picture', r.files.picture],
    ['page', r.files.pictureHtml],
    ['run log', r.files.runLog],
    ['restore log', r.files.restoreFailed],
  ]
  for (const [label, file] of files) if (file) lines.push(`  ${`${label}:`.padEnd(13)}${file}`)
  if (r.kind !== 'workload' && !r.files.picture)
    lines.push('  picture:     none (the run is older than pictures, or its report was not written)')
  return lines.join('\n')
}
