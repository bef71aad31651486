import {Flags} from '@oclif/core'

import {DEFAULT_PIPELINE} from './workload/defaults.js'

/** Flags shared by the ledger commands. */
export const dbFlag = Flags.string({
  summary:
    'Database URL; several hosts allowed (postgres://u@h1:p1,h2:p2/db or comma-separated URLs). Default: the running world.',
  env: 'ATLAS_DATABASE_URL',
})

/** transfers in flight per database connection (the workload's pipelining) */
export const pipelineFlag = Flags.integer({
  summary: `Transfers in flight on each database connection: above 1 they are pipelined (sent before the previous one is answered, in batches), each still its own transaction. Default: ${DEFAULT_PIPELINE} direct to the database, 1 with --via queue.`,
  min: 1,
  max: 16,
})

export const endpointFlag = Flags.string({
  summary: 'S3/SQS endpoint (moto or LocalStack). Default: config cloud.endpoint, else the running world.',
  env: 'AWS_ENDPOINT_URL',
})
