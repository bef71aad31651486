import {Flags} from '@oclif/core'
import path from 'node:path'

import type {RenderResult} from '../lib/gitops/render.js'

import {AtlasCommand} from '../lib/command.js'

export default class Render extends AtlasCommand<typeof Render> {
  static description = `Writes, for the regions of atlas.yaml:
  argocd/            AppProject and ApplicationSets (cluster generator: one Application per registered region cluster)
  values/cockroachdb/REGION.yaml, values/ledger/REGION.yaml   Helm values of charts/cockroachdb and charts/ledger
  k3d/dc-REGION.yaml k3d cluster configs (shared network, distinct pod/service CIDRs)
The same inputs always give byte-identical files. Argo CD objects are checked against their schema
and k3d configs against k3d's; --json lists every file with its sha256.`
  static examples = [
    '<%= config.bin %> render',
    '<%= config.bin %> render --out deploy --terraform-outputs .atlas/terraform-outputs.json --json',
  ]
  static flags = {
    out: Flags.string({summary: 'Directory to write into.', default: 'deploy'}),
    'repo-url': Flags.string({summary: 'Git repository Argo CD reads the charts and rendered values from.'}),
    revision: Flags.string({summary: 'Git revision Argo CD tracks.', default: 'HEAD'}),
    'rendered-path': Flags.string({
      summary:
        'Path of the output directory inside that repository (default: --out relative to the current directory).',
    }),
    'terraform-outputs': Flags.string({
      summary: 'JSON of `terraform output -json` (queue URLs, buckets); default: names computed from atlas.yaml.',
    }),
    'cloud-endpoint': Flags.string({summary: 'S3/SQS endpoint as seen from inside the clusters.'}),
  }
  static summary = 'Render the Argo CD ApplicationSets, per-region Helm values and k3d cluster configs from templates/.'

  async run(): Promise<RenderResult> {
    const config = await this.atlasConfig()
    const {DEFAULT_RENDER_INPUTS, renderToDirectory, readTerraformOutputs} = await import('../lib/gitops/index.js')
    const outDir = path.resolve(this.flags.out)
    const terraform = this.flags['terraform-outputs']
      ? await readTerraformOutputs(this.flags['terraform-outputs'])
      : undefined
    const result = await renderToDirectory(
      config,
      {
        ...DEFAULT_RENDER_INPUTS,
        git: {
          repoURL: this.flags['repo-url'] ?? DEFAULT_RENDER_INPUTS.git.repoURL,
          revision: this.flags.revision,
          renderedPath: this.flags['rendered-path'] ?? defaultRenderedPath(outDir),
        },
        terraform,
        cloudEndpointInCluster: this.flags['cloud-endpoint'] ?? DEFAULT_RENDER_INPUTS.cloudEndpointInCluster,
      },
      outDir,
    )
    for (const file of result.files)
      this.print(`${file.sha256.slice(0, 12)}  ${path.join(path.relative(process.cwd(), outDir) || '.', file.path)}`)
    this.print(
      result.schemaValidation === 'kubernetes-models'
        ? `${result.files.length} files; ${result.objectsValidated} Argo CD objects match their schema`
        : `${result.files.length} files; schema packages not installed, Argo CD objects not schema-checked`,
    )
    return result
  }
}

/** The output directory relative to the current directory (the repository root), with forward slashes. */
function defaultRenderedPath(outDir: string): string {
  const rel = path.relative(process.cwd(), outDir)
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : 'deploy'
}
