/**
 * Schema validation of Kubernetes objects with kubernetes-models (core kinds)
 * and @kubernetes-models/argo-cd (Argo CD kinds), plus a structural schema for
 * k3d's cluster config, which is not a Kubernetes object.
 */
import {z} from 'zod'

export interface KubeObject {
  [key: string]: unknown
  apiVersion: string
  kind: string
  metadata?: {name?: string; namespace?: string}
}

export class SchemaValidationError extends Error {}

type ModelClass = new (data: unknown) => {validate(): void}

const ARGO_GROUP = 'argoproj.io/'

/** The module that holds the model of an apiVersion, e.g. apps/v1 -> kubernetes-models/apps/v1. */
function modelModule(apiVersion: string): string {
  if (apiVersion.startsWith(ARGO_GROUP)) return `@kubernetes-models/argo-cd/${apiVersion}`
  return `kubernetes-models/${apiVersion}`
}

const modelCache = new Map<string, ModelClass | null>()

async function modelFor(apiVersion: string, kind: string): Promise<ModelClass | null> {
  const key = `${apiVersion}/${kind}`
  if (modelCache.has(key)) return modelCache.get(key)!
  let model: ModelClass | null = null
  try {
    // imported lazily: the models are large and only render and tests need them
    const mod = (await import(modelModule(apiVersion))) as Record<string, unknown>
    model = typeof mod[kind] === 'function' ? (mod[kind] as ModelClass) : null
  } catch {
    model = null
  }

  modelCache.set(key, model)
  return model
}

/** Whether the schema packages (dev dependencies) are installed. */
export async function schemaValidationAvailable(): Promise<boolean> {
  return (
    (await modelFor('v1', 'Service')) !== null && (await modelFor('argoproj.io/v1alpha1', 'ApplicationSet')) !== null
  )
}

/** Throws SchemaValidationError naming the object and the first schema violations. */
export async function validateKubeObject(object: unknown, where: string): Promise<void> {
  const obj = object as KubeObject
  if (!obj || typeof obj !== 'object' || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
    throw new SchemaValidationError(`${where}: not a Kubernetes object (apiVersion and kind are required)`)
  }

  const name = `${obj.kind}/${obj.metadata?.name ?? '?'}`
  const model = await modelFor(obj.apiVersion, obj.kind)
  if (!model) throw new SchemaValidationError(`${where}: ${name}: no schema known for ${obj.apiVersion} ${obj.kind}`)
  try {
    new model(obj).validate()
  } catch (error) {
    throw new SchemaValidationError(
      `${where}: ${name} does not match the ${obj.apiVersion} ${obj.kind} schema: ${(error as Error).message}`,
    )
  }
}

const nodeFilters = z.array(z.string().regex(/^(server|agent):(\*|\d+)$|^loadbalancer$|^all$/)).min(1)

/** k3d.io/v1alpha5 Simple: the subset Atlas writes, strict like k3d's own JSON schema. */
export const k3dSimpleConfigSchema = z.strictObject({
  apiVersion: z.literal('k3d.io/v1alpha5'),
  kind: z.literal('Simple'),
  metadata: z.strictObject({name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)}),
  servers: z.number().int().min(1),
  agents: z.number().int().min(0),
  image: z.string().min(1),
  network: z.string().min(1),
  kubeAPI: z.strictObject({
    host: z.string().min(1),
    hostIP: z.ipv4(),
    hostPort: z.string().regex(/^\d{2,5}$/),
  }),
  options: z
    .strictObject({
      k3d: z.strictObject({wait: z.boolean(), timeout: z.string().regex(/^\d+[smh]$/)}).partial(),
      k3s: z
        .strictObject({
          extraArgs: z.array(z.strictObject({arg: z.string().startsWith('--'), nodeFilters})),
          nodeLabels: z.array(z.strictObject({label: z.string().regex(/^[\w./-]+=[\w.-]*$/), nodeFilters})),
        })
        .partial(),
      kubeconfig: z.strictObject({updateDefaultKubeconfig: z.boolean(), switchCurrentContext: z.boolean()}).partial(),
    })
    .partial(),
})

export function validateK3dConfig(object: unknown, where: string): void {
  const result = k3dSimpleConfigSchema.safeParse(object)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw new SchemaValidationError(
      `${where}: not a valid k3d.io/v1alpha5 Simple config: ${issue.path.join('.')}: ${issue.message}`,
    )
  }
}
