import {chmod, chown, mkdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {ProvisionResult} from '../../cloud/provision.js'
import type {LocalContext} from './context.js'

import {PreconditionError, UsageError} from '../../errors.js'
import {mkdirOwned, type OsUser} from '../../proc/index.js'
import {findExecutable} from '../../tools/discovery.js'
import {CommandRunner} from '../../tools/runner.js'
import {type DatabaseSecrets, type LocalLayout, patroniConfig} from './layout.js'
import {pkiPaths} from './pki.js'
import {worldSecrets} from './secrets.js'
import {cloudEndpoint, databaseUrls} from './status.js'

/** The base dir and what lives in it, with the modes and owners PostgreSQL (as its own OS user) needs. */
export async function prepareDirs(layout: LocalLayout, user: OsUser | undefined): Promise<void> {
  // a base dir atlas creates can be entered (the postgres OS user reaches its home in it) but not listed; one
  // that exists keeps its mode (it may be the user's own directory): everything atlas keeps in it is 0700 or 0600
  await mkdir(layout.baseDir, {recursive: true, mode: 0o711})
  for (const dir of [layout.pidDir, layout.logDir, layout.dataDir, layout.runsDir]) {
    await mkdir(dir, {recursive: true, mode: 0o700})
    await chmod(dir, 0o700)
  }

  await mkdirOwned(layout.postgresHome, user)
  await chmod(layout.postgresHome, 0o700)
  await mkdirOwned(path.join(layout.postgresHome, 'data'), user)
  if (user) await checkTraversable(layout, user)
}

/** The postgres user must reach its data dirs: every parent of baseDir needs the x bit for others. */
async function checkTraversable(layout: LocalLayout, user: OsUser): Promise<void> {
  const {stat} = await import('node:fs/promises')
  let dir = layout.baseDir
  while (true) {
    const st = await stat(dir)
    if (!(st.mode & 0o001) && st.uid !== user.uid) {
      throw new PreconditionError(
        `PostgreSQL runs as the "${user.name}" OS user, which cannot enter ${dir} (mode ${(st.mode & 0o777).toString(8)})`,
        {
          hint: `chmod o+x ${dir}, or set local.baseDir to a directory under /tmp`,
        },
      )
    }

    const parent = path.dirname(dir)
    if (parent === dir) return
    dir = parent
  }
}

/**
 * A world made before TLS (data, no CA) cannot be upgraded in place: etcd keeps its members'
 * http:// peer URLs in its data, and the nodes' replicas were made without certificates.
 */
export async function refusePlainTextWorld(layout: LocalLayout): Promise<void> {
  const {access} = await import('node:fs/promises')
  const exists = (file: string) =>
    access(file).then(
      () => true,
      () => false,
    )
  if (await exists(pkiPaths(layout).caKey)) return
  const data = [...layout.regions.map((r) => r.etcdDataDir), ...layout.regions.map((r) => r.postgresDataDir)]
  const found = (await Promise.all(data.map(exists))).some(Boolean)
  if (found) {
    throw new PreconditionError(
      `the local world in ${layout.baseDir} was made without TLS (it has data but no CA) and cannot be upgraded in place`,
      {
        code: 'WORLD_WITHOUT_TLS',
        hint: '`atlas down --purge --yes` removes it (runs/ is kept); then `atlas up` makes a new one',
      },
    )
  }
}

/**
 * A world made before each region had its own address cannot be moved in place: etcd keeps
 * its members' peer URLs in its data, and the certificates name the old address.
 */
export async function refuseSharedAddressWorld(layout: LocalLayout): Promise<void> {
  const r = layout.regions[0]
  const pem = await readFile(pkiPaths(layout).etcdMember(r).cert, 'utf8').catch(() => {})
  if (!pem) return
  const {X509Certificate} = await import('node:crypto')
  const names = new X509Certificate(pem).subjectAltName ?? ''
  if (names.includes(`IP Address:${r.address}`)) return
  throw new PreconditionError(
    `the local world in ${layout.baseDir} was made before each region had its own address (${r.region.name} is now ${r.address}; its certificates name ${names || 'another address'})`,
    {
      code: 'WORLD_ADDRESSES_CHANGED',
      hint: '`atlas down --purge --yes` removes it (runs/ is kept); then `atlas up` makes a new one',
    },
  )
}

export async function backupsAvailable(): Promise<boolean> {
  return (await findExecutable('pgbackrest')) !== undefined
}

export async function writePatroniConfigs(
  ctx: LocalContext,
  secrets: DatabaseSecrets,
  user: OsUser | undefined,
): Promise<void> {
  const {stringify} = await import('yaml')
  const postgres = await findExecutable('postgres')
  if (!postgres)
    throw new PreconditionError('PostgreSQL server binaries were not found', {hint: 'apt-get install -y postgresql'})
  // Debian symlinks some server binaries into PATH; Patroni needs the real bin dir (pg_controldata, pg_rewind, ...)
  const {realpath} = await import('node:fs/promises')
  const binDir = path.dirname(await realpath(postgres))
  // continuous WAL archiving to the backup repository, where pgBackRest is installed
  const backups = (await backupsAvailable()) ? await ctx.backups() : undefined
  await backups?.writeConfigs(user)
  for (const r of ctx.layout.regions) {
    const config = patroniConfig(ctx.layout, r, secrets, binDir) as {postgresql: {parameters: Record<string, unknown>}}
    if (backups) config.postgresql.parameters = {...config.postgresql.parameters, ...backups.archiveParameters(r)}
    await writeFile(r.patroniConfigFile, stringify(config), {mode: 0o600})
    if (user) await chown(r.patroniConfigFile, user.uid, user.gid)
  }
}

/** Creates the ledger schema and mints the opening balances (idempotent: the ledger library records both); returns what it did. */
export async function createLedgerSchema(ctx: LocalContext): Promise<string> {
  const [{connectLedger}, {initLedger}, {ensureRoles}] = await Promise.all([
    import('../../ledger/db.js'),
    import('../../ledger/schema.js'),
    import('./roles.js'),
  ])
  // the superuser's one use outside Patroni: the schema, the mint and the least-privilege roles
  const sql = await connectLedger(await databaseUrls(ctx, 'admin'), {max: 1, applicationName: 'atlas-up'})
  try {
    const result = await initLedger(sql, {
      accounts: ctx.config.ledger.accounts,
      openingBalance: ctx.config.ledger.openingBalance,
      allowNegativeBalances: ctx.config.ledger.allowNegativeBalances,
    })
    await ensureRoles(sql, await worldSecrets(ctx.layout))
    return `${result.minted ? `minted ${result.mint.total} across ${result.mint.accounts} accounts` : 'already minted'}; roles atlas_ledger (transfers) and atlas_verify (read-only)`
  } finally {
    await sql.end({timeout: 5})
  }
}

export async function provisionCloud(ctx: LocalContext): Promise<ProvisionResult> {
  if (ctx.provisioner === 'terraform') return provisionWithTerraform(ctx)
  const {provisionCloud: provision} = await import('../../cloud/provision.js')
  return provision(ctx.config, await cloudEndpoint(ctx))
}

/**
 * terraform/ (the k3d world's stack) applied against moto. Needs the AWS provider,
 * which `terraform init` downloads: a user's machine, not an offline sandbox.
 * State and provider cache live under <baseDir>/terraform, never in the package.
 */
async function provisionWithTerraform(ctx: LocalContext): Promise<ProvisionResult> {
  const {terraformVariables} = await import('../../tools/terraform-vars.js')
  const dir = path.join(ctx.layout.baseDir, 'terraform')
  await mkdir(dir, {recursive: true})
  const varFile = path.join(dir, 'local.tfvars.json')
  const cloud = await cloudEndpoint(ctx)
  await writeFile(varFile, JSON.stringify(terraformVariables(ctx.config, {endpoint: cloud.endpoint}), null, 2))
  const out = await runTerraform(new CommandRunner({logFile: path.join(ctx.layout.logDir, 'terraform.log')}), dir)
  const {parseTerraformOutputs} = await import('../../tools/terraform-outputs.js')
  const regions = parseTerraformOutputs(JSON.parse(out.stdout), 'terraform output -json')
  return {
    regions: Object.entries(regions).map(([region, o]) => {
      // terraform/outputs.tf always sets these; their absence means another module's outputs
      const need = (value: string | undefined, name: string): string => {
        if (value === undefined)
          throw new UsageError(`terraform output -json: regions.${region} has no ${name}`, {
            code: 'TERRAFORM_OUTPUTS_INVALID',
          })
        return value
      }

      return {
        region,
        awsRegion: need(o.awsRegion, 'aws_region'),
        auditBucket: o.auditBucket,
        queueUrl: o.queueUrl,
        queueArn: need(o.queueArn, 'queue_arn'),
        deadLetterQueueUrl: need(o.deadLetterQueueUrl, 'dead_letter_queue_url'),
        deadLetterQueueArn: need(o.deadLetterQueueArn, 'dead_letter_queue_arn'),
        replicationRoleArn: need(o.replicationRoleArn, 'replication_role_arn'),
      }
    }),
    replication: Object.entries(regions)
      .filter(([, o]) => o.replicatesToBucket)
      .map(([region]) => `${region}->${ctx.config.cloud.replication.find((r) => r.from === region)?.to ?? '?'}`),
    warnings: [],
  }
}

/** terraform init, apply and output for the local world (state and var file under dir); returns the output run. */
export async function runTerraform(runner: CommandRunner, dir: string): Promise<{stdout: string}> {
  const {packagePath} = await import('../../paths.js')
  const env = {TF_DATA_DIR: path.join(dir, '.terraform'), TF_IN_AUTOMATION: '1'}
  const chdir = `-chdir=${packagePath('terraform')}`
  const state = `-state=${path.join(dir, 'terraform.tfstate')}`
  await runner.run('terraform', [chdir, 'init', '-input=false', '-no-color'], {env, label: 'terraform init'})
  await runner.run(
    'terraform',
    [
      chdir,
      'apply',
      '-input=false',
      '-no-color',
      '-auto-approve',
      state,
      `-var-file=${path.join(dir, 'local.tfvars.json')}`,
    ],
    {env, label: 'terraform apply'},
  )
  return runner.run('terraform', [chdir, 'output', '-json', state], {env, label: 'terraform output'})
}
