import {Flags, type Interfaces} from '@oclif/core'

import {DRIVERS} from './config/schema.js'
import {type DurationRange, parseDuration} from './duration.js'

/** Flags shared by several commands, defined once. */
export const driverFlag = Flags.option({
  options: DRIVERS,
  summary:
    'World driver: auto (k3d when the k3d CLI is installed and a Docker engine answers, else local), local or k3d.',
})()

export const dryRunFlag = Flags.boolean({
  summary: 'Print the exact commands that would run, and change nothing.',
  default: false,
})

export const baseDirFlag = Flags.string({
  summary: 'Directory for state, logs and runs (default: local.baseDir of the config).',
})

/** Confirms a destructive action without asking; required when stdin is not a terminal. */
export const yesFlag = Flags.boolean({
  char: 'y',
  summary: 'Do not ask before destroying data (required when not on a terminal).',
  default: false,
})

/**
 * A duration flag ("30s", "5m", "1h", "500ms"), parsed to milliseconds and checked
 * against its range at parse time: a bad value is a usage error (exit 2) naming the range.
 */
type DurationFlagOptions = {char?: 'd'; range: DurationRange; summary: string}

export function durationFlag(options: DurationFlagOptions & {default: string}): Interfaces.OptionFlag<number>
export function durationFlag(options: DurationFlagOptions): Interfaces.OptionFlag<number | undefined>
export function durationFlag(
  options: DurationFlagOptions & {default?: string},
): Interfaces.OptionFlag<number | undefined> {
  const fallback = options.default
  return Flags.custom<number>({
    summary: `${options.summary} Accepted: ${options.range.min} to ${options.range.max}.`,
    char: options.char,
    helpValue: '<duration>',
    parse: async (input) => parseDuration(input, options.range),
    ...(fallback === undefined
      ? {}
      : {default: async () => parseDuration(fallback), defaultHelp: async () => fallback}),
  })()
}
