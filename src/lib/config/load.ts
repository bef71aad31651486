import type {z} from 'zod'

import {access, readFile} from 'node:fs/promises'
import path from 'node:path'
import {type Document, isDocument, LineCounter, parseDocument} from 'yaml'

import {ConfigError} from '../errors.js'
import {DEFAULT_CONFIG} from './defaults.js'
import {type AtlasConfig, configSchema, type Region} from './schema.js'

export const DEFAULT_CONFIG_FILE = 'atlas.yaml'

/** yaml's budget of alias expansions; a real atlas.yaml needs a handful at most */
const MAX_ALIAS_COUNT = 100

interface Located {
  doc?: Document
  file: string
  lines?: LineCounter
}

/**
 * The atlas.yaml in cwd or the nearest parent directory (as git finds .git), so a
 * command run from a subdirectory of a project uses that project's world.
 */
export async function findConfigFile(cwd = process.cwd()): Promise<string | undefined> {
  let dir = path.resolve(cwd)
  while (true) {
    const candidate = path.join(dir, DEFAULT_CONFIG_FILE)
    if (
      await access(candidate).then(
        () => true,
        () => false,
      )
    )
      return candidate
    const parent = path.dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/**
 * Loads the effective configuration: the given file, else the nearest atlas.yaml
 * (findConfigFile), else the built-in defaults. Every problem becomes a ConfigError
 * (exit 2) naming the file, the key path and, where the YAML has one, the line and column.
 */
export async function loadConfig(configPath?: string, cwd = process.cwd()): Promise<AtlasConfig> {
  const explicit = configPath !== undefined
  const found = explicit ? path.resolve(cwd, configPath) : await findConfigFile(cwd)
  if (!found) return parseConfigObject(DEFAULT_CONFIG, {file: '<built-in defaults>'})
  const file = found
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const {code} = error as NodeJS.ErrnoException
    if (code === 'ENOENT') {
      throw new ConfigError(`config file ${file} does not exist`, {
        hint: 'create one with `atlas init`, or omit --config to use the defaults',
      })
    }

    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`)
  }

  const config = parseConfigText(text, file)
  return {...config, source: file}
}

export function parseConfigText(text: string, file: string): AtlasConfig {
  const lines = new LineCounter()
  const doc = parseDocument(text, {lineCounter: lines, prettyErrors: false, uniqueKeys: true})
  if (doc.errors.length > 0) {
    const first = doc.errors[0]
    const pos = first.linePos?.[0] ?? (first.pos ? lines.linePos(first.pos[0]) : undefined)
    const where = pos ? `${file}:${pos.line}:${pos.col}` : file
    throw new ConfigError(`${where}: YAML syntax error: ${first.message.split('\n')[0]}`, {
      details: {file, line: pos?.line, column: pos?.col},
    })
  }

  let raw: unknown
  try {
    // a few aliases are fine; an alias bomb (a billion laughs) is refused before it is expanded
    raw = doc.toJS({maxAliasCount: MAX_ALIAS_COUNT}) ?? {}
  } catch (error) {
    throw new ConfigError(
      `${file}: ${(error as Error).message} (YAML aliases expand to more than ${MAX_ALIAS_COUNT} nodes)`,
      {
        hint: 'write the values out instead of nesting aliases',
        details: {file},
      },
    )
  }

  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(
      `${file}: the top level must be a mapping (key: value), found ${Array.isArray(raw) ? 'a list' : typeof raw}`,
    )
  }

  // a section left with only comments (`cloud:`) is null in YAML; it means "all defaults"
  for (const [key, value] of Object.entries(raw)) if (value === null) delete (raw as Record<string, unknown>)[key]
  return parseConfigObject(raw, {file, doc, lines})
}

/** where a configuration passed as an object (not read from a file) comes from */
const IN_MEMORY: Located = Object.freeze({file: '<object>'})

export function parseConfigObject(raw: unknown, where: Located = IN_MEMORY): AtlasConfig {
  const result = configSchema.safeParse(raw)
  if (!result.success) {
    const problems = result.error.issues.map((issue) => describeIssue(issue, where))
    throw new ConfigError(problems.length === 1 ? problems[0] : `invalid configuration:\n  ${problems.join('\n  ')}`, {
      details: {file: where.file, problems},
    })
  }

  const parsed = result.data
  const regions: Region[] = parsed.regions.map((r) => ({
    name: r.name,
    awsRegion: r.awsRegion,
    locality: r.locality ?? `region=${r.awsRegion}`,
    role: r.role,
  }))
  checkRegions(regions, where)
  const replication = parsed.cloud.replication ?? defaultReplication(regions)
  checkReplication(replication, regions, where)
  return {...parsed, regions, cloud: {endpoint: parsed.cloud.endpoint, replication}}
}

function checkRegions(regions: Region[], where: Located): void {
  const seen = new Map<string, number>()
  for (const [index, region] of regions.entries()) {
    const earlier = seen.get(region.name)
    if (earlier !== undefined) {
      throw configProblem(
        where,
        ['regions', index, 'name'],
        `duplicate region name "${region.name}" (also regions[${earlier}])`,
      )
    }

    seen.set(region.name, index)
  }

  const primaries = regions.filter((r) => r.role === 'primary')
  if (primaries.length === 0) {
    throw configProblem(where, ['regions'], 'no region has role "primary"; exactly one must')
  }

  if (primaries.length > 1) {
    const index = regions.indexOf(primaries[1])
    throw configProblem(
      where,
      ['regions', index, 'role'],
      `more than one primary region (${primaries.map((r) => r.name).join(', ')}); exactly one must be primary`,
    )
  }
}

function checkReplication(rules: Array<{from: string; to: string}>, regions: Region[], where: Located): void {
  const names = regions.map((r) => r.name)
  for (const [index, rule] of rules.entries()) {
    for (const end of ['from', 'to'] as const) {
      const name = rule[end]
      const region = regions.find((r) => r.name === name)
      if (!region) {
        throw configProblem(
          where,
          ['cloud', 'replication', index, end],
          `unknown region "${name}"; valid regions: ${names.join(', ')}`,
        )
      }

      if (region.role === 'witness') {
        throw configProblem(
          where,
          ['cloud', 'replication', index, end],
          `region "${name}" is a witness and has no audit bucket to replicate`,
        )
      }
    }

    if (rule.from === rule.to)
      throw configProblem(
        where,
        ['cloud', 'replication', index],
        `a region cannot replicate to itself ("${rule.from}")`,
      )
  }
}

function defaultReplication(regions: Region[]): Array<{from: string; to: string}> {
  const primary = regions.find((r) => r.role === 'primary')
  const secondary = regions.find((r) => r.role === 'secondary')
  if (!primary || !secondary) return []
  return [
    {from: primary.name, to: secondary.name},
    {from: secondary.name, to: primary.name},
  ]
}

function configProblem(where: Located, keyPath: Array<number | string>, message: string): ConfigError {
  return new ConfigError(`${locate(where, keyPath)}: ${formatPath(keyPath)}: ${message}`, {
    details: {file: where.file, path: formatPath(keyPath)},
  })
}

function describeIssue(issue: z.core.$ZodIssue, where: Located): string {
  const keyPath = issue.path.filter((p): p is number | string => typeof p !== 'symbol')
  let {message} = issue
  if (issue.code === 'unrecognized_keys') {
    const {keys} = issue
    const first = [...keyPath, keys[0]]
    return `${locate(where, first)}: ${formatPath(keyPath) || '(top level)'}: unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`
  }

  if (issue.code === 'invalid_type') {
    const value = valueAt(where, keyPath)
    message =
      value === undefined
        ? `is required (expected ${issue.expected})`
        : `expected ${issue.expected}, got ${describeValue(value)}`
  }

  if (issue.code === 'invalid_value' && 'values' in issue) {
    const value = valueAt(where, keyPath)
    const choices = issue.values.map((v) => JSON.stringify(v)).join(', ')
    message =
      value === undefined ? `is required (one of ${choices})` : `must be one of ${choices}, got ${describeValue(value)}`
  }

  return `${locate(where, keyPath)}: ${formatPath(keyPath) || '(top level)'}: ${message}`
}

function valueAt(where: Located, keyPath: Array<number | string>): unknown {
  if (!where.doc) return undefined
  const node = where.doc.getIn(keyPath, true) as undefined | {toJSON?: () => unknown}
  return node && typeof node === 'object' && 'toJSON' in node && node.toJSON ? node.toJSON() : node
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return `${typeof value} ${JSON.stringify(value)}`
}

/** file:line:col of the YAML node at keyPath (or its nearest existing parent). */
function locate(where: Located, keyPath: Array<number | string>): string {
  if (!where.doc || !where.lines || !isDocument(where.doc)) return where.file
  for (let depth = keyPath.length; depth >= 0; depth--) {
    const prefix = keyPath.slice(0, depth)
    const node = (prefix.length === 0 ? where.doc.contents : where.doc.getIn(prefix, true)) as
      undefined | {range?: [number, number, number]}
    let offset = node?.range?.[0]
    // for a missing or unknown key, point at the key itself rather than the parent value
    if (depth === keyPath.length && depth > 0) {
      const keyOffset = keyOffsetOf(where.doc, prefix)
      if (keyOffset !== undefined) offset = keyOffset
    }

    if (offset !== undefined) {
      const {line, col} = where.lines.linePos(offset)
      return `${where.file}:${line}:${col}`
    }
  }

  return where.file
}

function keyOffsetOf(doc: Document, keyPath: Array<number | string>): number | undefined {
  const parent = (keyPath.length === 1 ? doc.contents : doc.getIn(keyPath.slice(0, -1), true)) as
    undefined | {items?: Array<{key?: {range?: [number, number, number]; value?: unknown}}>}
  const last = keyPath.at(-1)
  const pair = parent?.items?.find((item) => item?.key?.value === last)
  return pair?.key?.range?.[0]
}

export function formatPath(keyPath: ReadonlyArray<number | string>): string {
  let text = ''
  for (const part of keyPath) text = typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${part}` : part
  return text
}
