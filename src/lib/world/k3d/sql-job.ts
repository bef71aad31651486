import {readFile} from 'node:fs/promises'
import {stringify} from 'yaml'

import {ATLAS_NAMESPACE} from '../../gitops/topology.js'
import {packagePath} from '../../paths.js'

/**
 * SQL runs as a Kubernetes Job next to CockroachDB: the database is in secure
 * mode and only the client-root Secret (mounted by the chart's init Job too)
 * may log in as root; the CockroachDB pods themselves carry node certificates
 * only. The script travels in a Secret (it sets the ledger user's password),
 * applied server-side so it stays out of annotations; the Job mirrors the chart's init Job
 * (copy the certificates to a 0400 in-memory volume, non-root, read-only root).
 *
 * The Secret lives no longer than its Job: the Job is created suspended, the
 * Secret is given an ownerReference to it, then the Job is resumed (plan.ts
 * sqlJob). Whatever removes the Job (its TTL, a re-run, `kubectl delete`)
 * removes the Secret with it, and a completed run deletes it at once.
 */
export interface SqlJobSpec {
  clientRootSecret?: string
  host?: string
  image: string
  /** Job and Secret name */
  name: string
  namespace?: string
  /**
   * How often a failed script runs again, each time in a new pod (default 3: the
   * idempotent scripts of `up`). 0: once (restartPolicy Never), for a script that a
   * second run would fail on and whose first error would then be lost.
   */
  retries?: number
  sql: string
}

export const SQL_JOB_TIMEOUT = '300s'
/** The SQL Jobs' ServiceAccount: no API token (they only speak SQL). */
export const SQL_JOB_SERVICE_ACCOUNT = 'atlas-sql'
/** Pod label the cockroachdb chart's NetworkPolicies admit SQL clients by (values networkPolicy.clientLabel). */
const COCKROACH_CLIENT_LABEL = 'atlas.dev/cockroachdb-client'

/** Label that names a SQL Job's own objects (the Job and its script's Secret). */
export const SQL_JOB_LABEL = 'atlas.dev/job'
/** Selects every SQL-Job script Secret atlas made (plan.ts deletes leftovers on each up). */
export const SQL_JOB_SECRET_SELECTOR = `${SQL_JOB_LABEL},app.kubernetes.io/managed-by=atlas`

/** The ownerReference that ties the script's Secret to its Job (uid: the live Job's). */
export function secretOwnerPatch(name: string, uid: string): string {
  return JSON.stringify({
    metadata: {ownerReferences: [{apiVersion: 'batch/v1', kind: 'Job', name, uid, blockOwnerDeletion: true}]},
  })
}

/** The CockroachDB image of charts/cockroachdb (one source for the version). */
export async function cockroachImage(): Promise<string> {
  const {parse} = await import('yaml')
  const values = parse(await readFile(packagePath('charts', 'cockroachdb', 'values.yaml'), 'utf8')) as {
    image: {repository: string; tag: string}
  }
  return `${values.image.repository}:${values.image.tag}`
}

export function sqlJobObjects(spec: SqlJobSpec): object[] {
  const namespace = spec.namespace ?? ATLAS_NAMESPACE
  const labels = {
    'app.kubernetes.io/name': 'atlas-sql',
    'app.kubernetes.io/managed-by': 'atlas',
    [SQL_JOB_LABEL]: spec.name,
  }
  const securityContext = {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ['ALL']}}
  const resources = {requests: {cpu: '10m', memory: '64Mi'}, limits: {cpu: '200m', memory: '256Mi'}}
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: SQL_JOB_SERVICE_ACCOUNT,
        namespace,
        labels: {'app.kubernetes.io/name': 'atlas-sql', 'app.kubernetes.io/managed-by': 'atlas'},
      },
      automountServiceAccountToken: false,
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {name: spec.name, namespace, labels},
      stringData: {'script.sql': spec.sql},
    },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: spec.name,
        namespace,
        labels,
        // scan suppressions (npm run scan), each with its reason
        annotations: {
          'checkov.io/skip1':
            'CKV_K8S_15=IfNotPresent - the CockroachDB image of the chart, pinned by tag, which the nodes already pulled',
          'checkov.io/skip2':
            'CKV_K8S_40=uid 1000 is a fixed non-root uid; runAsNonRoot and Pod Security restricted are enforced, and no host path is mounted',
          'checkov.io/skip3':
            'CKV_K8S_43=pinned by tag (charts/cockroachdb image.tag), the one place the version is set',
        },
      },
      spec: {
        // resumed once its Secret is owned by it (plan.ts sqlJob)
        suspend: true,
        backoffLimit: spec.retries ?? 3,
        // finished (complete or failed), the Job goes after an hour, and its Secret with it
        ttlSecondsAfterFinished: 3600,
        template: {
          metadata: {labels: {...labels, [COCKROACH_CLIENT_LABEL]: 'true'}},
          spec: {
            serviceAccountName: SQL_JOB_SERVICE_ACCOUNT,
            automountServiceAccountToken: false,
            restartPolicy: spec.retries === 0 ? 'Never' : 'OnFailure',
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 1000,
              runAsGroup: 1000,
              fsGroup: 1000,
              seccompProfile: {type: 'RuntimeDefault'},
            },
            initContainers: [
              {
                name: 'copy-certs',
                image: spec.image,
                command: [
                  '/bin/sh',
                  '-ec',
                  'cp /secrets/client/* /cockroach/cockroach-certs/ && chmod 0400 /cockroach/cockroach-certs/*',
                ],
                securityContext,
                resources,
                volumeMounts: [
                  {name: 'client-secret', mountPath: '/secrets/client', readOnly: true},
                  {name: 'certs', mountPath: '/cockroach/cockroach-certs'},
                ],
              },
            ],
            containers: [
              {
                name: 'sql',
                image: spec.image,
                command: [
                  '/cockroach/cockroach',
                  'sql',
                  '--certs-dir=/cockroach/cockroach-certs',
                  `--host=${spec.host ?? 'cockroachdb-public:26257'}`,
                  '--file=/sql/script.sql',
                ],
                securityContext,
                resources,
                volumeMounts: [
                  {name: 'certs', mountPath: '/cockroach/cockroach-certs', readOnly: true},
                  {name: 'sql', mountPath: '/sql', readOnly: true},
                ],
              },
            ],
            volumes: [
              {name: 'certs', emptyDir: {medium: 'Memory'}},
              {
                name: 'client-secret',
                secret: {secretName: spec.clientRootSecret ?? 'cockroachdb-client-root', defaultMode: 0o400},
              },
              {name: 'sql', secret: {secretName: spec.name, defaultMode: 0o400}},
            ],
          },
        },
      },
    },
  ]
}

/** The objects as one multi-document YAML file for `kubectl apply -f`. */
export function sqlJobManifest(spec: SqlJobSpec): string {
  return sqlJobObjects(spec)
    .map((o) => stringify(o, {lineWidth: 0}))
    .join('---\n')
}
