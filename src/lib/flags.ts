import {Flags} from '@oclif/core'
import {DRIVERS} from './config/schema.js'

/** Flags shared by several commands, defined once. */
export const driverFlag = Flags.option({
  options: DRIVERS,
  summary: 'World driver: auto (k3d when the k3d CLI is installed and a Docker engine answers, else local), local or k3d.',
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
