import {expect} from 'chai'

import {AtlasError, ExitCode} from '../../../src/lib/errors.js'
import {parseTerraformOutputs} from '../../../src/lib/tools/terraform-outputs.js'

/** `terraform output -json` of terraform/outputs.tf, as Terraform prints it (each output wrapped in {value, type, sensitive}) */
const output = {
  regions: {
    sensitive: false,
    type: ['object', {}],
    value: {
      us: {
        aws_region: 'us-east-1',
        role: 'primary',
        audit_bucket_name: 'atlas-audit-us',
        audit_bucket_arn: 'arn:aws:s3:::atlas-audit-us',
        queue_name: 'atlas-transfers-us',
        queue_url: 'http://127.0.0.1:4566/000000000000/atlas-transfers-us',
        queue_arn: 'arn:aws:sqs:us-east-1:000000000000:atlas-transfers-us',
        dead_letter_queue_name: 'atlas-transfers-us-dlq',
        dead_letter_queue_url: 'http://127.0.0.1:4566/000000000000/atlas-transfers-us-dlq',
        dead_letter_queue_arn: 'arn:aws:sqs:us-east-1:000000000000:atlas-transfers-us-dlq',
        replication_role_arn: 'arn:aws:iam::000000000000:role/atlas-replication-us',
        replicates_to_bucket: 'atlas-audit-eu',
      },
      eu: {
        aws_region: 'eu-west-1',
        role: 'secondary',
        audit_bucket_name: 'atlas-audit-eu',
        queue_url: 'http://127.0.0.1:4566/000000000000/atlas-transfers-eu',
        replicates_to_bucket: null,
      },
    },
  },
}

describe('terraform outputs: the one parser of `terraform output -json`', () => {
  it('reads every data region, in name order, with what the renderer, the k3d endpoints and provisioning use', () => {
    const regions = parseTerraformOutputs(output)
    expect(Object.keys(regions)).to.deep.equal(['eu', 'us'])
    expect(regions.us).to.deep.equal({
      queueUrl: 'http://127.0.0.1:4566/000000000000/atlas-transfers-us',
      auditBucket: 'atlas-audit-us',
      awsRegion: 'us-east-1',
      queueArn: 'arn:aws:sqs:us-east-1:000000000000:atlas-transfers-us',
      deadLetterQueueUrl: 'http://127.0.0.1:4566/000000000000/atlas-transfers-us-dlq',
      deadLetterQueueArn: 'arn:aws:sqs:us-east-1:000000000000:atlas-transfers-us-dlq',
      replicationRoleArn: 'arn:aws:iam::000000000000:role/atlas-replication-us',
      replicatesToBucket: 'atlas-audit-eu',
    })
    // Terraform's null (replication off) is no value, not the string "null"
    expect(regions.eu).to.not.have.property('replicatesToBucket')
  })

  it('refuses what is not that output (exit 2), naming the path that is wrong', () => {
    const error = (() => {
      try {
        parseTerraformOutputs({regions: {value: {us: {audit_bucket_name: 'b'}}}}, 'outputs.json')
      } catch (error_) {
        return error_
      }
    })() as AtlasError
    expect(error).to.be.instanceOf(AtlasError)
    expect(error.exitCode).to.equal(ExitCode.Usage)
    expect(error.message).to.match(
      /^outputs\.json: not the output of `terraform output -json`.*regions\.value\.us\.queue_url/,
    )
  })
})
