import type {AtlasConfig} from '../config/schema.js'
import type {LocalBackups} from './local.js'

import {UsageError} from '../errors.js'

/** The local world's backups; the k3d world backs up through CockroachDB's own schedule (its SQL job), not atlas. */
export async function localBackups(
  config: AtlasConfig,
  options: {baseDir?: string; driver?: string} = {},
): Promise<LocalBackups> {
  const {createWorld} = await import('../world/index.js')
  const world = await createWorld(config, {baseDir: options.baseDir, driver: options.driver as never})
  if (world.driver !== 'local') {
    throw new UsageError(
      "atlas backup and restore work on the local world; the k3d world backs up with CockroachDB's CREATE SCHEDULE … FOR BACKUP in its SQL job",
      {code: 'DRIVER_UNSUPPORTED'},
    )
  }

  return (world as import('../world/local/index.js').LocalWorld).backups()
}

/** --to-time: an ISO 8601 time with a zone (2026-11-30T02:30:00Z, …+01:00), or a number of seconds since the epoch. */
export function parseRecoveryTime(text: string): Date {
  const trimmed = text.trim()
  const at = /^\d+(\.\d+)?$/.test(trimmed)
    ? new Date(Number(trimmed) * 1000)
    : /(Z|[+-]\d\d:?\d\d)$/i.test(trimmed)
      ? new Date(trimmed)
      : new Date(Number.NaN)
  if (Number.isNaN(at.getTime())) {
    throw new UsageError(
      `invalid --to-time "${text}": give an ISO 8601 time with its zone, e.g. 2026-11-30T02:30:00Z, or seconds since the epoch`,
      {code: 'TIME_INVALID'},
    )
  }

  if (at.getTime() > Date.now() + 1000)
    throw new UsageError(`--to-time ${at.toISOString()} is in the future`, {code: 'TIME_IN_FUTURE'})
  return at
}
