import {createHash} from 'node:crypto'
import {copyFile, mkdir, rename, writeFile} from 'node:fs/promises'
import path from 'node:path'
import type {AtlasConfig} from '../../config/schema.js'
import {DEFAULT_RENDER_INPUTS, renderWorld, type RenderedFile} from '../../gitops/index.js'
import * as ledgerSql from '../../ledger/sql.js'
import {ansibleExtraVars} from './ansible-vars.js'
import {LEDGER_DATABASE, multiRegionSql} from './ddl.js'
import {sqlJobNames, terraformSourceFiles, type K3dLayout} from './plan.js'
import {cockroachImage, sqlJobManifest} from './sql-job.js'
import {terraformVariables} from './terraform-vars.js'

/** Path of the rendered files inside the Git repository Argo CD reads (as `atlas render` defaults to). */
export const RENDERED_GIT_PATH = 'deploy'

/**
 * The Git source Argo CD pulls the charts and the rendered values from. Argo CD
 * reads Git, not the base dir: the values rendered here must also be committed
 * there (`atlas render --out deploy`). ATLAS_GIT_REPO_URL / ATLAS_GIT_REVISION /
 * ATLAS_GIT_RENDERED_PATH point it at e.g. the GitHub repository in CI.
 */
export function gitSource(env: NodeJS.ProcessEnv = process.env): {repoURL: string; revision: string; renderedPath: string} {
  return {
    repoURL: env.ATLAS_GIT_REPO_URL || DEFAULT_RENDER_INPUTS.git.repoURL,
    revision: env.ATLAS_GIT_REVISION || DEFAULT_RENDER_INPUTS.git.revision,
    renderedPath: env.ATLAS_GIT_RENDERED_PATH || RENDERED_GIT_PATH,
  }
}

export interface K3dRendered {
  /** gitops output, paths relative to layout.renderedDir */
  gitops: RenderedFile[]
  /** other files: absolute path -> content */
  files: Map<string, string>
  /** changes whenever any rendered content changes */
  digest: string
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`

/** The ledger schema and the mint as one SQL script for `cockroach sql` (same migrations and mint as `atlas ledger init`). */
export function ledgerSchemaSql(config: AtlasConfig, database = LEDGER_DATABASE): string {
  const lines = [
    '-- Rendered by atlas up (k3d world) from src/lib/ledger/sql.ts. Idempotent.',
    `CREATE DATABASE IF NOT EXISTS "${database}";`,
    `SET database = "${database}";`,
    `${ledgerSql.CREATE_MIGRATIONS_TABLE};`,
  ]
  for (const migration of ledgerSql.MIGRATIONS) {
    for (const statement of migration.statements({allowNegativeBalances: config.ledger.allowNegativeBalances})) lines.push(`${statement};`)
    lines.push(
      `INSERT INTO ${ledgerSql.MIGRATIONS_TABLE} (version, name) VALUES (${migration.version}, ${sqlString(migration.name)}) ON CONFLICT (version) DO NOTHING;`,
    )
  }
  // the mint and the accounts in one transaction, only into an empty ledger, as
  // `atlas ledger init` does (conservation is checked against this total)
  const {accounts, openingBalance, allowNegativeBalances} = config.ledger
  lines.push(
    'BEGIN;',
    `INSERT INTO ledger_mint (id, accounts, opening_balance, total, allow_negative_balances) VALUES (1, ${accounts}, ${openingBalance}, ${BigInt(accounts) * BigInt(openingBalance)}, ${allowNegativeBalances}) ON CONFLICT (id) DO NOTHING;`,
    `INSERT INTO accounts (id, balance, opening_balance) SELECT g, ${openingBalance}, ${openingBalance} FROM generate_series(1, ${accounts}) AS g WHERE NOT EXISTS (SELECT 1 FROM accounts);`,
    'COMMIT;',
  )
  return `${lines.join('\n')}\n`
}

/** Everything `atlas up` renders for the k3d world, in memory (pure: no I/O but reading templates). */
export async function renderK3d(config: AtlasConfig, layout: K3dLayout, endpoint: string): Promise<K3dRendered> {
  const gitops = await renderWorld(config, {...DEFAULT_RENDER_INPUTS, git: gitSource()})
  const files = new Map<string, string>()
  files.set(layout.tfvarsFile, `${JSON.stringify(terraformVariables(config, {endpoint}), null, 2)}\n`)
  files.set(layout.extraVarsFile, `${JSON.stringify(ansibleExtraVars(config, {renderedDir: layout.renderedDir, stateDir: layout.k3dDir, endpoint}), null, 2)}\n`)
  const image = await cockroachImage()
  const jobs = sqlJobNames(config)
  files.set(layout.schemaJobFile, sqlJobManifest({name: jobs.schema, sql: ledgerSchemaSql(config), image}))
  files.set(layout.multiRegionJobFile, sqlJobManifest({name: jobs.multiRegion, sql: multiRegionSql(config), image}))
  const hash = createHash('sha256')
  for (const f of gitops) hash.update(f.path).update('\0').update(f.content).update('\0')
  // absolute paths do not enter the digest: moving the base dir is not a config change
  for (const [file, content] of files) hash.update(path.relative(layout.baseDir, file)).update('\0').update(content).update('\0')
  return {gitops, files, digest: hash.digest('hex').slice(0, 16)}
}

async function writeAtomic(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), {recursive: true})
  const tmp = `${file}.tmp-${process.pid}`
  await writeFile(tmp, content, 'utf8')
  await rename(tmp, file)
}

/** Writes what renderK3d produced and stages terraform/ into the base dir. */
export async function writeK3dRendered(rendered: K3dRendered, layout: K3dLayout): Promise<void> {
  for (const rel of terraformSourceFiles(layout.terraformSourceDir)) {
    const target = path.join(layout.terraformDir, ...rel.split('/'))
    await mkdir(path.dirname(target), {recursive: true})
    await copyFile(path.join(layout.terraformSourceDir, ...rel.split('/')), target)
  }
  const {writeRendered, validateRendered} = await import('../../gitops/index.js')
  await validateRendered(rendered.gitops)
  await writeRendered(rendered.gitops, layout.renderedDir)
  for (const [file, content] of rendered.files) await writeAtomic(file, content)
}
