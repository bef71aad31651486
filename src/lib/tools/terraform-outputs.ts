import {readFile} from 'node:fs/promises'
import {z} from 'zod'

import {UsageError} from '../errors.js'

/**
 * The `regions` output of `terraform output -json` (terraform/outputs.tf), the one
 * parser of it: per data region, its queue and audit bucket (what the renderer and the
 * k3d world's endpoints need) and the rest of what the local world's provisioning
 * reports. The witness has no cloud resources and is absent.
 */
export interface RegionCloudOutputs {
  auditBucket: string
  awsRegion?: string
  deadLetterQueueArn?: string
  deadLetterQueueUrl?: string
  queueArn?: string
  queueUrl: string
  /** the bucket its audit records replicate to (null output: replication off) */
  replicatesToBucket?: string
  replicationRoleArn?: string
}

export type TerraformRegionOutputs = Record<string, RegionCloudOutputs>

const optional = z.string().nullish()
const regionOutput = z.looseObject({
  queue_url: z.string().min(1),
  audit_bucket_name: z.string().min(1),
  aws_region: optional,
  queue_arn: optional,
  dead_letter_queue_url: optional,
  dead_letter_queue_arn: optional,
  replication_role_arn: optional,
  replicates_to_bucket: optional,
})
const regionsValue = z.record(z.string(), regionOutput)
// `terraform output -json` wraps each output as {value, type, sensitive}
const outputJson = z.looseObject({regions: z.looseObject({value: regionsValue})})

export function parseTerraformOutputs(json: unknown, where = 'terraform outputs'): TerraformRegionOutputs {
  const parsed = outputJson.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new UsageError(
      `${where}: not the output of \`terraform output -json\` for terraform/ (${issue.path.join('.') || '<root>'}: ${issue.message})`,
      {
        code: 'TERRAFORM_OUTPUTS_INVALID',
      },
    )
  }

  return Object.fromEntries(
    Object.entries(parsed.data.regions.value)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, r]) => [
        name,
        {
          queueUrl: r.queue_url,
          auditBucket: r.audit_bucket_name,
          ...defined({
            awsRegion: r.aws_region,
            queueArn: r.queue_arn,
            deadLetterQueueUrl: r.dead_letter_queue_url,
            deadLetterQueueArn: r.dead_letter_queue_arn,
            replicationRoleArn: r.replication_role_arn,
            replicatesToBucket: r.replicates_to_bucket,
          }),
        },
      ]),
  )
}

export async function readTerraformOutputs(file: string): Promise<TerraformRegionOutputs> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new UsageError(`cannot read terraform outputs ${file}: ${(error as Error).message}`, {
      code: 'TERRAFORM_OUTPUTS_INVALID',
    })
  }

  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new UsageError(
      `${file}: not JSON (${(error as Error).message}); write it with \`terraform output -json > ${file}\``,
      {code: 'TERRAFORM_OUTPUTS_INVALID'},
    )
  }

  return parseTerraformOutputs(json, file)
}

/** the entries that have a value (Terraform writes null for an output it leaves unset) */
function defined(o: Record<string, null | string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => typeof e[1] === 'string'))
}
