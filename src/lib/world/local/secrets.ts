import {randomBytes} from 'node:crypto'
import {chmod, mkdir, readFile, writeFile} from 'node:fs/promises'

import type {DatabaseSecrets, LocalLayout} from './layout.js'

import {PreconditionError} from '../../errors.js'
import {registerSecret} from '../../redact.js'

/** Generated once per base dir (mode 0600) and registered so they are masked in every output. */
export async function worldSecrets(layout: LocalLayout, create = false): Promise<DatabaseSecrets> {
  const generate = () => randomBytes(18).toString('base64url')
  let secrets: Partial<DatabaseSecrets> | undefined
  try {
    secrets = JSON.parse(await readFile(layout.secretsFile, 'utf8')) as Partial<DatabaseSecrets>
  } catch {
    if (!create)
      throw new PreconditionError(`the local world in ${layout.baseDir} has not been set up`, {hint: 'run `atlas up`'})
    secrets = {}
  }

  // the monitoring role's password is optional until the next `up` makes it (a world from before monitoring works without it)
  const missing = (
    [
      'superuserPassword',
      'replicationPassword',
      'ledgerPassword',
      'verifyPassword',
      'restApiPassword',
      ...(create ? (['monitorPassword'] as const) : []),
    ] as const
  ).filter((k) => !secrets![k])
  if (missing.length > 0) {
    // a world set up before the least-privilege roles existed gets their passwords on its next `up`
    if (!create)
      throw new PreconditionError(`the local world in ${layout.baseDir} has no ${missing.join(', ')}`, {
        hint: 'run `atlas up`',
      })
    for (const k of missing) secrets[k] = generate()
    await mkdir(layout.baseDir, {recursive: true})
    await writeFile(layout.secretsFile, JSON.stringify(secrets), {mode: 0o600})
  }

  if (create) await chmod(layout.secretsFile, 0o600)
  for (const value of Object.values(secrets)) registerSecret(value)
  return secrets as DatabaseSecrets
}
