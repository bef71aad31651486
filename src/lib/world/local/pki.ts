import {randomBytes} from 'node:crypto'
import {access, chmod, chown, mkdir, readdir, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import type {OsUser} from '../../proc/index.js'
import type {CommandRunner} from '../../tools/runner.js'
import type {LocalLayout, RegionLayout} from './layout.js'

/**
 * The local world's own certificate authority and the certificates it signs.
 * Created once per base dir by `atlas up` with the openssl CLI (Node's crypto
 * cannot sign X.509 certificates), ECDSA P-256 keys (fast handshakes on every
 * reconnect after a failover). Two directories, because two OS users read them:
 *
 *   <baseDir>/pki        0700, atlas's user: the CA key, each etcd member's
 *                        certificate, and atlas's own client certificates
 *                        (etcd probes, the PostgreSQL superuser for setup)
 *   <postgresHome>/tls   0700, the postgres OS user: PostgreSQL's server
 *                        certificates and Patroni's client certificates
 *                        (superuser and rewind, replication, etcd)
 *
 * Every file in both is 0600. Rotation: `atlas down --purge` then `atlas up`
 * makes a new CA and new certificates (nothing outside the world trusts them).
 */
export interface CertPair {
  cert: string
  key: string
}

export interface PkiPaths {
  dir: string
  caCert: string
  caKey: string
  /** the CA certificate atlas's clients verify servers with */
  atlasEtcdClient: CertPair
  /** CN=postgres: atlas's setup connections as the superuser (schema, roles) */
  atlasPostgresClient: CertPair
  postgresDir: string
  /** a copy of the CA certificate the postgres OS user can read */
  postgresCaCert: string
  /** CN=postgres: Patroni's own superuser connections and pg_rewind */
  patroniSuperuser: CertPair
  /** CN=replicator: streaming replication and pg_basebackup */
  patroniReplicator: CertPair
  /** CN=patroni: Patroni's etcd3 client */
  patroniEtcdClient: CertPair
  etcdMember(r: RegionLayout): CertPair
  postgresServer(r: RegionLayout): CertPair
}

export function pkiPaths(layout: LocalLayout): PkiPaths {
  const dir = path.join(layout.baseDir, 'pki')
  const postgresDir = path.join(layout.postgresHome, 'tls')
  const pair = (base: string, name: string): CertPair => ({cert: path.join(base, `${name}.crt`), key: path.join(base, `${name}.key`)})
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    atlasEtcdClient: pair(dir, 'etcd-client-atlas'),
    atlasPostgresClient: pair(dir, 'pg-client-postgres'),
    postgresDir,
    postgresCaCert: path.join(postgresDir, 'ca.crt'),
    patroniSuperuser: pair(postgresDir, 'pg-client-postgres'),
    patroniReplicator: pair(postgresDir, 'pg-client-replicator'),
    patroniEtcdClient: pair(postgresDir, 'etcd-client-patroni'),
    etcdMember: (r) => pair(dir, `etcd-${r.region.name}`),
    postgresServer: (r) => pair(postgresDir, `pg-server-${r.region.name}`),
  }
}

/** Subject alternative names of a server on the layout's address: verify-full checks the client's host against them. */
export function serverNames(layout: LocalLayout): string[] {
  const ips = [...new Set([layout.host, '127.0.0.1'])].filter((h) => /^[\d.]+$/.test(h) || h.includes(':'))
  const dns = [...new Set(['localhost', ...(/^[\d.]+$/.test(layout.host) || layout.host.includes(':') ? [] : [layout.host])])]
  return [...ips.map((ip) => `IP:${ip}`), ...dns.map((d) => `DNS:${d}`)]
}

interface Leaf {
  pair: CertPair
  cn: string
  usage: 'server' | 'client' | 'peer'
  /** owned by the postgres OS user */
  postgres: boolean
}

function leaves(layout: LocalLayout, paths: PkiPaths): Leaf[] {
  return [
    ...layout.regions.map((r): Leaf => ({pair: paths.etcdMember(r), cn: r.etcdName, usage: 'peer', postgres: false})),
    ...layout.regions.map((r): Leaf => ({pair: paths.postgresServer(r), cn: r.postgresName, usage: 'server', postgres: true})),
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
  const openssl = (args: string[]) => runner.run('openssl', args, {cwd: paths.dir, timeoutMs: 30_000, label: `openssl ${args[0]}`})
  let issued = 0
  const freshCa = !(await exists(paths.caKey)) || !(await exists(paths.caCert))
  if (freshCa) {
    await openssl(['req', '-x509', ...CURVE, '-keyout', paths.caKey, '-out', paths.caCert, '-days', '3650', '-sha256', '-subj', `/CN=atlas ${layout.scope} local world CA (${layout.basePort})`, '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
    issued++
  }
  const names = serverNames(layout).join(',')
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
      ...(leaf.usage === 'client' ? [] : [`subjectAltName=${names}`]),
      '',
    ].join('\n')
    await writeFile(`${base}.ext`, ext, {mode: 0o600})
    try {
      await openssl(['req', '-new', ...CURVE, '-keyout', leaf.pair.key, '-out', `${base}.csr`, '-subj', `/CN=${leaf.cn}`])
      await openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', paths.caCert, '-CAkey', paths.caKey, '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', '825', '-sha256', '-extfile', `${base}.ext`, '-out', leaf.pair.cert])
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
  for (const [dir, owner] of [[paths.dir, undefined], [paths.postgresDir, user]] as const) {
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
  const [ca, cert, key] = await Promise.all([readFile(paths.caCert, 'utf8'), readFile(paths.atlasEtcdClient.cert, 'utf8'), readFile(paths.atlasEtcdClient.key, 'utf8')])
  return {ca, cert, key}
}
