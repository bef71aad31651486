import path from 'node:path'

import type {AtlasConfig, Region} from '../../config/schema.js'
import type {DatabaseRole} from '../types.js'

import {UsageError} from '../../errors.js'
import {packagePath} from '../../paths.js'
import {pkiPaths} from './pki-paths.js'

/**
 * Where every piece of the local world lives: ports (a block of PORTS_PER_REGION
 * per region, in config order, then the cloud endpoint) and paths under baseDir.
 * Pure: the same config and baseDir always give the same layout, so a second
 * `atlas up`, `status` and `down` find the world the first one started.
 */
export const PORTS_PER_REGION = 20

export interface RegionLayout {
  /**
   * The loopback address every server of this region binds (etcd, PostgreSQL, Patroni's REST
   * API): regionAddress(). Distinct per region so nftables can tell the regions apart.
   */
  address: string
  etcdClientPort: number
  etcdDataDir: string
  etcdName: string
  etcdPeerPort: number
  /** the region's block of ports: [firstPort, firstPort + PORTS_PER_REGION) */
  firstPort: number
  /** the witness keeps a synchronous copy but never leads */
  nofailover: boolean
  patroniApiPort: number
  patroniConfigFile: string
  postgresDataDir: string
  postgresName: string
  postgresPort: number
  region: Region
  /** `atlas ledger serve --region R`: /healthz, /readyz and /metrics */
  servicePort: number
  /** the FIFO Patroni's watchdog writes to; libexec/patroni-softdog.py reads it */
  watchdogDevice: string
}

export interface LocalLayout {
  baseDir: string
  basePort: number
  dataDir: string
  /** the world's own address (local.host): shared services (the S3/SQS emulator) bind it, never a region's */
  host: string
  logDir: string
  motoPort: number
  /** pid files of every process the world started (<base>/run); not a workload run's directory */
  pidDir: string
  /** Patroni runs as the postgres OS user: its configs, sockets and data live here */
  postgresHome: string
  regions: RegionLayout[]
  runsDir: string
  /** Patroni scope: the cluster name in the DCS */
  scope: string
  secretsFile: string
  stateFile: string
}

/**
 * Region N's address (N = its index in the config): the world's address local.host =
 * 127.a.b.c with b + 1 + N in the third octet, so the default 127.0.0.1 gives us
 * 127.0.1.1, eu 127.0.2.1, witness 127.0.3.1. Linux answers for all of 127.0.0.0/8 on
 * lo, so nothing has to be configured; the world's address stays for shared services.
 */
export function regionAddress(host: string, index: number): string {
  const octets = host.split('.').map(Number)
  const third = octets[2] + 1 + index
  if (octets.length !== 4 || octets[0] !== 127 || third > 255) {
    throw new UsageError(
      `local.host ${host} leaves no room for region ${index + 1}'s address (127.a.b+${index + 1}.c must stay within 127.0.0.0/8)`,
      {hint: 'set local.host to an address with a smaller third octet, such as 127.0.0.1'},
    )
  }

  return `127.${octets[1]}.${third}.${octets[3]}`
}

export function localLayout(config: AtlasConfig, baseDir: string): LocalLayout {
  const abs = path.resolve(baseDir)
  const {host, basePort} = config.local
  const postgresHome = path.join(abs, 'postgres')
  const regions = config.regions.map((region, index): RegionLayout => {
    const first = basePort + index * PORTS_PER_REGION
    return {
      region,
      address: regionAddress(host, index),
      firstPort: first,
      etcdName: `etcd-${region.name}`,
      etcdClientPort: first,
      etcdPeerPort: first + 1,
      etcdDataDir: path.join(abs, 'data', `etcd-${region.name}`),
      postgresName: `pg-${region.name}`,
      postgresPort: first + 2,
      patroniApiPort: first + 3,
      servicePort: first + 4,
      patroniConfigFile: path.join(postgresHome, `patroni-${region.name}.yml`),
      watchdogDevice: path.join(postgresHome, `watchdog-${region.name}`),
      postgresDataDir: path.join(postgresHome, 'data', `pg-${region.name}`),
      nofailover: region.role === 'witness',
    }
  })
  return {
    baseDir: abs,
    host,
    basePort,
    scope: config.namePrefix,
    regions,
    motoPort: basePort + config.regions.length * PORTS_PER_REGION,
    pidDir: path.join(abs, 'run'),
    logDir: path.join(abs, 'logs'),
    dataDir: path.join(abs, 'data'),
    runsDir: path.join(abs, 'runs'),
    stateFile: path.join(abs, 'world.json'),
    secretsFile: path.join(abs, 'secrets.json'),
    postgresHome,
  }
}

/** Every port the world listens on, with what listens there (for clear "port busy" errors and the down check). */
export function allPorts(layout: LocalLayout): Array<{host: string; owner: string; port: number}> {
  return [
    ...layout.regions.flatMap((r) => [
      {port: r.etcdClientPort, owner: `${r.etcdName} client`, host: r.address},
      {port: r.etcdPeerPort, owner: `${r.etcdName} peer`, host: r.address},
      {port: r.postgresPort, owner: `${r.postgresName} PostgreSQL`, host: r.address},
      {port: r.patroniApiPort, owner: `${r.postgresName} Patroni REST API`, host: r.address},
    ]),
    {port: layout.motoPort, owner: 'moto (S3/SQS/IAM)', host: layout.host},
    // the world-level monitoring block after the cloud endpoint (src/lib/monitoring/layout.ts)
    ...monitoringPorts(layout),
  ]
}

/** etcd serves clients and peers over TLS only, with client certificates required on both. */
export function etcdClientUrl(_layout: LocalLayout, r: RegionLayout): string {
  return `https://${r.address}:${r.etcdClientPort}`
}

export function patroniUrl(_layout: LocalLayout, r: RegionLayout): string {
  return `http://${r.address}:${r.patroniApiPort}`
}

export function initialCluster(layout: LocalLayout): string {
  return layout.regions.map((r) => `${r.etcdName}=https://${r.address}:${r.etcdPeerPort}`).join(',')
}

/**
 * etcd argv: one member per region; pre-vote so a member rejoining after a pause cannot disrupt the leader.
 * Clients and peers: TLS with the world's CA, and a certificate it signed required from the other side.
 */
export function etcdArgs(layout: LocalLayout, r: RegionLayout): string[] {
  const peer = `https://${r.address}:${r.etcdPeerPort}`
  const client = etcdClientUrl(layout, r)
  const pki = pkiPaths(layout)
  const member = pki.etcdMember(r)
  return [
    '--name',
    r.etcdName,
    '--data-dir',
    r.etcdDataDir,
    '--listen-peer-urls',
    peer,
    '--initial-advertise-peer-urls',
    peer,
    '--listen-client-urls',
    client,
    '--advertise-client-urls',
    client,
    '--initial-cluster',
    initialCluster(layout),
    '--initial-cluster-token',
    `${layout.scope}-${layout.basePort}`,
    // ignored once the data dir exists, so a restarted member rejoins the same cluster
    '--initial-cluster-state',
    'new',
    '--pre-vote',
    '--cert-file',
    member.cert,
    '--key-file',
    member.key,
    '--trusted-ca-file',
    pki.caCert,
    '--client-cert-auth',
    '--peer-cert-file',
    member.cert,
    '--peer-key-file',
    member.key,
    '--peer-trusted-ca-file',
    pki.caCert,
    '--peer-client-cert-auth',
    // loopback: short timeouts make leader loss detectable within ~1 s
    '--heartbeat-interval',
    '100',
    '--election-timeout',
    '500',
    '--logger',
    'zap',
    '--log-outputs',
    'stderr',
  ]
}

export function motoArgs(layout: LocalLayout): string[] {
  return ['-H', layout.host, '-p', String(layout.motoPort)]
}

export interface DatabaseSecrets {
  /** atlas_ledger: the workload and the ledger service */
  ledgerPassword: string
  /** atlas_monitor (pg_monitor): postgres_exporter; generated by `up` */
  monitorPassword?: string
  replicationPassword: string
  /** Basic auth of Patroni's unsafe REST endpoints (switchover, restart, reload, PATCH /config); GET /cluster stays open */
  restApiPassword: string
  superuserPassword: string
  /** atlas_verify: read-only */
  verifyPassword: string
}

/**
 * Who connects: `admin` is the superuser (setup only: schema, mint, roles; it also
 * presents a client certificate), `ledger` inserts transfers and moves balances,
 * `verify` reads.
 */

export const ROLE_NAMES: Record<DatabaseRole, string> = {
  admin: 'postgres',
  ledger: 'atlas_ledger',
  verify: 'atlas_verify',
}

/** postgres_exporter's login: pg_monitor only (src/lib/monitoring) */
export const MONITOR_ROLE = 'atlas_monitor'

export function rolePassword(secrets: DatabaseSecrets, role: DatabaseRole): string {
  return role === 'admin'
    ? secrets.superuserPassword
    : role === 'ledger'
      ? secrets.ledgerPassword
      : secrets.verifyPassword
}

/**
 * The source addresses TCP connections of the world arrive from. Linux gives a connection
 * to any 127/8 address the source address of lo's route, 127.0.0.1, unless the client binds
 * another (libpq, Patroni and the workload cannot), so that is where everything comes from;
 * the world's and the regions' own addresses are admitted too, for clients that do bind.
 * Nothing outside loopback ever is.
 */
export function clientAddresses(layout: LocalLayout): string[] {
  return [...new Set(['127.0.0.1', layout.host, ...layout.regions.map((r) => r.address)])]
}

/**
 * pg_hba.conf, whole: peer on the socket for the postgres OS user, TLS (`hostssl`) for
 * every TCP connection and no plain `host` line, so a connection without TLS finds no
 * entry and is refused. The superuser and the replication user need a password and a
 * client certificate whose CN is their name (clientcert=verify-full): their password
 * sits in Patroni's configuration on every node, so it alone must not be enough.
 * Each rule admits exactly the addresses of clientAddresses(), one /32 each.
 */
export function pgHba(layout: LocalLayout): string[] {
  const lines = ['local all postgres peer', 'local all all scram-sha-256']
  for (const address of clientAddresses(layout)) {
    const net = `${address}/32`
    lines.push(
      `hostssl replication replicator ${net} scram-sha-256 clientcert=verify-full`,
      `hostssl all postgres ${net} scram-sha-256 clientcert=verify-full`,
      `hostssl all ${ROLE_NAMES.ledger},${ROLE_NAMES.verify},${MONITOR_ROLE} ${net} scram-sha-256`,
    )
  }

  return lines
}

/** Seconds between the watchdog firing and the leader lease expiring (Patroni's safety_margin). */
export const WATCHDOG_SAFETY_MARGIN = 1

/**
 * Patroni's dynamic configuration (bootstrap.dcs): cluster-wide, written into etcd when the cluster is
 * bootstrapped and read from there ever after, so a world made by an older atlas keeps that version's
 * values until `up` reconciles them (dynamic-config.ts). Timeouts are short because this is loopback:
 * the leader lease (ttl) bounds how long a dead primary blocks failover, and loop_wait + 2 * retry_timeout
 * must stay below it, so the 4 s lease forces retry_timeout 1. Patroni gives each etcd request at least
 * 1 s, so a frozen member held the leader's HA loop past its 3 s watchdog; libexec/patroni-loopback.py
 * gives each attempt a third of retry_timeout (bench/failover/README.md).
 */
export function patroniDynamicConfig(layout: LocalLayout) {
  return {
    ttl: 4,
    loop_wait: 1,
    retry_timeout: 1,
    maximum_lag_on_failover: 1_048_576,
    // a commit is acknowledged only once a standby has it: losing one region loses no acknowledged write
    synchronous_mode: true,
    // strict: right after a failover no commit is acknowledged until a standby holds it too
    synchronous_mode_strict: true,
    // eu and the witness are both synchronous; Patroni promotes only a synchronous standby, so eu must be one
    synchronous_node_count: Math.max(1, layout.regions.length - 1),
    postgresql: {
      use_pg_rewind: true,
      // no slots: a new leader has none for its followers at first, and they would stall on "slot does not exist";
      // wal_keep_size covers the short outages this world is for
      use_slots: false,
      remove_data_directory_on_rewind_failure: true,
      remove_data_directory_on_diverged_timelines: true,
      parameters: {
        wal_level: 'replica',
        hot_standby: 'on',
        wal_log_hints: 'on',
        max_wal_senders: 10,
        max_replication_slots: 10,
        max_connections: 100,
        wal_keep_size: '128MB',
        // followers reconnect to a new leader within a second, not the default 5 s
        wal_retrieve_retry_interval: '500ms',
        // a frozen standby is dropped from pg_stat_replication within seconds (default 60 s), so Patroni
        // can take it out of the synchronous set instead of every commit waiting for it
        wal_sender_timeout: '1s',
        wal_receiver_timeout: '1s',
      },
    },
  }
}

/** The user of Patroni's REST API (restapi.authentication); its password is the world's restApiPassword. */
const PATRONI_REST_USER = 'patroni'

/** The Basic authorization Patroni's unsafe REST endpoints (PATCH /config, switchover, restart, reload) need. */
export function patroniRestAuthorization(restApiPassword: string): string {
  return `Basic ${Buffer.from(`${PATRONI_REST_USER}:${restApiPassword}`).toString('base64')}`
}

/**
 * Patroni's configuration for one region's node (its timing: patroniDynamicConfig). The watchdog is
 * required: a leader whose Patroni dies or freezes has its PostgreSQL killed
 * ttl - safety_margin seconds after its last keepalive, before its lease expires
 * and another node is promoted, so an orphaned primary never serves past its lease.
 */
export function patroniConfig(
  layout: LocalLayout,
  r: RegionLayout,
  secrets: DatabaseSecrets,
  binDir: string,
): Record<string, unknown> {
  const host = r.address
  const pki = pkiPaths(layout)
  const server = pki.postgresServer(r)
  // libpq settings of Patroni's own connections: verify the server, present the user's certificate
  const tls = (pair: {cert: string; key: string}) => ({
    sslmode: 'verify-full',
    sslrootcert: pki.postgresCaCert,
    sslcert: pair.cert,
    sslkey: pair.key,
  })
  return {
    scope: layout.scope,
    namespace: '/service/',
    name: r.postgresName,
    // reads (GET /cluster, atlas's probe) stay open; anything that changes the cluster needs the password
    restapi: {
      listen: `${host}:${r.patroniApiPort}`,
      connect_address: `${host}:${r.patroniApiPort}`,
      authentication: {username: PATRONI_REST_USER, password: secrets.restApiPassword},
    },
    // every member; Patroni discovers the cluster from them (pinning each node to its own region's member,
    // use_proxies, made a frozen witness stall writes for 8 s instead of 3 s: measured with bench/chaos)
    etcd3: {
      hosts: layout.regions.map((x) => `${x.address}:${x.etcdClientPort}`),
      protocol: 'https',
      cacert: pki.postgresCaCert,
      cert: pki.patroniEtcdClient.cert,
      key: pki.patroniEtcdClient.key,
    },
    bootstrap: {
      dcs: patroniDynamicConfig(layout),
      // no trust anywhere, not even while bootstrapping: initdb's defaults would let any password in
      initdb: [
        // eslint-disable-next-line unicorn/text-encoding-identifier-case -- PostgreSQL's name for the encoding
        {encoding: 'UTF8'},
        {locale: 'C'},
        'data-checksums',
        {'auth-host': 'scram-sha-256'},
        {'auth-local': 'peer'},
      ],
    },
    postgresql: {
      listen: `${host}:${r.postgresPort}`,
      connect_address: `${host}:${r.postgresPort}`,
      data_dir: r.postgresDataDir,
      bin_dir: binDir,
      pgpass: path.join(layout.postgresHome, `pgpass-${r.region.name}`),
      // the whole pg_hba.conf, written by Patroni on every start (bootstrap.pg_hba would only append to initdb's)
      pg_hba: pgHba(layout),
      // a new standby's pg_basebackup asks for an immediate checkpoint, not a spread one (measured: -0.4 s per clone in bench/up)
      basebackup: [{checkpoint: 'fast'}],
      authentication: {
        superuser: {username: 'postgres', password: secrets.superuserPassword, ...tls(pki.patroniSuperuser)},
        replication: {username: 'replicator', password: secrets.replicationPassword, ...tls(pki.patroniReplicator)},
        rewind: {username: 'postgres', password: secrets.superuserPassword, ...tls(pki.patroniSuperuser)},
      },
      parameters: {
        unix_socket_directories: layout.postgresHome,
        password_encryption: 'scram-sha-256',
        ssl: 'on',
        ssl_cert_file: server.cert,
        ssl_key_file: server.key,
        // the CA that client certificates (superuser, replication) must be signed by
        ssl_ca_file: pki.postgresCaCert,
        ssl_min_protocol_version: 'TLSv1.2',
        shared_buffers: '32MB',
        // fast fsync-free writes would break durability claims; keep fsync on, but shorten checkpoints
        checkpoint_timeout: '5min',
      },
    },
    watchdog: {mode: 'required', driver: 'testing', device: r.watchdogDevice, safety_margin: WATCHDOG_SAFETY_MARGIN},
    tags: {nofailover: r.nofailover, noloadbalance: false, clonefrom: false, nosync: false},
    log: {level: 'INFO'},
  }
}

/**
 * pgwire URL of one node for a role (the password is redacted in every output): TLS
 * with the server verified against the world's CA (verify-full: the chain and the
 * address), and for the superuser its client certificate.
 */
export function databaseUrl(
  layout: LocalLayout,
  r: RegionLayout,
  secrets: DatabaseSecrets,
  role: DatabaseRole = 'ledger',
  database = 'postgres',
): string {
  const pki = pkiPaths(layout)
  const params = new URLSearchParams({sslmode: 'verify-full', sslrootcert: pki.caCert})
  if (role === 'admin') {
    params.set('sslcert', pki.atlasPostgresClient.cert)
    params.set('sslkey', pki.atlasPostgresClient.key)
  }

  // URLSearchParams would encode the slashes of the paths; libpq and tlsOptions read them either way, people read them better raw
  const query = [...params].map(([k, v]) => `${k}=${encodeURIComponent(v).replaceAll('%2F', '/')}`).join('&')
  return `postgres://${ROLE_NAMES[role]}:${encodeURIComponent(rolePassword(secrets, role))}@${r.address}:${r.postgresPort}/${database}?${query}`
}

/** the monitoring block starts this far after the cloud endpoint's port */
const MONITORING_PORT_OFFSET = 10

export interface ExporterLayout {
  name: string
  port: number
  region: RegionLayout
}

export interface MonitoringLayout {
  alertmanagerConfigFile: string
  alertmanagerDataDir: string
  alertmanagerPort: number
  configDir: string
  /** the monitoring role's password for the exporters (0600), read by them through DATA_SOURCE_PASS_FILE */
  exporterPasswordFile: string
  exporters: ExporterLayout[]
  host: string
  prometheusConfigFile: string
  prometheusDataDir: string
  prometheusPort: number
  /** the local world's alert rules, shipped with atlas */
  rulesFile: string
  /** a workload run by atlas (blast-radius, `atlas workload`) serves its counters here while it runs */
  workloadMetricsPort: number
}

/**
 * Where the local world's monitoring lives: a world-level port block after the
 * cloud endpoint (moto takes motoPort and motoPort + 1), so the regions' blocks
 * keep their size; configs under <baseDir>/monitoring, data under <baseDir>/data.
 * Pure, like the world's layout: every `up`, `status` and `down` finds the same.
 */
export function monitoringLayout(layout: LocalLayout): MonitoringLayout {
  const first = layout.motoPort + MONITORING_PORT_OFFSET
  const configDir = path.join(layout.baseDir, 'monitoring')
  return {
    host: layout.host,
    prometheusPort: first,
    alertmanagerPort: first + 1,
    workloadMetricsPort: first + 2,
    exporters: layout.regions.map((r, i) => ({
      region: r,
      name: `postgres-exporter-${r.region.name}`,
      port: first + 3 + i,
    })),
    configDir,
    prometheusConfigFile: path.join(configDir, 'prometheus.yml'),
    alertmanagerConfigFile: path.join(configDir, 'alertmanager.yml'),
    prometheusDataDir: path.join(layout.dataDir, 'prometheus'),
    alertmanagerDataDir: path.join(layout.dataDir, 'alertmanager'),
    exporterPasswordFile: path.join(configDir, 'exporter-password'),
    rulesFile: packagePath('monitoring', 'local', 'alert-rules.yaml'),
  }
}

/** The monitoring block's ports, with what listens there (allPorts includes them). */
export function monitoringPorts(layout: LocalLayout): Array<{host: string; owner: string; port: number}> {
  const m = monitoringLayout(layout)
  return [
    {port: m.prometheusPort, owner: 'monitoring: Prometheus', host: m.host},
    {port: m.alertmanagerPort, owner: 'monitoring: Alertmanager', host: m.host},
    {port: m.workloadMetricsPort, owner: 'monitoring: workload metrics', host: m.host},
    ...m.exporters.map((e) => ({port: e.port, owner: `monitoring: ${e.name}`, host: m.host})),
  ]
}

export {type DatabaseRole} from '../types.js'
