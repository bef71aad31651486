import {expect} from 'chai'
import {cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {parse as parseYaml} from 'yaml'

import type {AtlasConfig} from '../../../src/lib/config/schema.js'

import Render from '../../../src/commands/render.js'
import {CONFIG_TEMPLATE, DEFAULT_CONFIG, parseConfigObject} from '../../../src/lib/config/index.js'
import {AtlasError} from '../../../src/lib/errors.js'
import {
  DEFAULT_RENDER_INPUTS,
  readTerraformOutputs,
  type RenderedFile,
  type RenderInputs,
  renderWorld,
  sha256,
  validateK3dConfig,
  validateKubeObject,
  validateRendered,
  writeRendered,
} from '../../../src/lib/gitops/index.js'
import {packagePath} from '../../../src/lib/paths.js'

/**
 * `atlas render`: golden files (test/fixtures/render/golden; regenerate with
 * UPDATE_GOLDEN=1 after an intended change and review the diff), determinism,
 * schema validation and the properties the k3d world depends on.
 */
const GOLDEN_DIR = path.join('test', 'fixtures', 'render', 'golden')
const TF_OUTPUTS = path.join('test', 'fixtures', 'render', 'terraform-outputs.json')
const INPUTS: RenderInputs = {...DEFAULT_RENDER_INPUTS, git: {...DEFAULT_RENDER_INPUTS.git, renderedPath: 'deploy'}}
const defaultConfig = (): AtlasConfig => parseConfigObject(DEFAULT_CONFIG)

const byPath = (files: RenderedFile[], p: string) => {
  const file = files.find((f) => f.path === p)
  if (!file) throw new Error(`not rendered: ${p} (rendered: ${files.map((f) => f.path).join(', ')})`)
  return parseYaml(file.content)
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, {withFileTypes: true})) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) out.push(...(await listFiles(path.join(dir, entry.name), rel)))
    else out.push(rel)
  }

  return out.sort()
}

describe('atlas render', () => {
  let tmp: string

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'atlas-render-'))
  })

  afterEach(async () => {
    await rm(tmp, {recursive: true, force: true})
  })

  it('matches the golden files byte for byte', async () => {
    const files = await renderWorld(defaultConfig(), {...INPUTS, terraform: await readTerraformOutputs(TF_OUTPUTS)})
    if (process.env.UPDATE_GOLDEN === '1') {
      await rm(GOLDEN_DIR, {recursive: true, force: true})
      await writeRendered(files, GOLDEN_DIR)
    }

    expect(files.map((f) => f.path).sort()).to.deep.equal(await listFiles(GOLDEN_DIR))
    for (const file of files) {
      expect(file.content, `${file.path} differs from the golden file (UPDATE_GOLDEN=1 to accept)`).to.equal(
        await readFile(path.join(GOLDEN_DIR, file.path), 'utf8'),
      )
    }
  })

  it('is deterministic: the same input gives byte-identical files and hashes', async () => {
    const config = defaultConfig()
    const first = await renderWorld(config, INPUTS)
    const second = await renderWorld(defaultConfig(), INPUTS)
    expect(second.map((f) => [f.path, f.content])).to.deep.equal(first.map((f) => [f.path, f.content]))
    const a = await writeRendered(first, path.join(tmp, 'a'))
    const b = await writeRendered(second, path.join(tmp, 'b'))
    expect(b).to.deep.equal(a)
    for (const w of a) expect(sha256(await readFile(path.join(tmp, 'a', w.path), 'utf8'))).to.equal(w.sha256)
    // nothing time- or machine-dependent leaks in
    for (const f of first) expect(f.content).to.not.match(/20\d\d-\d\d-\d\dT|\/tmp\/|\/work\//)
  })

  it("validates every rendered Kubernetes object against its schema, and the k3d configs against k3d's", async () => {
    const files = await renderWorld(defaultConfig(), INPUTS)
    const result = await validateRendered(files)
    expect(result).to.deep.equal({objectsValidated: 3, schemaValidation: 'kubernetes-models'})
    const kinds = files.filter((f) => f.kind === 'argocd').map((f) => parseYaml(f.content).kind)
    expect(kinds).to.deep.equal(['AppProject', 'ApplicationSet', 'ApplicationSet'])
    // the validators do reject broken objects
    const appSet = byPath(files, 'argocd/applicationset-cockroachdb.yaml')
    await validateKubeObject(appSet, 'ok')
    await expectRejects(
      () => validateKubeObject({...appSet, spec: {...appSet.spec, generators: {clusters: {}}}}, 'bad'),
      /generators must be array/,
    )
    await expectRejects(
      () => validateKubeObject({apiVersion: 'example.com/v1', kind: 'Thing', metadata: {name: 'x'}}, 'bad'),
      /no schema known/,
    )
    const k3d = byPath(files, 'k3d/dc-us.yaml')
    validateK3dConfig(k3d, 'ok')
    expect(() => validateK3dConfig({...k3d, agent: 1}, 'bad')).to.throw(/Unrecognized key/)
    expect(() => validateK3dConfig({...k3d, kubeAPI: {...k3d.kubeAPI, hostPort: 6550}}, 'bad')).to.throw(
      /kubeAPI.hostPort/,
    )
  })

  it('ApplicationSets select registered clusters by label: one Application per region cluster', async () => {
    const config = defaultConfig()
    const files = await renderWorld(config, INPUTS)
    for (const [file, regions, chart] of [
      ['argocd/applicationset-cockroachdb.yaml', ['us', 'eu', 'witness'], 'cockroachdb'],
      ['argocd/applicationset-ledger.yaml', ['us', 'eu'], 'ledger'],
    ] as const) {
      const appSet = byPath(files, file)
      expect(appSet.spec.goTemplate).to.equal(true)
      expect(appSet.spec.generators).to.have.length(1)
      const generator = appSet.spec.generators[0]
      expect(Object.keys(generator)).to.deep.equal(['clusters'])
      expect(generator.clusters.selector.matchLabels).to.deep.equal({'atlas.dev/world': 'atlas'})
      expect(generator.clusters.selector.matchExpressions).to.deep.equal([
        {key: 'atlas.dev/region', operator: 'In', values: regions},
      ])
      const {spec} = appSet.spec.template
      expect(spec.destination.server).to.equal('{{ .server }}')
      expect(JSON.stringify(appSet)).to.not.include('kubernetes.default.svc')
      expect(appSet.spec.template.metadata.name).to.include('{{ index .metadata.labels "atlas.dev/region" }}')
      const chartSource = spec.sources.find((s: {path?: string}) => s.path)
      expect(chartSource.path).to.equal(`charts/${chart}`)
      // the values file the controller will compute for each selected cluster was rendered
      for (const region of regions) {
        const valueFile = chartSource.helm.valueFiles[0].replace(
          '{{ index .metadata.labels "atlas.dev/region" }}',
          region,
        )
        expect(valueFile).to.equal(`$values/deploy/values/${chart}/${region}.yaml`)
        expect(files.map((f) => f.path)).to.include(valueFile.replace('$values/deploy/', ''))
      }

      expect(spec.sources.find((s: {ref?: string}) => s.ref).ref).to.equal('values')
    }
  })

  it('CockroachDB values: locality, a join list across all clusters, own advertise host, init in exactly one region', async () => {
    const config = defaultConfig()
    const files = await renderWorld(config, INPUTS)
    const values = Object.fromEntries(
      config.regions.map((r) => [r.name, byPath(files, `values/cockroachdb/${r.name}.yaml`)]),
    )
    const join = ['k3d-dc-us-server-0:30257', 'k3d-dc-eu-server-0:30257', 'k3d-dc-witness-server-0:30257']
    for (const region of config.regions) {
      const v = values[region.name]
      expect(v.locality).to.equal(region.locality)
      expect(v.join).to.deep.equal(join)
      expect(v.advertise.host).to.equal(`k3d-dc-${region.name}-server-0`)
      expect(v.clusterName).to.equal('atlas')
      expect(v.tls.enabled).to.equal(true)
      expect(v.tls.requiredSANs).to.include.members([`k3d-dc-${region.name}-server-0`, 'cockroachdb-public'])
    }

    expect(config.regions.filter((r) => values[r.name].init.enabled).map((r) => r.name)).to.deep.equal(['us'])
    expect(values.witness.storage.size).to.equal('1Gi')
    expect(values.us.storage.size).to.equal('2Gi')
  })

  it('k3d configs: one shared network, distinct API ports and pod/service CIDRs, the server name as TLS SAN', async () => {
    const files = await renderWorld(defaultConfig(), INPUTS)
    const configs = ['us', 'eu', 'witness'].map((r) => byPath(files, `k3d/dc-${r}.yaml`))
    expect(new Set(configs.map((c) => c.network))).to.deep.equal(new Set(['atlas']))
    expect(new Set(configs.map((c) => c.kubeAPI.hostPort)).size).to.equal(3)
    const args = configs.map((c) => c.options.k3s.extraArgs.map((a: {arg: string}) => a.arg))
    const cidrs = args.flat().filter((a) => /^--(cluster|service)-cidr=/.test(a))
    expect(cidrs).to.have.length(6)
    expect(new Set(cidrs.map((a) => a.split('=')[1])).size).to.equal(6)
    for (const [i, c] of configs.entries()) expect(args[i]).to.include(`--tls-san=k3d-${c.metadata.name}-server-0`)
    expect(configs.map((c) => c.metadata.name)).to.deep.equal(['dc-us', 'dc-eu', 'dc-witness'])
  })

  it('ledger values come from Terraform outputs when given, else from computed names; the witness has none', async () => {
    const config = defaultConfig()
    const withTf = await renderWorld(config, {...INPUTS, terraform: await readTerraformOutputs(TF_OUTPUTS)})
    // the queue of the outputs, addressed the way pods reach LocalStack (not the host's name for it)
    expect(byPath(withTf, 'values/ledger/eu.yaml').cloud).to.include({
      queueUrl: 'http://atlas-localstack:4566/000000000000/atlas-transactions-eu',
      auditBucket: 'atlas-audit-eu',
    })
    const renamed = await readTerraformOutputs(TF_OUTPUTS)
    renamed.us = {
      queueUrl: 'http://localhost:4566/000000000000/queue-from-terraform',
      auditBucket: 'bucket-from-terraform',
    }
    expect(
      byPath(await renderWorld(config, {...INPUTS, terraform: renamed}), 'values/ledger/us.yaml').cloud,
    ).to.include({
      queueUrl: 'http://atlas-localstack:4566/000000000000/queue-from-terraform',
      auditBucket: 'bucket-from-terraform',
    })
    const computed = await renderWorld(config, INPUTS)
    expect(byPath(computed, 'values/ledger/us.yaml')).to.deep.include({region: 'us', awsRegion: 'us-east-1'})
    expect(byPath(computed, 'values/ledger/us.yaml').cloud).to.include({
      endpoint: 'http://atlas-localstack:4566',
      queueUrl: 'http://atlas-localstack:4566/000000000000/atlas-transactions-us',
      auditBucket: 'atlas-audit-us',
    })
    expect(computed.map((f) => f.path)).to.not.include('values/ledger/witness.yaml')
    // outputs of another configuration (no "eu") are refused rather than half-used
    const tf = await readTerraformOutputs(TF_OUTPUTS)
    delete tf.eu
    await expectRejects(() => renderWorld(config, {...INPUTS, terraform: tf}), /no entry for data region "eu"/)
    await writeFile(path.join(tmp, 'bad.json'), '{"regions": {"value": {"us": {"queue_url": 1}}}}')
    await expectRejects(
      () => readTerraformOutputs(path.join(tmp, 'bad.json')),
      /not the output of `terraform output -json`/,
    )
  })

  it('follows the configured regions and prefix (nothing hard-coded to us/eu/witness)', async () => {
    const config = parseConfigObject({
      namePrefix: 'bank',
      regions: [
        {
          name: 'ap',
          awsRegion: 'ap-southeast-1',
          locality: 'region=ap-southeast-1,zone=ap-southeast-1b',
          role: 'secondary',
        },
        {name: 'sa', awsRegion: 'sa-east-1', role: 'primary'},
        {name: 'tie', awsRegion: 'us-west-2', role: 'witness'},
      ],
    })
    const files = await renderWorld(config, INPUTS)
    expect(files.map((f) => f.path)).to.include.members([
      'values/cockroachdb/ap.yaml',
      'values/ledger/sa.yaml',
      'k3d/dc-tie.yaml',
    ])
    expect(byPath(files, 'values/cockroachdb/sa.yaml').init.enabled).to.equal(true)
    expect(byPath(files, 'values/cockroachdb/ap.yaml').init.enabled).to.equal(false)
    expect(byPath(files, 'values/cockroachdb/sa.yaml').locality).to.equal('region=sa-east-1')
    expect(byPath(files, 'values/ledger/ap.yaml').cloud.auditBucket).to.equal('bank-audit-ap')
    expect(
      byPath(files, 'argocd/applicationset-ledger.yaml').spec.generators[0].clusters.selector.matchExpressions[0]
        .values,
    ).to.deep.equal(['ap', 'sa'])
    expect(byPath(files, 'k3d/dc-ap.yaml').network).to.equal('bank')
    await validateRendered(files)
  })

  it('names the template and the placeholder when a template refers to an unknown value', async () => {
    const templates = path.join(tmp, 'templates')
    await cp(packagePath('templates'), templates, {recursive: true})
    const file = path.join(templates, 'values', 'ledger.yaml')
    await writeFile(file, `${await readFile(file, 'utf8')}extra: \${ledger.queueURL}\n`)
    const error = await expectRejects(
      () => renderWorld(defaultConfig(), INPUTS, templates),
      /templates\/values\/ledger.yaml \(region us\): unknown placeholder \$\{ledger.queueURL\}/,
    )
    expect(error).to.be.instanceOf(AtlasError)
    expect((error as AtlasError).code).to.equal('TEMPLATE_INVALID')
  })

  it('the command writes the files and its --json result lists each with its sha256', async () => {
    const out = path.join(tmp, 'deploy')
    await mkdir(out)
    // the commented default atlas.yaml, so that a stray ./atlas.yaml cannot change the result
    const configFile = path.join(tmp, 'atlas.yaml')
    await writeFile(configFile, CONFIG_TEMPLATE)
    const lines: string[] = []
    const write = process.stdout.write.bind(process.stdout)
    process.stdout.write = ((chunk: string) => {
      lines.push(String(chunk))
      return true
    }) as typeof process.stdout.write
    let result: Awaited<ReturnType<Render['run']>>
    try {
      result = (await Render.run(
        ['--config', configFile, '--out', out, '--terraform-outputs', TF_OUTPUTS, '--json'],
        packagePath(),
      )) as typeof result
    } finally {
      process.stdout.write = write
    }

    const printed = JSON.parse(lines.join(''))
    expect(printed.files).to.have.length(11)
    expect(printed.schemaValidation).to.equal('kubernetes-models')
    for (const f of printed.files) {
      expect(f.sha256).to.match(/^[0-9a-f]{64}$/)
      expect(sha256(await readFile(path.join(out, f.path), 'utf8'))).to.equal(f.sha256)
    }

    expect(await listFiles(out)).to.deep.equal(printed.files.map((f: {path: string}) => f.path).sort())
    // TLS material is referenced by Secret name only
    const all = (
      await Promise.all(printed.files.map((f: {path: string}) => readFile(path.join(out, f.path), 'utf8')))
    ).join('\n')
    expect(all).to.not.match(/BEGIN [A-Z ]*PRIVATE KEY|password|secretAccessKey/i)
    expect(result!.files.map((f) => f.path)).to.deep.equal(printed.files.map((f: {path: string}) => f.path))
  })
})

async function expectRejects(fn: () => Promise<unknown>, pattern: RegExp): Promise<Error> {
  try {
    await fn()
  } catch (error) {
    expect((error as Error).message).to.match(pattern)
    return error as Error
  }

  throw new Error(`expected a rejection matching ${pattern}`)
}
