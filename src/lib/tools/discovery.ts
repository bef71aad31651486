import {constants} from 'node:fs'
import {access, readdir} from 'node:fs/promises'
import path from 'node:path'

import type {DriverKind} from '../model/driver.js'

import {packagePath} from '../paths.js'
import {TOOL_CATALOG, type ToolSpec} from './catalog.js'

/**
 * Where tools are looked for: PATH, then the helm/kubectl/Patroni that `npm run setup`
 * puts in `.tools/bin`, then PostgreSQL's versioned bin directory (Debian does not put
 * initdb/pg_ctl on PATH; the major version differs between Debian releases, so it is
 * never hard-coded). ATLAS_TOOL_DIRS replaces the last two (an empty value leaves PATH
 * alone; tests use that).
 */
export async function toolSearchPath(): Promise<string[]> {
  const fromPath = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)
  const override = process.env.ATLAS_TOOL_DIRS
  if (override !== undefined) return [...fromPath, ...override.split(path.delimiter).filter(Boolean)]
  const postgresDirs: string[] = []
  try {
    const majors = (await readdir('/usr/lib/postgresql'))
      .filter((d) => /^\d+$/.test(d))
      .sort((a, b) => Number(b) - Number(a))
    postgresDirs.push(...majors.map((m) => `/usr/lib/postgresql/${m}/bin`))
  } catch {
    // no PostgreSQL server installed
  }

  return [...fromPath, packagePath('.tools', 'bin'), ...postgresDirs]
}

/**
 * Tools whose version the local world's safety depends on: the project's own copy in
 * `.tools/bin` wins over PATH, where Debian's Patroni 3.0 may be (see catalog.ts).
 */
const PINNED_TOOLS = new Set(['patroni', 'patronictl'])

const cache = new Map<string, null | string>()

/** Absolute path of an executable, or undefined. */
export async function findExecutable(name: string, searchPath?: string[]): Promise<string | undefined> {
  if (name.includes('/')) return (await isExecutable(name)) ? path.resolve(name) : undefined
  let dirs = searchPath
  if (!dirs) {
    dirs = await toolSearchPath()
    if (PINNED_TOOLS.has(name) && process.env.ATLAS_TOOL_DIRS === undefined)
      dirs = [packagePath('.tools', 'bin'), ...dirs]
  }

  const key = `${name}\0${dirs.join(path.delimiter)}`
  if (cache.has(key)) return cache.get(key) ?? undefined
  for (const dir of dirs) {
    const candidate = path.join(dir, name)
    if (await isExecutable(candidate)) {
      cache.set(key, candidate)
      return candidate
    }
  }

  cache.set(key, null)
  return undefined
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export interface ToolStatus {
  drivers: DriverKind[]
  found: boolean
  install: string
  minVersion: string
  name: string
  /** found, new enough and ready */
  ok: boolean
  path?: string
  problem?: string
  purpose: string
  version?: string
}

/** Finds a tool, reads its version and checks readiness. Never throws. */
export async function inspectTool(spec: ToolSpec, searchPath?: string[]): Promise<ToolStatus> {
  const base = {
    name: spec.name,
    drivers: spec.drivers,
    purpose: spec.purpose,
    minVersion: spec.minVersion,
    install: spec.install,
  }
  let found: string | undefined
  for (const bin of spec.bins) {
    found = await findExecutable(bin, searchPath)
    if (found) break
  }

  if (!found) return {...base, found: false, ok: false, problem: 'not found'}
  const {execa} = await import('execa')
  const dirs = searchPath ?? (await toolSearchPath())
  const env = {...process.env, PATH: dirs.join(path.delimiter)}
  const versionArgv = spec.versionCommand ?? [found, ...(spec.versionArgs ?? ['--version'])]
  const versionRun = await execa(versionArgv[0], versionArgv.slice(1), {
    reject: false,
    timeout: 15_000,
    env,
    stdin: 'ignore',
  })
  const version = parseVersion(`${versionRun.stdout}\n${versionRun.stderr}`)
  if (!version) return {...base, found: true, path: found, ok: false, problem: 'could not read its version'}
  if (compareVersions(version, spec.minVersion) < 0) {
    return {
      ...base,
      found: true,
      path: found,
      version,
      ok: false,
      problem: `version ${version} is older than ${spec.minVersion}`,
    }
  }

  if (spec.readiness) {
    const ready = await execa(found, spec.readiness.args, {reject: false, timeout: 15_000, env, stdin: 'ignore'})
    if (ready.exitCode !== 0)
      return {...base, found: true, path: found, version, ok: false, problem: spec.readiness.problem}
  }

  const envProblem = spec.environment?.(process.env)
  if (envProblem) return {...base, found: true, path: found, version, ok: false, problem: envProblem}
  return {...base, found: true, path: found, version, ok: true}
}

export interface DriverReport {
  driver: DriverKind
  missing: string[]
  usable: boolean
}

export interface DoctorReport {
  drivers: DriverReport[]
  tools: ToolStatus[]
}

export async function inspectAllTools(searchPath?: string[]): Promise<DoctorReport> {
  const tools = await Promise.all(TOOL_CATALOG.map((spec) => inspectTool(spec, searchPath)))
  const drivers = (['local', 'k3d'] as const).map((driver) => {
    const missing = tools
      .filter(
        (t) => t.drivers.includes(driver) && !t.ok && !TOOL_CATALOG.find((spec) => spec.name === t.name)?.optional,
      )
      .map((t) => t.name)
    return {driver, usable: missing.length === 0, missing}
  })
  return {tools, drivers}
}

/** First dotted version number in a tool's output: "etcd Version: 3.4.23", "v1.33.9", "postgres (PostgreSQL) 15.18". */
export function parseVersion(text: string): string | undefined {
  return /v?(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1]
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }

  return 0
}
