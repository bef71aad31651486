// Structure of terraform/ as parsed HCL. Providers cannot be downloaded here, so
// `terraform validate` is out of reach: these checks are what stands between a
// typo and a user's failed `atlas up`. The naming checks evaluate the module's
// name expressions and compare them with src/lib/cloud/names.ts.
import {parse} from '@cdktf/hcl2json'
import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {readdirSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {cloudResourceNames, DLQ_MAX_RECEIVE_COUNT} from '../../../src/lib/cloud/names.js'
import {DEFAULT_CONFIG} from '../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../src/lib/config/load.js'
import {terraformVariables} from '../../../src/lib/tools/terraform-vars.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const ROOT_DIR = path.join(REPO, 'terraform')
const MODULE_DIR = path.join(ROOT_DIR, 'modules', 'region')

type Block = Record<string, any>
interface Hcl {
  data: Record<string, Record<string, Block>>
  locals: Record<string, string>
  module: Record<string, Block>
  output: Record<string, Block>
  provider: Record<string, Block[]>
  resource: Record<string, Record<string, Block>>
  terraform: Block[]
  variable: Record<string, Block>
}

/** All .tf files of one directory merged; hcl2json wraps every block in a one-element list. */
async function loadDir(dir: string): Promise<Hcl> {
  const merged: Hcl = {
    resource: {},
    data: {},
    variable: {},
    output: {},
    module: {},
    provider: {},
    locals: {},
    terraform: [],
  }
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.tf'))
    .sort()) {
    const parsed = (await parse(file, readFileSync(path.join(dir, file), 'utf8'))) as Record<string, any>
    for (const [type, byName] of Object.entries<Record<string, Block[]>>(parsed.resource ?? {})) {
      merged.resource[type] ??= {}
      for (const [name, blocks] of Object.entries(byName)) merged.resource[type][name] = blocks[0]
    }

    for (const [type, byName] of Object.entries<Record<string, Block[]>>(parsed.data ?? {})) {
      merged.data[type] ??= {}
      for (const [name, blocks] of Object.entries(byName)) merged.data[type][name] = blocks[0]
    }

    for (const kind of ['variable', 'output', 'module'] as const) {
      for (const [name, blocks] of Object.entries<Block[]>(parsed[kind] ?? {})) merged[kind][name] = blocks[0]
    }

    for (const [name, blocks] of Object.entries<Block[]>(parsed.provider ?? {}))
      merged.provider[name] = [...(merged.provider[name] ?? []), ...blocks]
    for (const locals of parsed.locals ?? []) Object.assign(merged.locals, locals)
    merged.terraform.push(...(parsed.terraform ?? []))
  }

  return merged
}

/** Evaluates a "${var.a}-x-${var.b}" template with the given variable values; anything else is an error. */
function evaluateTemplate(template: string, vars: Record<string, string>): string {
  return template.replaceAll(/\$\{([^}]+)\}/g, (_, expr: string) => {
    const match = /^var\.([a-z_]+)$/.exec(expr.trim())
    if (!match || !(match[1] in vars)) throw new Error(`cannot evaluate \${${expr}} in "${template}"`)
    return vars[match[1]]
  })
}

const refTo = (value: unknown): string | undefined =>
  typeof value === 'string' ? /^\$\{(.+)\}$/.exec(value)?.[1] : undefined

describe('terraform/', () => {
  let root: Hcl
  let mod: Hcl

  before(async () => {
    root = await loadDir(ROOT_DIR)
    mod = await loadDir(MODULE_DIR)
  })

  it('is formatted (terraform fmt -check -recursive)', function () {
    const probe = spawnSync('terraform', ['version'], {encoding: 'utf8'})
    if (probe.error) this.skip() // terraform is not installed: CI's lint job installs it
    const result = spawnSync('terraform', ['fmt', '-check', '-recursive', '-list=true'], {
      cwd: ROOT_DIR,
      encoding: 'utf8',
    })
    expect(result.stdout.trim(), 'files terraform fmt would rewrite').to.equal('')
    expect(result.status).to.equal(0)
  })

  it('pins terraform and the aws provider in both the root and the module', () => {
    for (const [where, hcl] of [
      ['root', root],
      ['module', mod],
    ] as const) {
      const tf = hcl.terraform.find((b) => b.required_providers)
      expect(tf, `${where} terraform block`).to.exist
      expect(tf!.required_version, `${where} required_version`).to.match(/>=\s*1\.5/)
      const {aws} = tf!.required_providers[0]
      expect(aws.source).to.equal('hashicorp/aws')
      expect(aws.version, `${where} aws provider constraint has an upper bound`).to.match(/</)
    }
  })

  it('gives every variable a type and a description (root and module)', () => {
    for (const [where, hcl] of [
      ['root', root],
      ['module', mod],
    ] as const) {
      expect(Object.keys(hcl.variable), where).to.not.be.empty
      for (const [name, v] of Object.entries(hcl.variable)) {
        expect(v.type, `${where} variable ${name} type`).to.be.a('string').and.not.empty
        expect(v.description, `${where} variable ${name} description`).to.be.a('string').with.length.greaterThan(10)
      }
    }
  })

  it('describes every output', () => {
    for (const [where, hcl] of [
      ['root', root],
      ['module', mod],
    ] as const) {
      for (const [name, o] of Object.entries(hcl.output))
        expect(o.description, `${where} output ${name}`).to.be.a('string').and.not.empty
    }
  })

  it('declares one aliased aws provider per data region, pointed at the LocalStack endpoint variable', () => {
    const providers = root.provider.aws
    expect(providers.map((p) => p.alias)).to.have.members(['primary', 'secondary'])
    for (const p of providers) {
      expect(p.region, `${p.alias} region`).to.equal(`\${var.${p.alias}_region.aws_region}`)
      expect(p.s3_use_path_style, 'path-style S3').to.equal(true)
      expect(p.skip_credentials_validation).to.equal(true)
      expect(p.skip_metadata_api_check).to.equal(true)
      expect(p.skip_requesting_account_id).to.equal(true)
      expect(p.access_key).to.equal('${var.localstack_access_key}')
      expect(p.secret_key).to.equal('${var.localstack_secret_key}')
      const endpoints = p.endpoints[0]
      for (const service of ['s3', 'sqs', 'iam', 'sts'])
        expect(endpoints[service], `${p.alias} ${service} endpoint`).to.equal('${var.localstack_endpoint}')
    }

    expect(root.variable.localstack_endpoint.default).to.equal('http://127.0.0.1:4566')
    expect(root.variable.localstack_secret_key.sensitive).to.equal(true)
  })

  it('creates regional resources only through aliased providers', () => {
    // the root creates nothing itself; each module gets exactly one aliased provider
    expect(root.resource, 'root resources').to.deep.equal({})
    expect(root.data, 'root data sources').to.deep.equal({})
    const aliases = new Set(root.provider.aws.map((p) => `aws.${p.alias}`))
    expect(Object.keys(root.module)).to.have.members(['primary', 'secondary'])
    for (const [name, m] of Object.entries(root.module)) {
      expect(m.source).to.equal('./modules/region')
      expect(Object.keys(m.providers), `module ${name} providers`).to.deep.equal(['aws'])
      const ref = refTo(m.providers.aws)
      expect(aliases.has(ref!), `module ${name} uses an aliased provider (${m.providers.aws})`).to.equal(true)
      expect(ref, `module ${name} uses its own region's provider`).to.equal(`aws.${name}`)
      expect(m.region_name).to.equal(`\${var.${name}_region.name}`)
    }

    // the module never configures a provider of its own, and no resource escapes to another one
    expect(mod.provider, 'provider blocks in modules/region').to.deep.equal({})
    for (const [type, byName] of [...Object.entries(mod.resource), ...Object.entries(mod.data)]) {
      for (const [name, r] of Object.entries(byName)) expect(r.provider, `${type}.${name} provider`).to.equal(undefined)
    }
  })

  it('gives every bucket versioning, encryption, a public access block and a lifecycle', () => {
    const buckets = Object.keys(mod.resource.aws_s3_bucket ?? {})
    expect(buckets).to.not.be.empty
    const attachedTo = (type: string, bucket: string) =>
      Object.values(mod.resource[type] ?? {}).filter((r) => r.bucket === `\${aws_s3_bucket.${bucket}.id}`)
    for (const bucket of buckets) {
      const versioning = attachedTo('aws_s3_bucket_versioning', bucket)
      expect(versioning, `${bucket} versioning`).to.have.length(1)
      expect(versioning[0].versioning_configuration[0].status).to.equal('Enabled')

      const sse = attachedTo('aws_s3_bucket_server_side_encryption_configuration', bucket)
      expect(sse, `${bucket} encryption`).to.have.length(1)
      expect(sse[0].rule[0].apply_server_side_encryption_by_default[0].sse_algorithm).to.be.oneOf(['AES256', 'aws:kms'])

      const pab = attachedTo('aws_s3_bucket_public_access_block', bucket)
      expect(pab, `${bucket} public access block`).to.have.length(1)
      for (const flag of [
        'block_public_acls',
        'block_public_policy',
        'ignore_public_acls',
        'restrict_public_buckets',
      ]) {
        expect(pab[0][flag], `${bucket} ${flag}`).to.equal(true)
      }

      const lifecycle = attachedTo('aws_s3_bucket_lifecycle_configuration', bucket)
      expect(lifecycle, `${bucket} lifecycle`).to.have.length(1)
      expect(lifecycle[0].rule[0].status).to.equal('Enabled')
    }
  })

  it('gives every queue a dead-letter queue with the maxReceiveCount of names.ts', () => {
    const queues = mod.resource.aws_sqs_queue ?? {}
    const redrives = Object.entries(queues).filter(([, q]) => q.redrive_policy)
    const dlqNames = new Set(
      redrives.map(([, q]) => /deadLetterTargetArn\s*=\s*aws_sqs_queue\.([a-z_]+)\.arn/.exec(q.redrive_policy)?.[1]),
    )
    expect(redrives, 'queues with a redrive policy').to.not.be.empty
    for (const [name, q] of Object.entries(queues)) {
      if (dlqNames.has(name)) continue // a DLQ itself needs no DLQ
      expect(q.redrive_policy, `queue ${name} has a redrive policy`).to.be.a('string')
      const target = /deadLetterTargetArn\s*=\s*aws_sqs_queue\.([a-z_]+)\.arn/.exec(q.redrive_policy)?.[1]
      expect(target, `queue ${name} redrives to a queue of this module`).to.be.a('string')
      expect(queues[target!], `DLQ ${target}`).to.exist
      expect(target).to.not.equal(name)
      expect(q.redrive_policy).to.match(/maxReceiveCount\s*=\s*var\.queue_max_receive_count/)
    }

    expect(mod.variable.queue_max_receive_count.default).to.equal(DLQ_MAX_RECEIVE_COUNT)
    expect(root.variable.queue_max_receive_count.default).to.equal(DLQ_MAX_RECEIVE_COUNT)
    for (const m of Object.values(root.module))
      expect(m.queue_max_receive_count).to.equal('${var.queue_max_receive_count}')
    // only the transaction queue may send to the DLQ
    const allow = Object.values(mod.resource.aws_sqs_queue_redrive_allow_policy ?? {})
    expect(allow).to.have.length(dlqNames.size)
  })

  it('computes the same resource names as src/lib/cloud/names.ts', () => {
    const resourceName = (type: string, name: string, attr: string): string => {
      const value = mod.resource[type]?.[name]?.[attr]
      const local = /^\$\{local\.([a-z_]+)\}$/.exec(value ?? '')?.[1]
      expect(local, `${type}.${name}.${attr} comes from a local`).to.be.a('string')
      return mod.locals[local!]
    }

    const templates = {
      auditBucket: resourceName('aws_s3_bucket', 'audit', 'bucket'),
      queue: resourceName('aws_sqs_queue', 'transactions', 'name'),
      deadLetterQueue: resourceName('aws_sqs_queue', 'dead_letter', 'name'),
      replicationRole: resourceName('aws_iam_role', 'replication', 'name'),
    }
    // several prefixes and regions, so a hard-coded name cannot pass by accident
    for (const [prefix, region] of [
      ['atlas', 'us'],
      ['atlas', 'eu'],
      ['acme-x', 'mars'],
    ]) {
      const fromTerraform = Object.fromEntries(
        Object.entries(templates).map(([k, t]) => [k, evaluateTemplate(t, {name_prefix: prefix, region_name: region})]),
      )
      expect(fromTerraform, `${prefix}/${region}`).to.deep.equal(cloudResourceNames(prefix, region))
    }

    // and the root feeds the module the prefix and the config's region names
    const config = parseConfigObject(DEFAULT_CONFIG)
    expect(root.variable.name_prefix.default).to.equal(config.namePrefix)
    for (const m of Object.values(root.module)) expect(m.name_prefix).to.equal('${var.name_prefix}')
  })

  it('defaults its regions to the primary and secondary of the default atlas.yaml', () => {
    const config = parseConfigObject(DEFAULT_CONFIG)
    for (const role of ['primary', 'secondary'] as const) {
      const region = config.regions.find((r) => r.role === role)!
      expect(root.variable[`${role}_region`].default, role).to.deep.equal({
        name: region.name,
        aws_region: region.awsRegion,
      })
    }
  })

  it('replicates the audit buckets both ways between us and eu', () => {
    expect(root.module.primary.replication_destination_bucket_arn).to.equal('${module.secondary.audit_bucket_arn}')
    expect(root.module.secondary.replication_destination_bucket_arn).to.equal('${module.primary.audit_bucket_arn}')
    expect(root.variable.replication_enabled.default).to.equal(true)
    for (const m of Object.values(root.module)) expect(m.replication_enabled).to.equal('${var.replication_enabled}')

    const replication = Object.values(mod.resource.aws_s3_bucket_replication_configuration ?? {})
    expect(replication).to.have.length(1)
    const [rc] = replication
    expect(rc.count).to.equal('${var.replication_enabled ? 1 : 0}')
    expect(rc.bucket).to.equal('${aws_s3_bucket.audit.id}')
    expect(rc.role).to.equal('${aws_iam_role.replication.arn}')
    expect(rc.rule[0].status).to.equal('Enabled')
    expect(rc.rule[0].destination[0].bucket).to.equal('${var.replication_destination_bucket_arn}')
    expect(rc.depends_on, 'replication waits for versioning').to.include('${aws_s3_bucket_versioning.audit}')
    // the peer's ARN is only handed out once its versioning is on (S3 requires it of a destination)
    expect(mod.output.audit_bucket_arn.depends_on).to.include('${aws_s3_bucket_versioning.audit}')
    // the IAM role is assumable by S3 and may write into the destination
    const assume = mod.data.aws_iam_policy_document.replication_assume.statement[0]
    expect(assume.principals[0].identifiers).to.deep.equal(['s3.amazonaws.com'])
    const write = mod.data.aws_iam_policy_document.replication.dynamic.statement[0]
    expect(write.content[0].actions).to.include('s3:ReplicateObject')
    expect(write.content[0].resources).to.deep.equal(['${statement.value}/*'])

    // atlas.yaml's default replication is the same pair of rules
    const config = parseConfigObject(DEFAULT_CONFIG)
    expect(config.cloud.replication).to.have.deep.members([
      {from: 'us', to: 'eu'},
      {from: 'eu', to: 'us'},
    ])
  })

  it('gives the witness nothing: no module, no provider', () => {
    const everything = JSON.stringify({module: root.module, provider: root.provider, variable: root.variable})
    expect(everything).to.not.include('witness')
  })

  it('outputs per-region bucket and queue names, URLs and ARNs for `terraform output -json`', () => {
    const value = root.output.regions.value as Record<string, Record<string, string>>
    const keys = Object.keys(value)
    expect(keys).to.have.members(['${(var.primary_region.name)}', '${(var.secondary_region.name)}'])
    for (const region of Object.values(value)) {
      for (const field of [
        'audit_bucket_name',
        'audit_bucket_arn',
        'queue_url',
        'queue_arn',
        'dead_letter_queue_url',
        'dead_letter_queue_arn',
      ]) {
        expect(region[field], field).to.match(/^\$\{module\.(primary|secondary)\./)
      }
    }
  })

  it('accepts the tfvars Atlas renders: every key is a declared root variable', () => {
    const config = parseConfigObject(DEFAULT_CONFIG)
    const vars = terraformVariables(config, {endpoint: 'http://127.0.0.1:4566'})
    for (const key of Object.keys(vars)) expect(root.variable, `tfvars key ${key}`).to.have.property(key)
    expect(vars.primary_region).to.deep.equal({name: 'us', aws_region: 'us-east-1'})
    expect(vars.secondary_region).to.deep.equal({name: 'eu', aws_region: 'eu-central-1'})
    expect(vars.replication_enabled).to.equal(true)
  })
})

// keep the helper honest: a name expression it cannot evaluate must fail loudly
describe('terraform naming evaluator', () => {
  it('refuses expressions other than plain variables', () => {
    expect(() => evaluateTemplate('${lower(var.name_prefix)}-x', {name_prefix: 'a'})).to.throw(/cannot evaluate/)
  })
})
