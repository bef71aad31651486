import {readFile} from 'node:fs/promises'
import {z} from 'zod'

import {UsageError} from '../errors.js'

/**
 * The part of `terraform output -json` (terraform/outputs.tf) the renderer
 * needs: per data region, its queue URL and audit bucket. The witness has no
 * cloud resources and is absent.
 */
export interface RegionCloudOutputs {
  auditBucket: string
  queueUrl: string
}

export type TerraformRegionOutputs = Record<string, RegionCloudOutputs>

const regionOutput = z.looseObject({queue_url: z.string().min(1), audit_bucket_name: z.string().min(1)})
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
      .map(([name, r]) => [name, {queueUrl: r.queue_url, auditBucket: r.audit_bucket_name}]),
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
