import {chown, mkdir} from 'node:fs/promises'

import {PreconditionError} from '../errors.js'

export interface OsUser {
  gid: number
  name: string
  uid: number
}

let cached: Promise<OsUser | undefined> | undefined

/**
 * The OS user that runs PostgreSQL: initdb and postgres refuse to run as root.
 * When Atlas runs as root, the `postgres` user (created by Debian's postgresql
 * package, else by us with useradd) is used; otherwise undefined, meaning "run as
 * yourself".
 */
export function postgresOsUser(): Promise<OsUser | undefined> {
  cached ??= resolvePostgresUser()
  return cached
}

async function resolvePostgresUser(): Promise<OsUser | undefined> {
  if (process.getuid?.() !== 0) return undefined
  const existing = await lookupUser('postgres')
  if (existing) return existing
  const {execa} = await import('execa')
  const created = await execa(
    'useradd',
    ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'],
    {reject: false},
  )
  const user = await lookupUser('postgres')
  if (!user) {
    throw new PreconditionError(
      `running as root, but the "postgres" OS user does not exist and could not be created: ${created.stderr}`,
      {
        hint: 'install PostgreSQL (apt-get install postgresql), which creates it, or run Atlas as a normal user',
      },
    )
  }

  return user
}

async function lookupUser(name: string): Promise<OsUser | undefined> {
  const {readFile} = await import('node:fs/promises')
  const passwd = await readFile('/etc/passwd', 'utf8')
  const line = passwd.split('\n').find((l) => l.startsWith(`${name}:`))
  if (!line) return undefined
  // name:password:uid:gid:...
  const fields = line.split(':')
  return {name, uid: Number(fields[2]), gid: Number(fields[3])}
}

/** Creates a directory owned by the user (mode 0700, as PostgreSQL requires for data dirs). */
export async function mkdirOwned(dir: string, user: OsUser | undefined, mode = 0o700): Promise<void> {
  await mkdir(dir, {recursive: true, mode})
  if (user) await chown(dir, user.uid, user.gid)
}
