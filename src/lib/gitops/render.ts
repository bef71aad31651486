import {createHash} from 'node:crypto'
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {AtlasConfig} from '../config/schema.js'

import {AtlasError, ExitCode} from '../errors.js'
import {packagePath} from '../paths.js'
import {regionContext, type RenderInputs, worldContext} from './context.js'
import {renderTemplateDocument, type TemplateContext, TemplateError} from './template.js'
import {k3dClusterName} from './topology.js'
import {schemaValidationAvailable, SchemaValidationError, validateK3dConfig, validateKubeObject} from './validate.js'

export type RenderedKind = 'argocd' | 'helm-values' | 'k3d-config'

export interface RenderedFile {
  content: string
  kind: RenderedKind
  /** relative to the output directory, with forward slashes */
  path: string
  /** the region it belongs to, for per-region files */
  region?: string
  /** the template it came from, relative to templates/ */
  template: string
}

export interface WrittenFile {
  bytes: number
  kind: RenderedKind
  path: string
  region?: string
  sha256: string
}

export interface RenderResult {
  files: WrittenFile[]
  /** Kubernetes objects checked against their schema (0 when the schema packages are not installed) */
  objectsValidated: number
  outDir: string
  schemaValidation: 'kubernetes-models' | 'unavailable'
}

interface TemplateSpec {
  kind: RenderedKind
  output: (region?: string) => string
  scope: 'data-region' | 'region' | 'world'
  template: string
}

/** Every template and where its output goes; the order is the order of the result. */
export const TEMPLATE_SPECS: readonly TemplateSpec[] = [
  {template: 'argocd/appproject.yaml', kind: 'argocd', scope: 'world', output: () => 'argocd/appproject.yaml'},
  {
    template: 'argocd/applicationset-cockroachdb.yaml',
    kind: 'argocd',
    scope: 'world',
    output: () => 'argocd/applicationset-cockroachdb.yaml',
  },
  {
    template: 'argocd/applicationset-ledger.yaml',
    kind: 'argocd',
    scope: 'world',
    output: () => 'argocd/applicationset-ledger.yaml',
  },
  {
    template: 'values/cockroachdb.yaml',
    kind: 'helm-values',
    scope: 'region',
    output: (r) => `values/cockroachdb/${r}.yaml`,
  },
  {template: 'values/ledger.yaml', kind: 'helm-values', scope: 'data-region', output: (r) => `values/ledger/${r}.yaml`},
  {template: 'k3d/cluster.yaml', kind: 'k3d-config', scope: 'region', output: (r) => `k3d/${k3dClusterName(r!)}.yaml`},
]

const HEADER = (template: string) =>
  `# Rendered by \`atlas render\` from templates/${template}. Do not edit; edit the template or atlas.yaml.\n`

/**
 * Renders every template for the configured regions, in memory. Pure: the same
 * config, inputs and templates give byte-identical files (no timestamps, fixed order).
 */
export async function renderWorld(
  config: AtlasConfig,
  inputs: RenderInputs,
  templatesDir = packagePath('templates'),
): Promise<RenderedFile[]> {
  const files: RenderedFile[] = []
  for (const spec of TEMPLATE_SPECS) {
    const text = await readTemplate(templatesDir, spec.template)
    const targets =
      spec.scope === 'world'
        ? [undefined]
        : config.regions.filter((r) => spec.scope === 'region' || r.role !== 'witness').map((r) => r.name)
    for (const regionName of targets) {
      const context: TemplateContext = regionName
        ? regionContext(
            config,
            config.regions.find((r) => r.name === regionName)!,
            inputs,
          )
        : worldContext(config, inputs)
      const where = `templates/${spec.template}${regionName ? ` (region ${regionName})` : ''}`
      let content: string
      try {
        const doc = renderTemplateDocument(text, context, where)
        content = HEADER(spec.template) + doc.toString({lineWidth: 0})
      } catch (error) {
        if (error instanceof TemplateError) throw new AtlasError(error.message, ExitCode.Unexpected, 'TEMPLATE_INVALID')
        throw error
      }

      files.push({path: spec.output(regionName), kind: spec.kind, region: regionName, template: spec.template, content})
    }
  }

  return files
}

/** Validates every rendered object; returns how many Kubernetes objects were checked. */
export async function validateRendered(
  files: RenderedFile[],
): Promise<{objectsValidated: number; schemaValidation: RenderResult['schemaValidation']}> {
  const available = await schemaValidationAvailable()
  let objectsValidated = 0
  const {parseAllDocuments} = await import('yaml')
  for (const file of files) {
    const docs = parseAllDocuments(file.content).map((d) => d.toJS())
    for (const doc of docs) {
      try {
        if (file.kind === 'k3d-config') validateK3dConfig(doc, file.path)
        else if (file.kind === 'argocd' && available) {
          await validateKubeObject(doc, file.path)
          objectsValidated++
        }
      } catch (error) {
        if (error instanceof SchemaValidationError)
          throw new AtlasError(error.message, ExitCode.Unexpected, 'RENDER_INVALID')
        throw error
      }
    }
  }

  return {objectsValidated, schemaValidation: available ? 'kubernetes-models' : 'unavailable'}
}

export function sha256(content: string): string {
  return createHash('sha256').update(content).digest('hex')
}

/** Writes the files under outDir (atomically each: write then rename). */
export async function writeRendered(files: RenderedFile[], outDir: string): Promise<WrittenFile[]> {
  const written: WrittenFile[] = []
  for (const file of files) {
    const target = path.join(outDir, ...file.path.split('/'))
    await mkdir(path.dirname(target), {recursive: true})
    const tmp = `${target}.tmp-${process.pid}`
    await writeFile(tmp, file.content, 'utf8')
    await rename(tmp, target)
    written.push({
      path: file.path,
      kind: file.kind,
      ...(file.region ? {region: file.region} : {}),
      sha256: sha256(file.content),
      bytes: Buffer.byteLength(file.content),
    })
  }

  return written
}

/** render + validate + write: what `atlas render` does. */
export async function renderToDirectory(
  config: AtlasConfig,
  inputs: RenderInputs,
  outDir: string,
  templatesDir?: string,
): Promise<RenderResult> {
  const files = await renderWorld(config, inputs, templatesDir)
  const validation = await validateRendered(files)
  const written = await writeRendered(files, outDir)
  return {outDir, files: written, ...validation}
}

async function readTemplate(templatesDir: string, template: string): Promise<string> {
  try {
    return await readFile(path.join(templatesDir, template), 'utf8')
  } catch (error) {
    throw new AtlasError(
      `template ${template} cannot be read from ${templatesDir}: ${(error as Error).message}`,
      ExitCode.Unexpected,
      'TEMPLATE_MISSING',
    )
  }
}
