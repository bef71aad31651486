import {UsageError} from './errors.js'

/** "30s", "5m", "1h", "500ms" or a number of seconds → milliseconds. */
export function parseDuration(text: string, range?: DurationRange): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (!match)
    throw new UsageError(`invalid duration "${text}"`, {hint: 'use e.g. 30s, 5m, 1h, 500ms or a number of seconds'})
  const value = Number(match[1])
  const unit = match[2] ?? 's'
  const factor = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000
  const ms = Math.round(value * factor)
  if (range && (ms < parseDuration(range.min) || ms > parseDuration(range.max))) {
    throw new UsageError(`duration "${text}" is out of range: accepted ${range.min} to ${range.max}`, {
      code: 'DURATION_OUT_OF_RANGE',
    })
  }

  return ms
}

/** The accepted bounds of a duration, inclusive, written as durations ("1s", "24h"). */
export interface DurationRange {
  max: string
  min: string
}
