import {z} from 'zod'

/** The one region model: every driver, renderer and command reads regions from here. */
export const REGION_ROLES = ['primary', 'secondary', 'witness'] as const
export type RegionRole = (typeof REGION_ROLES)[number]

export const DRIVERS = ['auto', 'local', 'k3d'] as const
/** what atlas.yaml and --driver may say: a driver, or auto (resolved to a DriverKind by world/index.ts) */
export type DriverSetting = (typeof DRIVERS)[number]

const regionName = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,15}$/,
    'must be lowercase letters, digits or "-", starting with a letter, at most 16 characters',
  )

export const regionSchema = z.strictObject({
  name: regionName,
  awsRegion: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must look like an AWS region, e.g. us-east-1'),
  /** CockroachDB --locality tiers, e.g. region=us-east-1,zone=us-east-1a; defaults to region=<awsRegion> */
  locality: z
    .string()
    .regex(
      /^[a-z]+=[a-z0-9-]+(,[a-z]+=[a-z0-9-]+)*$/,
      'must be key=value tiers separated by commas, e.g. region=us-east-1,zone=us-east-1a',
    )
    .optional(),
  role: z.enum(REGION_ROLES),
})

export const replicationRuleSchema = z.strictObject({
  from: regionName,
  to: regionName,
})

export const configSchema = z.strictObject({
  driver: z.enum(DRIVERS).default('auto'),
  /** prefix of every cloud resource name (buckets, queues, roles) */
  namePrefix: z
    .string()
    .regex(/^[a-z][a-z0-9-]{1,20}$/, 'must be 2-21 lowercase letters, digits or "-"')
    .default('atlas'),
  regions: z.array(regionSchema).min(1, 'at least one region is required'),
  ledger: z
    .strictObject({
      accounts: z.number().int().min(2).max(1_000_000).default(100),
      /** minted per account, in integer minor units (cents) */
      openingBalance: z.number().int().min(0).max(1_000_000_000_000).default(100_000),
      /** whether the schema forbids negative balances (verify checks it) */
      allowNegativeBalances: z.boolean().default(false),
    })
    .prefault({}),
  local: z
    .strictObject({
      /** state, logs and run directories of the local world; relative to the config file's directory */
      baseDir: z.string().min(1).default('.atlas'),
      host: z
        .string()
        .regex(/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, 'must be a loopback IPv4 address (127.x.y.z)')
        .default('127.0.0.1'),
      /** first port of the block the local world uses (20 per region, then the cloud endpoint) */
      basePort: z.number().int().min(1024).max(65_000).default(24_000),
    })
    .prefault({}),
  backup: z
    .strictObject({
      /** local world: `atlas up` starts a scheduler that runs `atlas backup` this often ("6h", "30m"); unset: no schedule */
      schedule: z
        .string()
        .regex(/^\d+(\.\d+)?(s|m|h|d)$/, 'must be a duration such as 30m, 6h or 1d')
        .refine(
          (text) => durationSeconds(text) >= 60 && durationSeconds(text) <= 30 * 86_400,
          'must be between 1m and 30d',
        )
        .optional(),
      /** the type of the scheduled backups */
      type: z.enum(['full', 'diff', 'incr']).default('full'),
      /** full backups kept in the repository (older ones and the WAL only they need are expired) */
      retentionFull: z.number().int().min(1).max(100).default(4),
    })
    .prefault({}),
  cloud: z
    .strictObject({
      /** S3/SQS/IAM endpoint; default: the local world's moto server, or LocalStack on :4566 for k3d */
      endpoint: z.url().optional(),
      /** cross-region replication of audit buckets; default: both ways between primary and secondary */
      replication: z.array(replicationRuleSchema).optional(),
    })
    .prefault({}),
  tracing: z
    .strictObject({
      /**
       * OTLP endpoint the ledger service and the workload export their transfer spans to
       * (OTEL_EXPORTER_OTLP_ENDPOINT wins). Exporting also needs @opentelemetry/sdk-node
       * installed beside atlas; without it trace ids are still propagated and audited.
       */
      otlpEndpoint: z.url().optional(),
    })
    .prefault({}),
})

/** seconds in a schedule duration ("30m", "6h", "1d") */
export function durationSeconds(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text)
  if (!match) return Number.NaN
  return Number(match[1]) * {s: 1, m: 60, h: 3600, d: 86_400}[match[2] as 'd' | 'h' | 'm' | 's']
}

export type AtlasConfigInput = z.input<typeof configSchema>
/** The effective configuration: validated, defaults applied, regions normalised. */
export type AtlasConfig = Omit<z.infer<typeof configSchema>, 'cloud' | 'regions'> & {
  cloud: {endpoint?: string; replication: Array<{from: string; to: string}>}
  regions: Region[]
  /** absolute path of the config file, or undefined for built-in defaults */
  source?: string
}

export interface Region {
  awsRegion: string
  locality: string
  name: string
  role: RegionRole
}
