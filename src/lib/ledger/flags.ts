import {Flags} from '@oclif/core'

/** Flags shared by the ledger commands. */
export const dbFlag = Flags.string({
  summary:
    'Database URL; several hosts allowed (postgres://u@h1:p1,h2:p2/db or comma-separated URLs). Default: the running world.',
  env: 'ATLAS_DATABASE_URL',
})

export const endpointFlag = Flags.string({
  summary: 'S3/SQS endpoint (moto or LocalStack). Default: config cloud.endpoint, else the running world.',
  env: 'AWS_ENDPOINT_URL',
})
