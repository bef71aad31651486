import type {KubeConfig} from '@kubernetes/client-node'

/** Which API server to talk to: a kubeconfig context (k3d writes k3d-dc-REGION). */
export interface KubeTarget {
  context: string
  /** default: $KUBECONFIG or ~/.kube/config */
  kubeconfigPath?: string
}

/** The client library costs ~400 ms to import: only code that talks to Kubernetes loads it. */
export async function kubeClient(): Promise<typeof import('@kubernetes/client-node')> {
  return import('@kubernetes/client-node')
}

export class KubeConfigError extends Error {}

export async function loadKubeConfig(target: KubeTarget): Promise<KubeConfig> {
  const k8s = await kubeClient()
  const kc = new k8s.KubeConfig()
  try {
    if (target.kubeconfigPath) kc.loadFromFile(target.kubeconfigPath)
    else kc.loadFromDefault()
  } catch (error) {
    throw new KubeConfigError(
      `cannot read kubeconfig ${target.kubeconfigPath ?? '(default)'}: ${(error as Error).message}`,
    )
  }

  if (!kc.getContexts().some((c) => c.name === target.context)) {
    throw new KubeConfigError(`kubeconfig ${target.kubeconfigPath ?? '(default)'} has no context "${target.context}"`)
  }

  kc.setCurrentContext(target.context)
  return kc
}
