import {expect} from 'chai'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {DEFAULT_CONFIG} from '../../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../../src/lib/config/load.js'
import {AtlasError, ExitCode} from '../../../../src/lib/errors.js'
import {K3dWorld} from '../../../../src/lib/world/k3d/index.js'
import {emptyDir, removeTempDirs} from '../../../fixtures/k3d/stubs.js'

describe("k3d world endpoints: from terraform's outputs once up has stored them", () => {
  after(() => removeTempDirs())

  const worldIn = (baseDir: string) => new K3dWorld(parseConfigObject(DEFAULT_CONFIG), {baseDir})

  it('before up (no outputs file): the names Terraform will use', async () => {
    const endpoints = await worldIn(emptyDir('atlas-k3d-endpoints-')).endpoints()
    expect(endpoints.find((e) => e.region === 'us')?.auditBucket).to.match(/audit/)
    expect(endpoints.find((e) => e.region === 'witness')).to.deep.equal({region: 'witness'})
  })

  it("after up: the stored `terraform output -json`; a file that is not that output is refused (exit 2), not read as 'not provisioned'", async () => {
    const baseDir = emptyDir('atlas-k3d-endpoints-')
    const world = worldIn(baseDir)
    const file = world.layout.terraformOutputsFile
    mkdirSync(path.dirname(file), {recursive: true})
    const region = (name: string) => ({
      audit_bucket_name: `stored-audit-${name}`,
      queue_url: `http://localstack:4566/000000000000/stored-${name}`,
      dead_letter_queue_url: `http://localstack:4566/000000000000/stored-${name}-dlq`,
      replicates_to_bucket: null,
    })
    writeFileSync(
      file,
      JSON.stringify({regions: {sensitive: false, type: [], value: {us: region('us'), eu: region('eu')}}}),
    )
    const us = (await world.endpoints()).find((e) => e.region === 'us')
    expect(us).to.deep.include({
      auditBucket: 'stored-audit-us',
      queueUrl: 'http://localstack:4566/000000000000/stored-us',
      deadLetterQueueUrl: 'http://localstack:4566/000000000000/stored-us-dlq',
    })
    writeFileSync(file, JSON.stringify({regions: {value: {us: {audit_bucket_name: 'x'}}}}))
    const error = (await world.endpoints().catch((error_: unknown) => error_)) as AtlasError
    expect(error).to.be.instanceOf(AtlasError)
    expect(error.exitCode).to.equal(ExitCode.Usage)
    expect(error.code).to.equal('TERRAFORM_OUTPUTS_INVALID')
  })
})
