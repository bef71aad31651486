import {readdirSync} from 'node:fs'
import path from 'node:path'

import type {AtlasConfig} from '../../config/schema.js'
import type {CommandRunner, RunResult} from '../../tools/runner.js'

import {dataRegions, primaryRegion} from '../../config/regions.js'
import {GIT_CONTAINER, GIT_READY_ARGS, GIT_REPO_URL, gitServeArgs} from '../../gitops/git-source.js'
import {ATLAS_NAMESPACE, k3dTopology, regionTopology} from '../../gitops/topology.js'
import {packagePath} from '../../paths.js'
import {ANSIBLE_ENV, ansiblePlaybookArgs} from '../../tools/ansible.js'
import {TERRAFORM_ENV, terraformArgs, TFVARS_FILE} from '../../tools/terraform.js'
import {argocdHubRegion, DEFAULT_LOCALSTACK_ENDPOINT, LOCALSTACK_CONTAINER} from './ansible-vars.js'
import {applyArgs, networkInspectArgs, writeCorednsCustom} from './dns.js'
import {secretOwnerPatch, SQL_JOB_SECRET_SELECTOR, SQL_JOB_TIMEOUT} from './sql-job.js'

/** Where the k3d world keeps what it renders and its resume state, under the base dir. */
export interface K3dLayout {
  /** the package's ansible/ (ansible.cfg and roles are read from there) */
  ansibleDir: string
  baseDir: string
  /** CockroachDB CA, node and root certificates (ansible/roles/cockroach_certs) */
  certsDir: string
  /** the package's charts/, served to Argo CD with the rendered tree */
  chartsDir: string
  /** the ConfigMap with the cross-cluster hosts every cluster's CoreDNS reads (dns.ts) */
  corednsCustomFile: string
  /** password of the ledger's SQL user (mode 0600), made by the first real up */
  databasePasswordFile: string
  extraVarsFile: string
  k3dDir: string
  logFile: string
  /** ConfigMap + Job that run the multi-region DDL */
  multiRegionJobFile: string
  /** the package root: the ledger image's build context (Dockerfile) */
  packageDir: string
  /** output of the gitops renderer: argocd/, values/, k3d/ */
  renderedDir: string
  runsDir: string
  /** ConfigMap + Job that run the ledger schema (and mint) against CockroachDB */
  schemaJobFile: string
  sqlDir: string
  stateFile: string
  /** staged copy of the package's terraform/ (init writes .terraform and the lock file here) */
  terraformDir: string
  terraformOutputsFile: string
  terraformSourceDir: string
  tfvarsFile: string
}

/**
 * The ledger service's image, as charts/ledger's values name it (a test keeps
 * them equal): built from the package and imported into the data regions'
 * clusters, which cannot pull it from anywhere.
 */
export const LEDGER_IMAGE = 'atlas-ledger:0.1.0'

export function k3dLayout(baseDir: string): K3dLayout {
  const abs = path.resolve(baseDir)
  const k3dDir = path.join(abs, 'k3d')
  const terraformDir = path.join(k3dDir, 'terraform')
  const sqlDir = path.join(k3dDir, 'sql')
  return {
    baseDir: abs,
    k3dDir,
    terraformDir,
    tfvarsFile: path.join(terraformDir, TFVARS_FILE),
    terraformOutputsFile: path.join(k3dDir, 'terraform-outputs.json'),
    extraVarsFile: path.join(k3dDir, 'ansible-extra-vars.json'),
    renderedDir: path.join(k3dDir, 'rendered'),
    sqlDir,
    schemaJobFile: path.join(sqlDir, 'ledger-schema-job.yaml'),
    multiRegionJobFile: path.join(sqlDir, 'multi-region-job.yaml'),
    stateFile: path.join(k3dDir, 'state.json'),
    databasePasswordFile: path.join(k3dDir, 'database-password'),
    certsDir: path.join(k3dDir, 'cockroach-certs'),
    corednsCustomFile: path.join(k3dDir, 'coredns-custom.json'),
    logFile: path.join(k3dDir, 'logs', 'k3d.log'),
    runsDir: path.join(abs, 'runs'),
    ansibleDir: packagePath('ansible'),
    terraformSourceDir: packagePath('terraform'),
    chartsDir: packagePath('charts'),
    packageDir: packagePath(),
  }
}

/** The Terraform files staged into the base dir, relative to terraform/, sorted. */
export function terraformSourceFiles(sourceDir: string): string[] {
  const out: string[] = []
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(sourceDir, rel), {withFileTypes: true}).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const child = rel ? `${rel}/${entry.name}` : entry.name
      if (entry.isDirectory() && !entry.name.startsWith('.')) walk(child)
      else if (entry.isFile() && entry.name.endsWith('.tf')) out.push(child)
    }
  }

  walk('')
  return out
}

export interface CommandSpec {
  after?: (result: RunResult) => Promise<void>
  args: string[]
  cwd: string
  env?: Record<string, string>
  /** file whose content is fed on stdin (shown in the plan; read only when really running) */
  stdinFile?: string
  timeoutMs?: number
  /** a non-zero exit whose output matches this is fine (e.g. "already gone" on down) */
  tolerate?: RegExp
  tool: string
}

export type StepKind = 'check' | 'cleanup' | 'command' | 'render' | 'sql' | 'wait'

export interface K3dStep {
  /** never skipped on resume (cheap checks) */
  always?: boolean
  /** in-process work before the commands (render, doctor); gets dryRun */
  before?: (dryRun: boolean) => Promise<void>
  commands: CommandSpec[]
  /** files the step writes */
  files?: string[]
  /** what to do when this step fails (the error's hint) */
  hint: string
  id: string
  kind: StepKind
  /** the SQL its Job runs, for the plan (credentials redacted) */
  sql?: string[]
  /** cheap read-only check, on resume, that what this completed step made still exists */
  stillDone?: (runner: CommandRunner) => Promise<boolean>
  title: string
  /** on down: run only if this up step ever completed (when the state knows anything) */
  undoes?: string
}

/** LocalStack keeps nothing across a restart: its container must have run since up. */
async function localstackRunning(runner: CommandRunner): Promise<boolean> {
  const result = await runner.run(
    'docker',
    ['container', 'inspect', '--format', '{{.State.Running}}', LOCALSTACK_CONTAINER],
    {reject: false, label: 'is LocalStack running'},
  )
  return result.exitCode === 0 && result.stdout.trim() === 'true'
}

function containerRunning(name: string) {
  return async (runner: CommandRunner): Promise<boolean> => {
    const result = await runner.run('docker', ['container', 'inspect', '--format', '{{.State.Running}}', name], {
      reject: false,
      label: `is ${name} running`,
    })
    return result.exitCode === 0 && result.stdout.trim() === 'true'
  }
}

function clustersRunning(names: string[]) {
  return async (runner: CommandRunner): Promise<boolean> => {
    const result = await runner.run('k3d', ['cluster', 'list', '--output', 'json'], {
      reject: false,
      label: 'are the k3d clusters running',
    })
    if (result.exitCode !== 0) return false
    try {
      const clusters = JSON.parse(result.stdout) as Array<{name: string; serversRunning?: number}>
      return names.every((n) => (clusters.find((c) => c.name === n)?.serversRunning ?? 0) > 0)
    } catch {
      return false
    }
  }
}

const MINUTE = 60_000
const RERUN = 'then run `atlas up --driver k3d` again: completed steps are skipped.'

export interface PlanInputs {
  config: AtlasConfig
  endpoint: string
  layout: K3dLayout
  /** the rendered files (relative to layout.renderedDir), for the plan's file list */
  renderedFiles: string[]
}

export function localstackEndpoint(config: AtlasConfig): string {
  return config.cloud.endpoint ?? DEFAULT_LOCALSTACK_ENDPOINT
}

/** Argo CD Application names the ApplicationSets generate (templates/argocd/*). */
export function applicationNames(config: AtlasConfig): {cockroachdb: string[]; ledger: string[]} {
  return {
    cockroachdb: config.regions.map((r) => `${config.namePrefix}-cockroachdb-${r.name}`),
    ledger: dataRegions(config).map((r) => `${config.namePrefix}-ledger-${r.name}`),
  }
}

function kubectlWait(context: string, names: string[], condition: string, timeout: string): CommandSpec {
  return {
    tool: 'kubectl',
    args: [
      '--context',
      context,
      '--namespace',
      'argocd',
      'wait',
      `--for=${condition}`,
      `--timeout=${timeout}`,
      ...names.map((n) => `applications.argoproj.io/${n}`),
    ],
    cwd: '.',
  }
}

/** Job names of the SQL steps (sql-job.ts). */
export function sqlJobNames(config: AtlasConfig): {multiRegion: string; schema: string} {
  return {schema: `${config.namePrefix}-ledger-schema`, multiRegion: `${config.namePrefix}-ledger-multi-region`}
}

/**
 * Runs a rendered SQL Job in the primary region. Its script (a Secret: it may
 * set a password) lives only as long as the Job: the Job is applied suspended,
 * the Secret gets an ownerReference to it, then the Job is resumed; a completed
 * run deletes the Secret at once, and the garbage collector deletes it with
 * the Job in every other case (the Job's TTL, a re-run, `kubectl delete job`).
 */
export function sqlJob(context: string, name: string, file: string): CommandSpec[] {
  const ns = ['--context', context, '--namespace', ATLAS_NAMESPACE]
  // filled in with the live Job's uid once it exists (the dry-run plan shows the placeholder)
  const ownerPatch = [
    ...ns,
    'patch',
    'secret',
    name,
    '--type=merge',
    '--patch',
    secretOwnerPatch(name, `<uid of job/${name}>`),
  ]
  return [
    // a Job's pod template is immutable: a re-run replaces the old Job, and its Secret goes with it
    {
      tool: 'kubectl',
      args: [...ns, 'delete', 'job', name, '--ignore-not-found', '--cascade=foreground', '--wait=true'],
      cwd: '.',
    },
    // a Secret no Job owns (left by an older atlas, or by a run stopped before the next steps)
    {tool: 'kubectl', args: [...ns, 'delete', 'secret', name, '--ignore-not-found'], cwd: '.'},
    {tool: 'kubectl', args: [...ns, 'apply', '--server-side', '--field-manager=atlas', '--filename', file], cwd: '.'},
    {
      tool: 'kubectl',
      args: [...ns, 'get', 'job', name, '--output', 'jsonpath={.metadata.uid}'],
      cwd: '.',
      async after(result) {
        const uid = result.stdout.trim()
        if (!/^[0-9a-f-]{36}$/.test(uid)) throw new Error(`job/${name} has no uid (got "${uid}")`)
        ownerPatch[ownerPatch.length - 1] = secretOwnerPatch(name, uid)
      },
    },
    {tool: 'kubectl', args: ownerPatch, cwd: '.'},
    {
      tool: 'kubectl',
      args: [...ns, 'patch', 'job', name, '--type=merge', '--patch', '{"spec":{"suspend":false}}'],
      cwd: '.',
    },
    {
      tool: 'kubectl',
      args: [...ns, 'wait', '--for=condition=complete', `--timeout=${SQL_JOB_TIMEOUT}`, `job/${name}`],
      cwd: '.',
      timeoutMs: 6 * MINUTE,
    },
    {tool: 'kubectl', args: [...ns, 'delete', 'secret', name, '--ignore-not-found'], cwd: '.'},
  ]
}

/**
 * The ordered steps of `atlas up` for the k3d world. Ansible runs twice around
 * Terraform because Terraform needs the LocalStack that Ansible starts.
 */
export function upSteps(inputs: PlanInputs): K3dStep[] {
  const {config, layout, endpoint} = inputs
  const topology = k3dTopology(config)
  const hub = regionTopology(topology, argocdHubRegion(config))
  const primary = regionTopology(topology, primaryRegion(config).name)
  const apps = applicationNames(config)
  const jobs = sqlJobNames(config)
  const dataClusters = dataRegions(config).map((r) => regionTopology(topology, r.name).cluster)
  const tf = (args: string[], extra: Partial<CommandSpec> = {}): CommandSpec => ({
    tool: 'terraform',
    args,
    cwd: layout.terraformDir,
    env: {...TERRAFORM_ENV},
    ...extra,
  })
  const playbook = (tags: string[]): CommandSpec => ({
    tool: 'ansible-playbook',
    args: ansiblePlaybookArgs({extraVarsFile: layout.extraVarsFile, tags}),
    cwd: layout.ansibleDir,
    env: {...ANSIBLE_ENV},
    timeoutMs: 30 * MINUTE,
  })
  const argocdFiles = inputs.renderedFiles.filter((f) => f.startsWith('argocd/'))
  // the AppProject first: ApplicationSets refer to it
  argocdFiles.sort((a, b) => Number(b.includes('appproject')) - Number(a.includes('appproject')) || a.localeCompare(b))

  return [
    {
      id: 'doctor',
      title: 'check the tools of the k3d world',
      kind: 'check',
      hint: 'run `atlas doctor` to see what is missing and how to install it, or use `atlas up --driver local`',
      commands: [],
      always: true,
    },
    {
      id: 'render',
      title: 'render Terraform variables, Ansible extra-vars, k3d configs, ApplicationSets and SQL',
      kind: 'render',
      hint: 'fix atlas.yaml (`atlas config` shows the effective values); ' + RERUN,
      commands: [],
      always: true,
      files: [
        ...terraformSourceFiles(layout.terraformSourceDir).map((f) => path.join(layout.terraformDir, ...f.split('/'))),
        layout.tfvarsFile,
        layout.extraVarsFile,
        ...inputs.renderedFiles.map((f) => path.join(layout.renderedDir, ...f.split('/'))),
        layout.schemaJobFile,
        layout.multiRegionJobFile,
      ],
    },
    {
      id: 'ansible-foundation',
      title: 'start the shared Docker network and LocalStack (ansible-playbook --tags foundation)',
      kind: 'command',
      hint: `check that Docker runs and port ${new URL(endpoint).port || '4566'} is free on 127.0.0.1 (\`docker logs ${LOCALSTACK_CONTAINER}\`); ${RERUN}`,
      commands: [playbook(['foundation'])],
      stillDone: localstackRunning,
    },
    {
      id: 'terraform-init',
      title: 'terraform init',
      kind: 'command',
      hint: `terraform must download the hashicorp/aws provider: check internet access or a provider mirror; ${RERUN}`,
      commands: [tf(terraformArgs.init(), {timeoutMs: 10 * MINUTE})],
    },
    {
      id: 'terraform-apply',
      title: 'terraform apply: audit buckets, queues and replication in LocalStack',
      kind: 'command',
      hint: `check that LocalStack answers at ${endpoint}/_localstack/health (\`docker logs ${LOCALSTACK_CONTAINER}\`); ${RERUN}`,
      commands: [tf(terraformArgs.apply(), {timeoutMs: 15 * MINUTE})],
    },
    {
      id: 'terraform-output',
      title: 'read the Terraform outputs',
      kind: 'command',
      hint: `run \`terraform output -json\` in ${layout.terraformDir} to see what is wrong; ${RERUN}`,
      files: [layout.terraformOutputsFile],
      commands: [tf(terraformArgs.outputJson())],
    },
    {
      id: 'ansible-clusters',
      title: `create the k3d clusters ${topology.regions.map((r) => r.cluster).join(', ')}, install Argo CD and register the clusters (ansible-playbook --tags clusters)`,
      kind: 'command',
      hint: `see the Ansible output above; \`k3d cluster list\` shows what exists (\`k3d cluster delete <name>\` removes a broken one); ${RERUN}`,
      commands: [playbook(['clusters'])],
      stillDone: clustersRunning(topology.regions.map((r) => r.cluster)),
    },
    {
      // a SQL Job that never completed, or an up stopped before the resume, leaves
      // its script's Secret (it may hold the atlas user's password): every up
      // deletes such leftovers once the clusters exist, even when it resumes past
      // the SQL steps (`atlas down` deletes the clusters, and them with it)
      id: 'sql-leftovers',
      title: `delete SQL-Job Secrets a stopped or failed up left in ${primary.cluster}`,
      kind: 'cleanup',
      hint: `delete them by hand: kubectl --context ${primary.context} -n ${ATLAS_NAMESPACE} delete secret --selector ${SQL_JOB_SECRET_SELECTOR}; ${RERUN}`,
      always: true,
      commands: [
        {
          tool: 'kubectl',
          args: [
            '--context',
            primary.context,
            '--namespace',
            ATLAS_NAMESPACE,
            'delete',
            'secret',
            '--selector',
            SQL_JOB_SECRET_SELECTOR,
            '--ignore-not-found',
          ],
          cwd: '.',
        },
      ],
    },
    {
      id: 'ledger-image',
      title: `build the ledger image ${LEDGER_IMAGE} and import it into ${dataClusters.join(', ')}`,
      kind: 'command',
      hint: `the image is built from the source checkout (Dockerfile, src/) at ${layout.packageDir}; \`docker exec k3d-${dataClusters[0]}-server-0 crictl images\` lists what a cluster has; ${RERUN}`,
      commands: [
        {
          tool: 'docker',
          args: [
            'build',
            '--tag',
            LEDGER_IMAGE,
            '--file',
            path.join(layout.packageDir, 'Dockerfile'),
            layout.packageDir,
          ],
          cwd: '.',
          timeoutMs: 20 * MINUTE,
        },
        // every data region runs the ledger; k3s cannot pull an image that exists only here
        {
          tool: 'k3d',
          args: ['image', 'import', LEDGER_IMAGE, ...dataClusters.flatMap((c) => ['--cluster', c])],
          cwd: '.',
          timeoutMs: 10 * MINUTE,
        },
      ],
    },
    {
      id: 'git-source',
      title: `serve the rendered tree to Argo CD: git daemon ${GIT_CONTAINER} on the network ${topology.network} (${GIT_REPO_URL})`,
      kind: 'command',
      hint: `\`docker logs ${GIT_CONTAINER}\` says why; ${RERUN}`,
      commands: [
        // a fresh container, fed from what this up rendered
        {tool: 'docker', args: ['rm', '--force', GIT_CONTAINER], cwd: '.', tolerate: GONE},
        {
          tool: 'docker',
          args: gitServeArgs({network: topology.network, chartsDir: layout.chartsDir, renderedDir: layout.renderedDir}),
          cwd: '.',
        },
        {tool: 'docker', args: GIT_READY_ARGS, cwd: '.', timeoutMs: 2 * MINUTE},
      ],
      stillDone: containerRunning(GIT_CONTAINER),
    },
    {
      id: 'cluster-dns',
      title:
        "write every server container's, LocalStack's and the git source's address into each cluster's CoreDNS (coredns-custom)",
      kind: 'command',
      hint: `\`kubectl --context k3d-dc-<region> -n kube-system logs deployment/coredns\` says why; ${RERUN}`,
      files: [layout.corednsCustomFile],
      commands: [
        {
          tool: 'docker',
          args: networkInspectArgs(topology.network),
          cwd: '.',
          after: (result) => writeCorednsCustom(layout.corednsCustomFile, topology, result.stdout),
        },
        ...topology.regions.map((r) => ({
          tool: 'kubectl',
          args: applyArgs(r.context, layout.corednsCustomFile),
          cwd: '.',
        })),
        // CoreDNS reads coredns-custom's server blocks at start; later address changes only touch the hosts file it reloads
        ...topology.regions.map((r) => ({
          tool: 'kubectl',
          args: ['--context', r.context, '--namespace', 'kube-system', 'rollout', 'restart', 'deployment/coredns'],
          cwd: '.',
        })),
        ...topology.regions.map((r) => ({
          tool: 'kubectl',
          args: [
            '--context',
            r.context,
            '--namespace',
            'kube-system',
            'rollout',
            'status',
            'deployment/coredns',
            '--timeout=120s',
          ],
          cwd: '.',
        })),
      ],
    },
    {
      id: 'argocd-apply',
      title: 'apply the AppProject and ApplicationSets',
      kind: 'command',
      hint: `check that Argo CD runs in ${hub.cluster} (\`kubectl --context ${hub.context} -n argocd get pods\`); ${RERUN}`,
      commands: [
        {
          tool: 'kubectl',
          args: [
            '--context',
            hub.context,
            'apply',
            ...argocdFiles.flatMap((f) => ['--filename', path.join(layout.renderedDir, ...f.split('/'))]),
          ],
          cwd: '.',
        },
      ],
    },
    {
      id: 'argocd-applications',
      title: 'wait for Argo CD to generate the Applications',
      kind: 'wait',
      hint: `the ApplicationSet controller did not create them: \`kubectl --context ${hub.context} -n argocd describe applicationsets\`, and check that the cluster Secrets carry atlas.dev/world=${config.namePrefix}; ${RERUN}`,
      commands: [
        kubectlWait(hub.context, [...apps.cockroachdb, ...apps.ledger], 'create', '300s'),
        // read the git source now, not at the next poll: a re-run serves a new commit under the same URL
        {
          tool: 'kubectl',
          args: [
            '--context',
            hub.context,
            '--namespace',
            'argocd',
            'annotate',
            '--overwrite',
            ...[...apps.cockroachdb, ...apps.ledger].map((n) => `applications.argoproj.io/${n}`),
            'argocd.argoproj.io/refresh=hard',
          ],
          cwd: '.',
        },
      ],
    },
    {
      id: 'cockroachdb-synced',
      title: 'wait for the CockroachDB Applications to be Synced and Healthy',
      kind: 'wait',
      hint: `\`kubectl --context ${hub.context} -n argocd get applications\` shows which one is not; its status.conditions say why; ${RERUN}`,
      commands: [
        kubectlWait(hub.context, apps.cockroachdb, 'jsonpath={.status.sync.status}=Synced', '900s'),
        kubectlWait(hub.context, apps.cockroachdb, 'jsonpath={.status.health.status}=Healthy', '900s'),
      ],
    },
    {
      id: 'cockroachdb-ready',
      title: 'wait for CockroachDB to be ready in every region',
      kind: 'wait',
      hint: `a node is not ready: \`kubectl --context k3d-dc-<region> -n ${ATLAS_NAMESPACE} logs statefulset/cockroachdb\`; ${RERUN}`,
      commands: topology.regions.map((r) => ({
        tool: 'kubectl',
        args: [
          '--context',
          r.context,
          '--namespace',
          ATLAS_NAMESPACE,
          'rollout',
          'status',
          'statefulset/cockroachdb',
          '--timeout=600s',
        ],
        cwd: '.',
      })),
    },
    {
      id: 'ledger-schema',
      title: 'create the ledger database and schema, and mint the accounts',
      kind: 'sql',
      hint: `the SQL Job's output says why: kubectl --context ${primary.context} -n ${ATLAS_NAMESPACE} logs job/${jobs.schema} (the Secret cockroachdb-client-root must exist); ${RERUN}`,
      commands: sqlJob(primary.context, jobs.schema, layout.schemaJobFile),
    },
    {
      id: 'multi-region',
      title: `make the ledger database multi-region (${config.regions.length >= 3 ? 'SURVIVE REGION FAILURE' : 'two regions: zone survival only'})`,
      kind: 'sql',
      hint: `kubectl --context ${primary.context} -n ${ATLAS_NAMESPACE} logs job/${jobs.multiRegion} says why; every node must have started with --locality region=… (\`SHOW REGIONS FROM CLUSTER\` lists what CockroachDB sees); ${RERUN}`,
      commands: sqlJob(primary.context, jobs.multiRegion, layout.multiRegionJobFile),
    },
    {
      id: 'ledger-synced',
      title: 'wait for the ledger Applications to be Synced and Healthy',
      kind: 'wait',
      hint: `\`kubectl --context ${hub.context} -n argocd get applications\` shows which one is not; the ledger needs its schema and its queue; ${RERUN}`,
      commands: [
        kubectlWait(hub.context, apps.ledger, 'jsonpath={.status.sync.status}=Synced', '600s'),
        kubectlWait(hub.context, apps.ledger, 'jsonpath={.status.health.status}=Healthy', '600s'),
      ],
    },
  ]
}

const GONE = /no such|not found|No nodes found|does not exist/i

/** `atlas down`: the up steps undone in reverse order. */
export function downSteps(inputs: PlanInputs): K3dStep[] {
  const {config, layout, endpoint} = inputs
  const topology = k3dTopology(config)
  return [
    {
      id: 'doctor',
      title: 'check the tools of the k3d world',
      kind: 'check',
      hint: 'run `atlas doctor` to see what is missing and how to install it',
      commands: [],
      always: true,
    },
    {
      id: 'k3d-delete',
      title: `delete the k3d clusters ${topology.regions.map((r) => r.cluster).join(', ')} (with Argo CD, CockroachDB and the ledger)`,
      kind: 'command',
      hint: 'delete them by hand: `k3d cluster list`, then `k3d cluster delete <name>`; then run `atlas down` again',
      undoes: 'ansible-clusters',
      commands: [
        {
          tool: 'k3d',
          args: ['cluster', 'delete', ...topology.regions.map((r) => r.cluster)],
          cwd: '.',
          tolerate: GONE,
          timeoutMs: 10 * MINUTE,
        },
      ],
    },
    {
      id: 'terraform-destroy',
      title: 'terraform destroy: audit buckets, queues and replication',
      kind: 'command',
      hint: `LocalStack must still answer at ${endpoint} for Terraform to destroy; or skip it with \`docker rm -f ${LOCALSTACK_CONTAINER}\` (LocalStack keeps nothing); then run \`atlas down\` again`,
      undoes: 'terraform-apply',
      commands: [
        {
          tool: 'terraform',
          args: terraformArgs.destroy(),
          cwd: layout.terraformDir,
          env: {...TERRAFORM_ENV},
          timeoutMs: 15 * MINUTE,
        },
      ],
    },
    {
      id: 'git-remove',
      title: `remove the git source ${GIT_CONTAINER}`,
      kind: 'command',
      hint: `remove it by hand: docker rm --force ${GIT_CONTAINER}; then run \`atlas down\` again`,
      undoes: 'git-source',
      commands: [{tool: 'docker', args: ['rm', '--force', GIT_CONTAINER], cwd: '.', tolerate: GONE}],
    },
    {
      id: 'localstack-remove',
      title: 'remove the LocalStack container',
      kind: 'command',
      hint: `remove it by hand: docker rm --force ${LOCALSTACK_CONTAINER}; then run \`atlas down\` again`,
      undoes: 'ansible-foundation',
      commands: [{tool: 'docker', args: ['rm', '--force', LOCALSTACK_CONTAINER], cwd: '.', tolerate: GONE}],
    },
    {
      id: 'network-remove',
      title: `remove the Docker network ${topology.network}`,
      kind: 'command',
      hint: `a container still uses it: \`docker network inspect ${topology.network}\`; then run \`atlas down\` again`,
      undoes: 'ansible-foundation',
      commands: [{tool: 'docker', args: ['network', 'rm', topology.network], cwd: '.', tolerate: GONE}],
    },
    {
      id: 'forget',
      title: 'forget the completed up steps',
      kind: 'cleanup',
      hint: `remove ${layout.stateFile} by hand`,
      commands: [],
      always: true,
    },
  ]
}
