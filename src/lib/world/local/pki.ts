/**
 * The local world's own certificate authority and the certificates it signs.
 * Created once per base dir by `atlas up` with the openssl CLI (Node's crypto
 * cannot sign X.509 certificates), ECDSA P-256 keys (fast handshakes on every
 * reconnect after a failover), in the two directories pki-paths.ts names.
 * Every file in both is 0600. Rotation: `atlas down --purge` then `atlas up`
 * makes a new CA and new certificates (nothing outside the world trusts them).
 */

import {randomBytes} from 'node:crypto'
import {access, chmod, chown, mkdir, readdir, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {OsUser} from '../../proc/index.js'
import type {CommandRunner} from '../../tools/runner.js'
import type {LocalLayout, RegionLayout} from './layout.js'

import {type CertPair, pkiPaths, type PkiPaths} from './pki-paths.js'

export {pkiPaths} from './pki-paths.js'

/**
 * Subject alternative names of a region's certificate: the one address its servers listen on,
 * which verify-full checks the client's host against. An etcd member's certificate is also its
 * client certificate towards the other members, and etcd checks a peer's certificate against
 * the address the connection comes from: 127.0.0.1, the source of every loopback connection
 * (layout.ts clientAddresses), so peer certificates name it too.
 */
export function serverNames(r: RegionLayout, usage: 'peer' | 'server' = 'server'): string[] {
  return usage === 'peer' && r.address !== '127.0.0.1' ? [`IP:${r.address}`, 'IP:127.0.0.1'] : [`IP:${r.address}`]
}

interface Leaf {
  cn: string
  pair: CertPair
  /** owned by the postgres OS user */
  postgres: boolean
  /** the region whose servers present it (server and peer certificates) */
  region?: RegionLayout
  usage: 'client' | 'peer' | 'server'
}

function leaves(layout: LocalLayout, paths: PkiPaths): Leaf[] {
  return [
    ...layout.regions.map((r): Leaf => ({
      pair: paths.etcdMember(r),
      cn: r.etcdName,
      usage: 'peer',
      postgres: false,
      region: r,
    })),
    ...layout.regions.map((r): Leaf => ({
      pair: paths.postgresServer(r),
      cn: r.postgresName,
      usage: 'server',
      postgres: true,
      region: r,
    })),
    {pair: paths.atlasEtcdClient, cn: 'atlas', usage: 'client', postgres: false},
    {pair: paths.atlasPostgresClient, cn: 'postgres', usage: 'client', postgres: false},
    {pair: paths.patroniSuperuser, cn: 'postgres', usage: 'client', postgres: true},
    {pair: paths.patroniReplicator, cn: 'replicator', usage: 'client', postgres: true},
    {pair: paths.patroniEtcdClient, cn: 'patroni', usage: 'client', postgres: true},
  ]
}

const CURVE = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

async function exists(file: string): Promise<boolean> {
  try {
    await access(file)
    return true
  } catch {
    return false
  }
}

/**
 * Creates what is missing: the CA, then every certificate (idempotent; a second
 * `up` changes nothing). Modes and owners are (re)applied every time.
 * Returns the number of certificates issued.
 */
export async function ensurePki(layout: LocalLayout, runner: CommandRunner, user: OsUser | undefined): Promise<number> {
  const paths = pkiPaths(layout)
  await mkdir(paths.dir, {recursive: true, mode: 0o700})
  await chmod(paths.dir, 0o700)
  await mkdir(paths.postgresDir, {recursive: true, mode: 0o700})
  await chmod(paths.postgresDir, 0o700)
  if (user) await chown(paths.postgresDir, user.uid, user.gid)
  const openssl = (args: string[]) =>
    runner.run('openssl', args, {cwd: paths.dir, timeoutMs: 30_000, label: `openssl ${args[0]}`})
  let issued = 0
  const freshCa = !(await exists(paths.caKey)) || !(await exists(paths.caCert))
  if (freshCa) {
    await openssl([
      'req',
      '-x509',
      ...CURVE,
      '-keyout',
      paths.caKey,
      '-out',
      paths.caCert,
      '-days',
      '3650',
      '-sha256',
      '-subj',
      `/CN=atlas ${layout.scope} local world CA (${layout.basePort})`,
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ])
    issued++
  }

  // the leaves are independent: a few at a time (each is two short openssl runs)
  const queue = leaves(layout, paths)
  const issueNext = async (): Promise<void> => {
    for (let leaf = queue.shift(); leaf; leaf = queue.shift()) await issueLeaf(leaf)
  }

  const issueLeaf = async (leaf: (typeof queue)[number]): Promise<void> => {
    // a new CA invalidates every certificate signed by an old one
    if (!freshCa && (await exists(leaf.pair.cert)) && (await exists(leaf.pair.key))) return
    const base = leaf.pair.cert.replace(/\.crt$/, '')
    const ext = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      `extendedKeyUsage=${leaf.usage === 'server' ? 'serverAuth' : leaf.usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth'}`,
      ...(leaf.region
        ? [`subjectAltName=${serverNames(leaf.region, leaf.usage === 'peer' ? 'peer' : 'server').join(',')}`]
        : []),
      '',
    ].join('\n')
    await writeFile(`${base}.ext`, ext, {mode: 0o600})
    try {
      await openssl([
        'req',
        '-new',
        ...CURVE,
        '-keyout',
        leaf.pair.key,
        '-out',
        `${base}.csr`,
        '-subj',
        `/CN=${leaf.cn}`,
      ])
      await openssl([
        'x509',
        '-req',
        '-in',
        `${base}.csr`,
        '-CA',
        paths.caCert,
        '-CAkey',
        paths.caKey,
        '-set_serial',
        `0x${randomBytes(16).toString('hex')}`,
        '-days',
        '825',
        '-sha256',
        '-extfile',
        `${base}.ext`,
        '-out',
        leaf.pair.cert,
      ])
    } finally {
      await rm(`${base}.ext`, {force: true})
      await rm(`${base}.csr`, {force: true})
    }

    issued++
  }

  await Promise.all(Array.from({length: 4}, issueNext))
  const {copyFile} = await import('node:fs/promises')
  await copyFile(paths.caCert, paths.postgresCaCert)
  await securePkiFiles(layout, user)
  return issued
}

/** 0600 for every file of both directories; the postgres OS user's own. */
export async function securePkiFiles(layout: LocalLayout, user: OsUser | undefined): Promise<void> {
  const paths = pkiPaths(layout)
  for (const [dir, owner] of [
    [paths.dir, undefined],
    [paths.postgresDir, user],
  ] as const) {
    for (const name of await readdir(dir)) {
      const file = path.join(dir, name)
      await chmod(file, 0o600)
      if (owner) await chown(file, owner.uid, owner.gid)
    }
  }
}

/** PEM contents of atlas's etcd client credentials, for its probes. */
export async function atlasEtcdTls(layout: LocalLayout): Promise<{ca: string; cert: string; key: string}> {
  const {readFile} = await import('node:fs/promises')
  const paths = pkiPaths(layout)
  const [ca, cert, key] = await Promise.all([
    readFile(paths.caCert, 'utf8'),
    readFile(paths.atlasEtcdClient.cert, 'utf8'),
    readFile(paths.atlasEtcdClient.key, 'utf8'),
  ])
  return {ca, cert, key}
}
