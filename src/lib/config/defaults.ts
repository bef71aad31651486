import type {AtlasConfigInput} from './schema.js'

/** Three regions by default: two cannot survive the loss of either side under Raft. */
export const DEFAULT_CONFIG: AtlasConfigInput = {
  driver: 'auto',
  namePrefix: 'atlas',
  regions: [
    {name: 'us', awsRegion: 'us-east-1', locality: 'region=us-east-1,zone=us-east-1a', role: 'primary'},
    {name: 'eu', awsRegion: 'eu-central-1', locality: 'region=eu-central-1,zone=eu-central-1a', role: 'secondary'},
    {name: 'witness', awsRegion: 'us-west-2', locality: 'region=us-west-2,zone=us-west-2a', role: 'witness'},
  ],
}

/** The commented atlas.yaml that `atlas init` writes; it must parse to DEFAULT_CONFIG (tested). */
export const CONFIG_TEMPLATE = `# atlas.yaml: configuration of the Atlas simulated multi-region ledger.
# Every key is optional except regions; \`atlas config\` prints the effective values.

# Which world to build: auto (k3d when the k3d CLI is installed and a Docker engine answers, else local), local or k3d.
driver: auto

# Prefix of every cloud resource name (S3 buckets, SQS queues, IAM roles).
namePrefix: atlas

# Regions. Exactly one primary; a witness holds a vote and a synchronous copy but never leads.
# Three regions are needed to survive the loss of any one of them.
regions:
  - name: us
    awsRegion: us-east-1
    locality: region=us-east-1,zone=us-east-1a
    role: primary
  - name: eu
    awsRegion: eu-central-1
    locality: region=eu-central-1,zone=eu-central-1a
    role: secondary
  - name: witness
    awsRegion: us-west-2
    locality: region=us-west-2,zone=us-west-2a
    role: witness

ledger:
  # number of accounts created by \`atlas ledger init\`
  accounts: 100
  # opening balance minted per account, in integer minor units (cents)
  openingBalance: 100000
  # whether balances may go below zero (verify checks this)
  allowNegativeBalances: false

# The local world: real processes on loopback, no Docker.
local:
  # state, logs and run reports, relative to this file
  baseDir: .atlas
  host: 127.0.0.1
  # first port of the block used by the local world (20 per region, then the cloud endpoint)
  basePort: 24000

# Backups of the local world's ledger (pgBackRest into the primary region's backup bucket).
backup:
  # \`atlas up\` starts a scheduler that runs \`atlas backup\` this often; unset: no schedule
  # schedule: 6h
  # full, diff or incr
  type: full
  # full backups kept (older ones, and the WAL only they need, are expired)
  retentionFull: 4

cloud:
  # S3/SQS/IAM endpoint; unset: the local world's moto server, or LocalStack (:4566) in k3d
  # endpoint: http://127.0.0.1:4566
  # audit bucket replication; unset: both ways between the primary and the secondary
  # replication:
  #   - {from: us, to: eu}
  #   - {from: eu, to: us}

# One trace per transfer (W3C trace context through the queue, trace id in the audit record).
tracing:
  # export spans over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT wins); needs @opentelemetry/sdk-node
  # installed beside atlas. Unset: nothing is exported, trace ids are still propagated.
  # otlpEndpoint: http://127.0.0.1:4318
`
