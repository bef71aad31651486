// Golden tests of the k3d world's dry-run plans. A plan is what a user with
// Docker would see run, so any change to it must be deliberate: regenerate the
// fixtures with UPDATE_GOLDEN=1 and review the diff.
import {expect} from 'chai'
import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {parse as parseYaml} from 'yaml'

import {DEFAULT_CONFIG} from '../../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../../src/lib/config/load.js'
import {PACKAGE_ROOT} from '../../../../src/lib/paths.js'
import {ansibleExtraVars} from '../../../../src/lib/world/k3d/ansible-vars.js'
import {multiRegionStatements} from '../../../../src/lib/world/k3d/ddl.js'
import {type K3dPlan, K3dWorld} from '../../../../src/lib/world/k3d/index.js'
import {ledgerSchemaSql} from '../../../../src/lib/world/k3d/render.js'
import {emptyDir, FIXTURES, removeTempDirs, withEnv} from '../../../fixtures/k3d/stubs.js'

const defaults = () => parseConfigObject(DEFAULT_CONFIG)

function golden(name: string, actual: unknown): void {
  const file = path.join(FIXTURES, name)
  const text = `${JSON.stringify(actual, null, 2)}\n`
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text)
  expect(JSON.parse(text), `${name} (UPDATE_GOLDEN=1 regenerates it)`).to.deep.equal(
    JSON.parse(readFileSync(file, 'utf8')),
  )
}

describe('k3d world dry-run plans', () => {
  let restore: () => void
  let baseDir: string

  beforeEach(() => {
    // no tool at all: the plan must still be exact, and the missing tools listed
    restore = withEnv({PATH: emptyDir('atlas-nopath-'), ATLAS_TOOL_DIRS: ''})
    baseDir = emptyDir('atlas-k3d-base-')
  })

  afterEach(() => restore())

  it('up: matches test/fixtures/k3d/up-plan.json', async () => {
    const plan = await new K3dWorld(defaults(), {baseDir}).plan('up')
    golden('up-plan.json', plan)
  })

  it('down: matches test/fixtures/k3d/down-plan.json', async () => {
    const plan = await new K3dWorld(defaults(), {baseDir}).plan('down')
    golden('down-plan.json', plan)
  })

  it('up --dry-run returns the same plan as data, writes nothing and warns about missing tools', async () => {
    const infos: string[] = []
    const progress = {step: () => () => {}, info: (m: string) => void infos.push(m)}
    const result = await new K3dWorld(defaults(), {baseDir}).up({dryRun: true, progress})
    expect(result.dryRun).to.equal(true)
    expect(result.started).to.equal(false)
    expect(readdirSync(baseDir), 'files in the base dir after a dry run').to.deep.equal([])
    expect(result.missingTools).to.deep.equal(['ansible-playbook', 'docker', 'helm', 'k3d', 'kubectl', 'terraform'])
    expect(infos.join('\n')).to.match(/not found or not usable here: .*docker/)
    const fixture = JSON.parse(readFileSync(path.join(FIXTURES, 'up-plan.json'), 'utf8')) as K3dPlan
    expect(result.steps).to.deep.equal(fixture.steps)
    expect(result.plan).to.deep.equal(fixture.commands)
  })

  it('deletes SQL-Job Secrets a stopped or failed up left, on every up, once the clusters exist', async () => {
    const {upSteps, k3dLayout} = await import('../../../../src/lib/world/k3d/plan.js')
    const {sqlJobObjects} = await import('../../../../src/lib/world/k3d/sql-job.js')
    const steps = upSteps({
      config: defaults(),
      layout: k3dLayout(baseDir),
      endpoint: 'http://127.0.0.1:4566',
      renderedFiles: [],
    })
    const ids = steps.map((s) => s.id)
    const step = steps.find((s) => s.id === 'sql-leftovers')!
    // even when a resumed up skips everything up to the SQL steps
    expect(step.always).to.equal(true)
    expect(ids.indexOf('sql-leftovers')).to.equal(ids.indexOf('ansible-clusters') + 1)
    expect(ids.indexOf('sql-leftovers')).to.be.lessThan(ids.indexOf('ledger-schema'))
    expect(step.commands.map((c) => [c.tool, ...c.args].join(' '))).to.deep.equal([
      'kubectl --context k3d-dc-us --namespace atlas delete secret --selector atlas.dev/job,app.kubernetes.io/managed-by=atlas --ignore-not-found',
    ])
    // the selector picks the script Secret of a SQL Job, and nothing else atlas applies
    const [serviceAccount, secret, job] = sqlJobObjects({name: 'atlas-ledger-schema', sql: '', image: 'i'}) as Array<{
      kind: string
      metadata: {labels: Record<string, string>}
    }>
    const selected = (o: {metadata: {labels: Record<string, string>}}) =>
      'atlas.dev/job' in o.metadata.labels && o.metadata.labels['app.kubernetes.io/managed-by'] === 'atlas'
    expect(secret.kind).to.equal('Secret')
    expect(selected(secret)).to.equal(true)
    expect(selected(serviceAccount)).to.equal(false)
    expect(job.kind).to.equal('Job')
  })

  it('is deterministic and free of machine paths', async () => {
    const other = emptyDir('atlas-k3d-other-')
    const a = JSON.stringify(await new K3dWorld(defaults(), {baseDir}).plan('up'))
    const b = JSON.stringify(await new K3dWorld(defaults(), {baseDir: other}).plan('up'))
    expect(a).to.equal(b)
    expect(a).to.not.include(baseDir)
    expect(a).to.not.include(PACKAGE_ROOT)
    expect(a).to.not.match(/\/tmp\//)
    expect(a).to.not.match(/\d{4}-\d{2}-\d{2}T\d{2}:/)
  })

  it('orders up as doctor, render, foundation, terraform, clusters, ApplicationSets, waits, schema, multi-region DDL', async () => {
    const plan = await new K3dWorld(defaults(), {baseDir}).plan('up')
    expect(plan.steps.map((s) => s.id)).to.deep.equal([
      'doctor',
      'render',
      'ansible-foundation',
      'terraform-init',
      'terraform-apply',
      'terraform-output',
      'ansible-clusters',
      'sql-leftovers',
      'ledger-image',
      'git-source',
      'cluster-dns',
      'argocd-apply',
      'argocd-applications',
      'cockroachdb-synced',
      'cockroachdb-ready',
      'ledger-schema',
      'multi-region',
      'ledger-synced',
    ])
    // every command step says where it runs
    for (const command of plan.commands) expect(command.cwd, command.argv.join(' ')).to.be.a('string').and.not.empty
    const render = plan.steps.find((s) => s.id === 'render')!
    expect(render.files).to.include.members([
      '<base>/k3d/terraform/atlas.auto.tfvars.json',
      '<base>/k3d/ansible-extra-vars.json',
      '<base>/k3d/rendered/k3d/dc-us.yaml',
      '<base>/k3d/rendered/k3d/dc-eu.yaml',
      '<base>/k3d/rendered/k3d/dc-witness.yaml',
      '<base>/k3d/rendered/argocd/applicationset-cockroachdb.yaml',
      '<base>/k3d/terraform/modules/region/main.tf',
    ])
  })

  it('down undoes up in reverse: clusters, then Terraform (while LocalStack still runs), then LocalStack and the network', async () => {
    const plan = await new K3dWorld(defaults(), {baseDir}).plan('down')
    expect(plan.commands.map((c) => c.argv.slice(0, 3).join(' '))).to.deep.equal([
      'k3d cluster delete',
      'terraform destroy -input=false',
      'docker rm --force',
      'docker rm --force',
      'docker network rm',
    ])
  })
})

describe('k3d world: what the clusters need from the host', () => {
  let restore: () => void
  let baseDir: string

  beforeEach(() => {
    restore = withEnv({PATH: emptyDir('atlas-nopath-'), ATLAS_TOOL_DIRS: ''})
    baseDir = emptyDir('atlas-k3d-base-')
  })

  afterEach(() => restore())
  const step = (plan: K3dPlan, id: string) => plan.steps.find((s) => s.id === id)!
  const argv = (plan: K3dPlan, id: string) => step(plan, id).commands.map((c) => c.argv.join(' '))

  it("builds the ledger image the chart names and imports it into every data region's cluster", async () => {
    const {LEDGER_IMAGE} = await import('../../../../src/lib/world/k3d/plan.js')
    const values = parseYaml(readFileSync(path.join(PACKAGE_ROOT, 'charts', 'ledger', 'values.yaml'), 'utf8')) as {
      image: {repository: string; tag: string}
    }
    expect(LEDGER_IMAGE).to.equal(`${values.image.repository}:${values.image.tag}`)
    const plan = await new K3dWorld(defaults(), {baseDir}).plan('up')
    expect(argv(plan, 'ledger-image')).to.deep.equal([
      `docker build --tag ${LEDGER_IMAGE} --file <package>/Dockerfile <package>`,
      `k3d image import ${LEDGER_IMAGE} --cluster dc-us --cluster dc-eu`,
    ])
    const ids = plan.steps.map((s) => s.id)
    // after the clusters exist, before Argo CD deploys the ledger
    expect(ids.indexOf('ledger-image'))
      .to.be.greaterThan(ids.indexOf('ansible-clusters'))
      .and.lessThan(ids.indexOf('ledger-synced'))
  })

  it("serves Argo CD the charts and this up's rendered tree, at the URL the rendered ApplicationSets name", async () => {
    const {GIT_REPO_URL} = await import('../../../../src/lib/gitops/git-source.js')
    const world = new K3dWorld(defaults(), {baseDir})
    const plan = await world.plan('up')
    const [rm, run, ready] = argv(plan, 'git-source')
    expect(rm).to.equal('docker rm --force atlas-git')
    expect(run).to.include('docker run --detach --name atlas-git --network atlas --restart unless-stopped')
    expect(run).to.include('--volume <package>/charts:/src/charts:ro --volume <base>/k3d/rendered:/src/deploy:ro')
    expect(run).to.match(/git daemon --reuseaddr --export-all --base-path=\/srv --port=9418 \/srv$/)
    // Alpine packages `git daemon` apart from git (git-daemon): an image with git alone cannot serve
    expect(run).to.include(' alpine:3.21 -ec ')
    expect(run).to.include(
      '-ec { [ -x "$(git --exec-path 2>/dev/null)/git-daemon" ] || apk add --no-cache --quiet git git-daemon; } && ',
    )
    expect(ready).to.include('git ls-remote git://127.0.0.1/atlas HEAD')
    const {renderK3d} = await import('../../../../src/lib/world/k3d/render.js')
    const rendered = await renderK3d(defaults(), world.layout, 'http://127.0.0.1:4566')
    for (const file of rendered.gitops.filter((f) => f.path.startsWith('argocd/'))) {
      const urls = [...file.content.matchAll(/(?:repoURL:|^\s+-) (\S+:\/\/\S+)/gm)].map((m) => m[1])
      expect(urls.length, file.path).to.be.greaterThan(0)
      expect(new Set(urls), file.path).to.deep.equal(new Set([GIT_REPO_URL]))
    }

    // the ApplicationSets read the values below deploy/, which is where the rendered tree is mounted
    expect(rendered.gitops.find((f) => f.path === 'argocd/applicationset-ledger.yaml')!.content).to.include(
      "'$values/deploy/values/ledger/",
    )
    const ids = plan.steps.map((s) => s.id)
    expect(ids.indexOf('git-source')).to.be.lessThan(ids.indexOf('argocd-apply'))
    // once the Applications exist, Argo CD reads the (possibly new) commit at once
    expect(argv(plan, 'argocd-applications')[1]).to.match(
      /^kubectl --context k3d-dc-witness --namespace argocd annotate --overwrite applications\.argoproj\.io\/atlas-cockroachdb-us .* argocd\.argoproj\.io\/refresh=hard$/,
    )
    expect((await world.plan('down')).steps.find((s) => s.id === 'git-remove')!.commands[0].argv.join(' ')).to.equal(
      'docker rm --force atlas-git',
    )
  })

  it("writes the cross-cluster hosts into every cluster's CoreDNS after all clusters exist", async () => {
    const plan = await new K3dWorld(defaults(), {baseDir}).plan('up')
    const ids = plan.steps.map((s) => s.id)
    expect(ids.indexOf('cluster-dns'))
      .to.be.greaterThan(ids.indexOf('ansible-clusters'))
      .and.greaterThan(ids.indexOf('git-source'))
      .and.lessThan(ids.indexOf('argocd-apply'))
    const commands = argv(plan, 'cluster-dns')
    expect(commands[0]).to.equal('docker network inspect --format {{json .Containers}} atlas')
    for (const cluster of ['dc-us', 'dc-eu', 'dc-witness']) {
      expect(commands).to.include(
        `kubectl --context k3d-${cluster} apply --request-timeout=10s --filename <base>/k3d/coredns-custom.json`,
      )
      expect(commands).to.include(
        `kubectl --context k3d-${cluster} --namespace kube-system rollout restart deployment/coredns`,
      )
    }

    expect(step(plan, 'cluster-dns').files).to.deep.equal(['<base>/k3d/coredns-custom.json'])
  })
})

describe('k3d world rendered inputs', () => {
  it('uses SURVIVE REGION FAILURE only with three regions', () => {
    const three = multiRegionStatements(defaults())
    expect(three).to.deep.equal([
      'ALTER DATABASE "ledger" PRIMARY REGION "us-east-1";',
      'ALTER DATABASE "ledger" ADD REGION IF NOT EXISTS "eu-central-1";',
      'ALTER DATABASE "ledger" ADD REGION IF NOT EXISTS "us-west-2";',
      'ALTER DATABASE "ledger" SURVIVE REGION FAILURE;',
    ])
    const two = parseConfigObject({
      ...DEFAULT_CONFIG,
      regions: DEFAULT_CONFIG.regions.filter((r) => r.role !== 'witness'),
    })
    const statements = multiRegionStatements(two).join('\n')
    expect(statements).to.not.include('SURVIVE REGION FAILURE')
    expect(statements).to.include('SURVIVE ZONE FAILURE')
  })

  it('renders the ledger schema from the ledger migrations, creating the database first and minting last', () => {
    const sql = ledgerSchemaSql(defaults())
    expect(sql.indexOf('CREATE DATABASE IF NOT EXISTS "ledger"')).to.be.lessThan(
      sql.indexOf('CREATE TABLE IF NOT EXISTS accounts'),
    )
    expect(sql).to.include('accounts_balance_not_negative')
    expect(sql).to.match(/INSERT INTO atlas_schema_migrations \(version, name\) VALUES \(1, '/)
    // 100 accounts x 100000 minted once, into an empty ledger only
    expect(sql).to.include('VALUES (1, 100, 100000, 10000000, false) ON CONFLICT (id) DO NOTHING;')
    expect(sql).to.match(
      /BEGIN;\nINSERT INTO ledger_mint .*\nINSERT INTO accounts .* WHERE NOT EXISTS \(SELECT 1 FROM accounts\);\nCOMMIT;\n/,
    )
    // the user charts/ledger connects as, with its tables (values: database.user)
    const ledgerValues = readFileSync(path.join(PACKAGE_ROOT, 'templates', 'values', 'ledger.yaml'), 'utf8')
    const serviceUser = /^\s+user: (\S+)$/m.exec(ledgerValues)?.[1]
    expect(serviceUser).to.equal('ledger')
    expect(sql).to.include(`CREATE USER IF NOT EXISTS "${serviceUser}";`)
    // least privilege: what an earlier atlas granted (ALL) is revoked, then exactly what a ledger client needs
    const grantsOf = (text: string, user: string) =>
      text.split('\n').filter((l) => /^(GRANT|REVOKE) /.test(l) && l.endsWith(` "${user}";`))
    const expected = (user: string) => [
      `REVOKE ALL ON DATABASE "ledger" FROM "${user}";`,
      `REVOKE ALL ON TABLE "ledger".* FROM "${user}";`,
      `GRANT CONNECT ON DATABASE "ledger" TO "${user}";`,
      `GRANT SELECT, INSERT ON TABLE "ledger".transfers TO "${user}";`,
      `GRANT SELECT, UPDATE ON TABLE "ledger".accounts TO "${user}";`,
      `GRANT SELECT ON TABLE "ledger".ledger_mint, "ledger".atlas_schema_migrations TO "${user}";`,
    ]
    expect(grantsOf(sql, serviceUser!)).to.deep.equal(expected(serviceUser!))
    expect(sql).to.not.match(/GRANT ALL|GRANT admin|DELETE|GRANT CREATE|DROP ON/)
    // atlas verify's user reads the three tables verify checks, and nothing else (no password: its client certificate)
    expect(sql).to.include('CREATE USER IF NOT EXISTS "atlas_verify";')
    expect(grantsOf(sql, 'atlas_verify')).to.deep.equal([
      'REVOKE ALL ON DATABASE "ledger" FROM "atlas_verify";',
      'REVOKE ALL ON TABLE "ledger".* FROM "atlas_verify";',
      'GRANT CONNECT ON DATABASE "ledger" TO "atlas_verify";',
      'GRANT SELECT ON TABLE "ledger".accounts, "ledger".transfers, "ledger".ledger_mint TO "atlas_verify";',
    ])
    expect(sql.indexOf('GRANT SELECT ON TABLE "ledger".accounts')).to.be.greaterThan(
      sql.indexOf('CREATE TABLE IF NOT EXISTS ledger_mint'),
    )
    // and nothing through the public role every user belongs to: no table of their own, no other database
    const publicRevokes = sql.split('\n').filter((l) => /^(GRANT|REVOKE) .* (TO|FROM) public;$/.test(l))
    expect(publicRevokes).to.deep.equal([
      'REVOKE CREATE ON SCHEMA "ledger".public FROM public;',
      'REVOKE CONNECT ON DATABASE "ledger", defaultdb, postgres FROM public;',
    ])
    // after the database exists, before the users get their own CONNECT back
    expect(sql.indexOf('REVOKE CONNECT ON DATABASE')).to.be.greaterThan(
      sql.indexOf('CREATE DATABASE IF NOT EXISTS "ledger";'),
    )
    expect(sql.indexOf('REVOKE CONNECT ON DATABASE')).to.be.lessThan(
      sql.indexOf('GRANT CONNECT ON DATABASE "ledger" TO'),
    )
    // granted after the tables exist (a table grant needs its table)
    expect(sql.indexOf('GRANT SELECT, INSERT ON TABLE')).to.be.greaterThan(
      sql.indexOf('CREATE TABLE IF NOT EXISTS transfers'),
    )
    const withUser = ledgerSchemaSql(defaults(), {password: "pa'ss"})
    expect(withUser).to.include(`CREATE USER IF NOT EXISTS "atlas" WITH PASSWORD 'pa''ss';`)
    // the atlas user (workload and verify) is no admin: the membership an earlier atlas granted is taken back
    expect(withUser).to.not.include('GRANT admin')
    expect(grantsOf(withUser, 'atlas')).to.deep.equal(['REVOKE admin FROM "atlas";', ...expected('atlas')])
  })

  it('passes Ansible only variables its inventory declares, with distinct CIDRs and the rendered k3d configs', () => {
    const declared = parseYaml(
      readFileSync(path.join(PACKAGE_ROOT, 'ansible', 'inventory', 'group_vars', 'all.yml'), 'utf8'),
    ) as Record<string, unknown>
    const vars = ansibleExtraVars(defaults(), {renderedDir: '/r', stateDir: '/s', endpoint: 'http://127.0.0.1:4566'})
    expect(Object.keys(vars).sort()).to.deep.equal(Object.keys(declared).sort())
    const cidrs = vars.atlas_clusters.flatMap((c) => [c.pod_cidr, c.service_cidr])
    expect(new Set(cidrs).size).to.equal(cidrs.length)
    expect(vars.atlas_clusters.map((c) => c.config)).to.deep.equal([
      '/r/k3d/dc-us.yaml',
      '/r/k3d/dc-eu.yaml',
      '/r/k3d/dc-witness.yaml',
    ])
    // the inventory defaults describe the same clusters as the topology Atlas renders
    const defaultsClusters = declared.atlas_clusters as Array<Record<string, unknown>>
    expect(defaultsClusters.map((c) => [c.name, c.region, c.role, c.pod_cidr, c.service_cidr])).to.deep.equal(
      vars.atlas_clusters.map((c) => [c.name, c.region, c.role, c.pod_cidr, c.service_cidr]),
    )
    expect(vars.atlas_argocd_cluster).to.equal('dc-witness')
    expect(vars.atlas_localstack_port).to.equal(4566)
  })
})

describe('k3d plan text', () => {
  it('shows every step with its commands, working directories, stdin files and rendered files', async () => {
    const {formatPlan} = await import('../../../../src/lib/world/plan-format.js')
    const restore = withEnv({PATH: emptyDir('atlas-nopath-'), ATLAS_TOOL_DIRS: ''})
    try {
      const plan = await new K3dWorld(defaults(), {baseDir: emptyDir('atlas-k3d-base-')}).plan('up')
      const text = formatPlan({steps: plan.steps, planLegend: {'<base>': '/home/me/.atlas', '<package>': '/opt/atlas'}})
      expect(text.split('\n')[0]).to.equal('<base> = /home/me/.atlas')
      expect(text).to.include('5. terraform apply')
      expect(text).to.include(
        '     $ terraform apply -input=false -auto-approve -no-color\n       in <base>/k3d/terraform',
      )
      expect(text).to.include(
        '     $ kubectl --context k3d-dc-us --namespace atlas apply --server-side --field-manager=atlas --filename <base>/k3d/sql/multi-region-job.yaml\n       in .',
      )
      expect(text).to.include('     writes <base>/k3d/rendered/k3d/dc-witness.yaml')
      expect(text.match(/^\s+\$ /gm)).to.have.length(plan.commands.length)
    } finally {
      restore()
    }
  })
})

describe('k3d world convergence', () => {
  const member = (region: string, alive = true) => ({
    region,
    name: 'cockroachdb-0',
    group: 'cockroachdb',
    alive,
    reachable: alive,
    role: 'follower' as const,
    term: null,
    lag: null,
  })
  const health = (
    members: ReturnType<typeof member>[],
    ranges: {unavailable: null | number; under: null | number},
  ) => ({
    at: '2026-01-01T00:00:00.000Z',
    groups: [
      {
        group: 'cockroachdb',
        members,
        votersAlive: members.filter((m) => m.alive).length,
        voters: members.length,
        quorumHeld: members.filter((m) => m.alive).length >= 2,
        leaderRegion: 'us',
        term: null,
        unavailableRanges: ranges.unavailable,
        underReplicatedRanges: ranges.under,
      },
    ],
    quorumHeld: members.filter((m) => m.alive).length >= 2,
    leaderRegion: 'us',
    writable: true,
    unreachableRegions: members.filter((m) => !m.reachable).map((m) => m.region),
  })
  const all = () => [member('us'), member('eu'), member('witness')]

  it('is converged only with every node alive and no unavailable or under-replicated range', () => {
    expect(K3dWorld.isConverged(health(all(), {unavailable: 0, under: 0}))).to.equal(true)
    expect(
      K3dWorld.isConverged(health([member('us', false), member('eu'), member('witness')], {unavailable: 0, under: 0})),
    ).to.equal(false)
    expect(K3dWorld.isConverged(health(all(), {unavailable: 0, under: 3}))).to.equal(false)
    expect(K3dWorld.isConverged(health(all(), {unavailable: 1, under: 0}))).to.equal(false)
    expect(K3dWorld.isConverged({...health(all(), {unavailable: 0, under: 0}), groups: []})).to.equal(false)
  })
})

describe('k3d SQL Jobs', () => {
  it('are valid Kubernetes objects that run the script with the client-root certificates', async () => {
    const {sqlJobObjects, cockroachImage} = await import('../../../../src/lib/world/k3d/sql-job.js')
    const {validateKubeObject, schemaValidationAvailable} = await import('../../../../src/lib/gitops/index.js')
    const image = await cockroachImage()
    expect(image).to.match(/^cockroachdb\/cockroach:v\d+\.\d+\.\d+$/)
    const sql = multiRegionStatements(defaults()).join('\n')
    const [account, script, job] = sqlJobObjects({name: 'atlas-ledger-multi-region', sql, image}) as any[]
    if (await schemaValidationAvailable()) {
      await validateKubeObject(account, 'serviceaccount')
      await validateKubeObject(script, 'secret')
      await validateKubeObject(job, 'job')
    }

    // its own ServiceAccount, no API token; a SQL client in the NetworkPolicies' eyes
    expect(account).to.deep.include({kind: 'ServiceAccount', automountServiceAccountToken: false})
    expect(job.spec.template.spec.serviceAccountName).to.equal(account.metadata.name)
    expect(job.spec.template.spec.automountServiceAccountToken).to.equal(false)
    expect(job.spec.template.metadata.labels['atlas.dev/cockroachdb-client']).to.equal('true')
    // created suspended: it runs only once its Secret is owned by it (plan: sqlJob)
    expect(job.spec.suspend).to.equal(true)
    // a Secret, not a ConfigMap: the schema script sets the ledger user's password
    expect(script.kind).to.equal('Secret')
    expect(script.stringData['script.sql']).to.equal(sql)
    const pod = job.spec.template.spec
    expect(pod.volumes.find((v: any) => v.name === 'sql').secret.secretName).to.equal(script.metadata.name)
    expect(pod.volumes.find((v: any) => v.name === 'client-secret').secret.secretName).to.equal(
      'cockroachdb-client-root',
    )
    expect(pod.containers[0].command).to.include('--file=/sql/script.sql')
    expect(pod.containers[0].command).to.include('--certs-dir=/cockroach/cockroach-certs')
    expect(pod.securityContext.runAsNonRoot).to.equal(true)
    expect(job.metadata.namespace).to.equal('atlas')
  })
})

describe('k3d Git source', () => {
  it("is the world's own git daemon, fed from the rendered tree; no override can point Argo CD elsewhere", async () => {
    const {gitSource} = await import('../../../../src/lib/world/k3d/render.js')
    const {GIT_REPO_URL} = await import('../../../../src/lib/gitops/git-source.js')
    expect(GIT_REPO_URL).to.equal('git://atlas-git/atlas')
    const restore = withEnv({ATLAS_GIT_REPO_URL: 'https://github.com/o/r.git', ATLAS_GIT_REVISION: 'abc123'})
    try {
      expect(gitSource()).to.deep.equal({repoURL: GIT_REPO_URL, revision: 'HEAD', renderedPath: 'deploy'})
    } finally {
      restore()
    }
  })
})

after(removeTempDirs)
