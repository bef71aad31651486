import path from 'node:path'

/** What the paths depend on: a leaf, so that the layout (which names these files in its configs) and the PKI code both import it. */
export interface PkiDirs {
  baseDir: string
  postgresHome: string
}

interface RegionRef {
  region: {name: string}
}

export interface CertPair {
  cert: string
  key: string
}

export interface PkiPaths {
  /** the CA certificate atlas's clients verify servers with */
  atlasEtcdClient: CertPair
  /** CN=postgres: atlas's setup connections as the superuser (schema, roles) */
  atlasPostgresClient: CertPair
  caCert: string
  caKey: string
  dir: string
  etcdMember(r: RegionRef): CertPair
  /** CN=patroni: Patroni's etcd3 client */
  patroniEtcdClient: CertPair
  /** CN=replicator: streaming replication and pg_basebackup */
  patroniReplicator: CertPair
  /** CN=postgres: Patroni's own superuser connections and pg_rewind */
  patroniSuperuser: CertPair
  /** a copy of the CA certificate the postgres OS user can read */
  postgresCaCert: string
  postgresDir: string
  postgresServer(r: RegionRef): CertPair
}

/**
 * Where the world's CA and certificates live (pki.ts makes them). Two directories, because
 * two OS users read them:
 *
 *   <baseDir>/pki        0700, atlas's user: the CA key, each etcd member's
 *                        certificate, and atlas's own client certificates
 *                        (etcd probes, the PostgreSQL superuser for setup)
 *   <postgresHome>/tls   0700, the postgres OS user: PostgreSQL's server
 *                        certificates and Patroni's client certificates
 *                        (superuser and rewind, replication, etcd)
 */
export function pkiPaths(layout: PkiDirs): PkiPaths {
  const dir = path.join(layout.baseDir, 'pki')
  const postgresDir = path.join(layout.postgresHome, 'tls')
  const pair = (base: string, name: string): CertPair => ({
    cert: path.join(base, `${name}.crt`),
    key: path.join(base, `${name}.key`),
  })
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
