// The SDK provisioner of the local world creates what terraform/modules/region
// declares. This reads the module's HCL and fails when the two drift apart.
import {parse} from '@cdktf/hcl2json'
import {expect} from 'chai'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {REGION_STACK_SETTINGS} from '../../../src/lib/cloud/provision.js'

const MODULE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../terraform/modules/region')

type Any = any

describe('local world cloud provisioning matches terraform/modules/region', () => {
  let main: Any
  let variables: Any

  before(async () => {
    main = await parse('main.tf', readFileSync(path.join(MODULE_DIR, 'main.tf'), 'utf8'))
    variables = await parse('variables.tf', readFileSync(path.join(MODULE_DIR, 'variables.tf'), 'utf8'))
  })

  const variableDefault = (name: string) => variables.variable[name][0].default
  const resource = (type: string, name: string) => main.resource[type][name][0]

  it('uses the module defaults for queue, dead-letter queue and lifecycle settings', () => {
    expect(REGION_STACK_SETTINGS.queueMaxReceiveCount).to.equal(variableDefault('queue_max_receive_count'))
    expect(REGION_STACK_SETTINGS.queueVisibilityTimeoutSeconds).to.equal(
      variableDefault('queue_visibility_timeout_seconds'),
    )
    expect(REGION_STACK_SETTINGS.deadLetterRetentionSeconds).to.equal(variableDefault('dead_letter_retention_seconds'))
    expect(REGION_STACK_SETTINGS.auditNoncurrentVersionExpirationDays).to.equal(
      variableDefault('audit_noncurrent_version_expiration_days'),
    )
  })

  it('uses the fixed attributes of the module: encryption, rule ids, multipart abort', () => {
    const sse = resource('aws_s3_bucket_server_side_encryption_configuration', 'audit').rule[0]
      .apply_server_side_encryption_by_default[0]
    expect(REGION_STACK_SETTINGS.sseAlgorithm).to.equal(sse.sse_algorithm)
    const lifecycle = resource('aws_s3_bucket_lifecycle_configuration', 'audit').rule[0]
    expect(REGION_STACK_SETTINGS.lifecycleRuleId).to.equal(lifecycle.id)
    expect(REGION_STACK_SETTINGS.abortIncompleteMultipartUploadDays).to.equal(
      lifecycle.abort_incomplete_multipart_upload[0].days_after_initiation,
    )
    const replication = resource('aws_s3_bucket_replication_configuration', 'audit').rule[0]
    expect(REGION_STACK_SETTINGS.replicationRuleId).to.equal(replication.id)
  })

  it('declares the same kinds of resources the SDK provisioner creates', () => {
    const declared = Object.keys(main.resource).sort()
    expect(declared).to.include.members([
      'aws_s3_bucket',
      'aws_s3_bucket_versioning',
      'aws_s3_bucket_server_side_encryption_configuration',
      'aws_s3_bucket_public_access_block',
      'aws_s3_bucket_lifecycle_configuration',
      'aws_sqs_queue',
      'aws_sqs_queue_redrive_allow_policy',
      'aws_iam_role',
      'aws_iam_role_policy',
      'aws_s3_bucket_replication_configuration',
    ])
    const pab = resource('aws_s3_bucket_public_access_block', 'audit')
    expect([
      pab.block_public_acls,
      pab.block_public_policy,
      pab.ignore_public_acls,
      pab.restrict_public_buckets,
    ]).to.deep.equal([true, true, true, true])
  })
})
