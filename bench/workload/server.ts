import {existsSync} from 'node:fs'
/**
 * The throwaway PostgreSQL the workload benches run against, and pgbench on it. By default it is
 * reached as the world reaches its databases: TLS (`hostssl` only, server certificate from a CA
 * of its own) verified with sslmode=verify-full, by pgbench (libpq) and by the Node clients
 * alike. BENCH_TLS=off: plain TCP for both. Authentication is trust for both (it costs only at
 * connection time, which neither tps figure includes).
 */
import {chmod, chown, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {tlsOptions} from '../../src/lib/ledger/db.js'
import * as q from '../../src/lib/ledger/sql.js'
import {postgresOsUser} from '../../src/lib/proc/index.js'
import {CommandRunner} from '../../src/lib/tools/runner.js'
import {startPostgres} from '../../test/helpers/postgres.js'

const runner = new CommandRunner()
/** client CPU of pgbench, from /usr/bin/time (user + system seconds), when it is installed */
const timeTool = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined

export interface BenchServer {
  host: string
  /** environment for libpq (pgbench): TLS mode and CA */
  libpqEnv: Record<string, string>
  /** node-postgres: connection string and its ssl option */
  pgSsl?: {ca: string}
  pgUrl: string
  port: number
  postgresJsOptions: {ssl?: ReturnType<typeof tlsOptions>['ssl']}
  /** postgres.js: URL without libpq's TLS parameters, and the ssl option connectLedger would give it */
  postgresJsUrl: string
  stop(): Promise<void>
  tls: 'off' | 'verify-full'
  /** what atlas is given (--db) */
  url: string
}

const openssl = (args: string[], cwd: string) => runner.run('openssl', args, {cwd, timeoutMs: 30_000})

export async function benchServer(settings: Record<string, number | string> = {}): Promise<BenchServer> {
  const tls = process.env.BENCH_TLS === 'off' ? 'off' : 'verify-full'
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-bench-pg-'))
  const base = {max_connections: 100, shared_buffers: '128MB', ...settings}
  if (tls === 'off') {
    const pg = await startPostgres({settings: base})
    return {
      tls,
      host: pg.host,
      port: pg.port,
      url: pg.url,
      postgresJsUrl: pg.url,
      postgresJsOptions: {},
      pgUrl: pg.url,
      libpqEnv: {PGSSLMODE: 'disable'},
      async stop() {
        await pg.stop()
        await rm(dir, {recursive: true, force: true})
      },
    }
  }

  await chmod(dir, 0o755) // the postgres OS user reads the server's files here
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=atlas-bench-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  )
  await writeFile(
    path.join(dir, 'server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
  )
  await openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
      '-subj',
      '/CN=localhost',
    ],
    dir,
  )
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'server.ext',
      '-out',
      'server.crt',
    ],
    dir,
  )
  await chmod(path.join(dir, 'server.key'), 0o600)
  // TCP only with TLS, as in the world (its pg_hba has hostssl lines only)
  await writeFile(path.join(dir, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n')
  const user = await postgresOsUser()
  if (user)
    for (const f of ['server.crt', 'server.key', 'ca.crt', 'pg_hba.conf'])
      await chown(path.join(dir, f), user.uid, user.gid)
  const file = (name: string) => path.join(dir, name)
  const pg = await startPostgres({
    settings: {
      ...base,
      ssl: 'on',
      ssl_cert_file: file('server.crt'),
      ssl_key_file: file('server.key'),
      hba_file: file('pg_hba.conf'),
    },
  })
  const url = `${pg.url}?sslmode=verify-full&sslrootcert=${file('ca.crt')}`
  const {url: postgresJsUrl, ssl} = tlsOptions(url)
  const {readFile} = await import('node:fs/promises')
  return {
    tls,
    host: pg.host,
    port: pg.port,
    url,
    postgresJsUrl,
    postgresJsOptions: {ssl},
    pgUrl: pg.url,
    pgSsl: {ca: await readFile(file('ca.crt'), 'utf8')},
    libpqEnv: {PGSSLMODE: 'verify-full', PGSSLROOTCERT: file('ca.crt')},
    async stop() {
      await pg.stop()
      await rm(dir, {recursive: true, force: true})
    },
  }
}

/** The same statement, with pgbench variables in place of the bind parameters. */
export function pgbenchScript(accounts: number, maxAmount: number): string {
  const statement = q.TRANSFER.replace('$1', 'gen_random_uuid()')
    .replaceAll('$2', ':from_account')
    .replaceAll('$3', ':to_account')
    .replaceAll('$4', ':amount')
    .replaceAll('$5', "'us'")
    .replaceAll(/\s*\n\s*/g, ' ')
  // the workload picks distinct accounts the same way: to is drawn from N-1 and shifted past from
  return [
    `\\set from_account random(1, ${accounts})`,
    `\\set to_account random(1, ${accounts - 1})`,
    String.raw`\if :to_account >= :from_account`,
    String.raw`\set to_account :to_account + 1`,
    String.raw`\endif`,
    `\\set amount random(1, ${maxAmount})`,
    `${statement};`,
    '',
  ].join('\n')
}

export interface PgbenchRun {
  /** client CPU per transfer (µs), from /usr/bin/time */
  cpuUs?: number
  failed: number
  retries: number
  /** of which in the kernel (system time) */
  sysUs?: number
  tps: number
}

/**
 * pgbench -M prepared (extended protocol, named prepared statement, as the workload) with
 * SERIALIZABLE as the session default and up to 10 tries of a serialization failure.
 * `threads`: 1 is pgbench's default (one thread multiplexing all clients, like Node's event loop).
 */
export async function runPgbench(
  server: BenchServer,
  o: {accounts: number; clients: number; maxAmount: number; seconds: number; threads?: number},
): Promise<PgbenchRun> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-pgbench-'))
  try {
    const script = path.join(dir, 'transfer.sql')
    await writeFile(script, pgbenchScript(o.accounts, o.maxAmount))
    const args = [
      '-n',
      '-M',
      'prepared',
      '-c',
      String(o.clients),
      '-j',
      String(Math.min(o.clients, o.threads ?? 1)),
      '-T',
      String(o.seconds),
      '--max-tries=10',
      '-f',
      script,
      '-h',
      server.host,
      '-p',
      String(server.port),
      '-U',
      'atlas',
      'postgres',
    ]
    const bench = await runner.run(
      timeTool ?? 'pgbench',
      timeTool ? ['-f', 'client CPU %U %S', 'pgbench', ...args] : args,
      {
        env: {PGOPTIONS: '-c default_transaction_isolation=serializable', ...server.libpqEnv},
        timeoutMs: (o.seconds + 60) * 1000,
      },
    )
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(bench.stdout)?.[1])
    const processed = Number(/number of transactions actually processed: (\d+)/.exec(bench.stdout)?.[1])
    const cpu = /client CPU ([\d.]+) ([\d.]+)/.exec(bench.stderr)
    return {
      tps,
      retries: Number(/number of transactions retried: (\d+)/.exec(bench.stdout)?.[1] ?? 0),
      failed: Number(/number of failed transactions: (\d+)/.exec(bench.stdout)?.[1] ?? 0),
      cpuUs: cpu ? ((Number(cpu[1]) + Number(cpu[2])) * 1e6) / processed : undefined,
      sysUs: cpu ? (Number(cpu[2]) * 1e6) / processed : undefined,
    }
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}
