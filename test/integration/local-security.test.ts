// The local world's security on real processes (etcd, Patroni, PostgreSQL): no way
// in without the right credential. PostgreSQL takes TLS connections only, verified
// against the world's CA; the superuser needs a password and a client certificate;
// the least-privilege roles can do only what the ledger needs; etcd requires a
// client certificate; key and secret files are 0600; no secret in argv, logs or --json.
import {expect} from 'chai'
import {execa} from 'execa'
import {mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {PreconditionError} from '../../src/lib/errors.js'
import {connectLedger} from '../../src/lib/ledger/db.js'
import {CommandRunner} from '../../src/lib/tools/runner.js'
import {localLayout} from '../../src/lib/world/local/layout.js'
import {pkiPaths} from '../../src/lib/world/local/pki.js'
import {parseJsonOutput} from '../helpers/cli.js'
import {createTestWorld, processesMentioning, type TestWorld} from '../helpers/world.js'

interface Secrets {
  ledgerPassword: string
  replicationPassword: string
  restApiPassword: string
  superuserPassword: string
  verifyPassword: string
}

describe('local world security (real etcd, Patroni, PostgreSQL)', function () {
  this.timeout(240_000)
  let world: TestWorld
  let secrets: Secrets
  let port: number
  let etcdPort: number
  let host: string
  let pki: ReturnType<typeof pkiPaths>
  let strangerDir: string

  const url = (user: string, password: string, params: Record<string, string>) =>
    `postgres://${user}:${encodeURIComponent(password)}@${host}:${port}/postgres?${Object.entries(params)
      .map(([k, v]) => `${k}=${v}`)
      .join('&')}`
  const verifyFull = () => ({sslmode: 'verify-full', sslrootcert: pki.caCert})
  const adminCert = () => ({sslcert: pki.atlasPostgresClient.cert, sslkey: pki.atlasPostgresClient.key})

  /** the error connectLedger throws for a URL, or undefined when it connected */
  async function refusal(db: string): Promise<Error | PreconditionError | undefined> {
    try {
      const sql = await connectLedger(db, {max: 1, connectTimeoutSeconds: 5})
      await sql`select 1`
      await sql.end({timeout: 1})
      return undefined
    } catch (error) {
      return error as Error
    }
  }

  async function asRole(
    user: string,
    password: string,
    statement: string,
  ): Promise<undefined | {code?: string; message: string}> {
    const sql = await connectLedger(url(user, password, verifyFull()), {max: 1})
    try {
      await sql.unsafe(statement)
      return undefined
    } catch (error) {
      return {code: (error as {code?: string}).code, message: (error as Error).message}
    } finally {
      await sql.end({timeout: 1})
    }
  }

  before(async () => {
    world = await createTestWorld('security')
    const up = await world.atlas(['up'])
    expect(up.exitCode, up.stderr).to.equal(0)
    const layout = localLayout(world.config, world.baseDir)
    pki = pkiPaths(layout)
    port = layout.regions.find((r) => r.region.name === 'us')!.postgresPort
    etcdPort = layout.regions[0].etcdClientPort
    // us listens on its own address (layout.ts regionAddress), etcd-us too
    host = layout.regions[0].address
    secrets = JSON.parse(await readFile(layout.secretsFile, 'utf8')) as Secrets
    // a CA of someone else's, with a certificate for the superuser's name
    strangerDir = await mkdtemp(path.join(os.tmpdir(), 'atlas-stranger-'))
    const openssl = (args: string[]) => new CommandRunner().run('openssl', args, {cwd: strangerDir, timeoutMs: 30_000})
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    await openssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=stranger CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ])
    await writeFile(path.join(strangerDir, 'client.ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n')
    await openssl(['req', '-new', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=postgres'])
    await openssl([
      'x509',
      '-req',
      '-in',
      'client.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-set_serial',
      '7',
      '-days',
      '2',
      '-extfile',
      'client.ext',
      '-out',
      'client.crt',
    ])
    await execa('chmod', ['600', path.join(strangerDir, 'client.key')])
  })

  after(async () => {
    if (strangerDir) await rm(strangerDir, {recursive: true, force: true})
    await world?.destroy()
  })

  it('accepts each role over TLS with the server verified against the world CA (verify-full)', async () => {
    expect(await refusal(url('atlas_ledger', secrets.ledgerPassword, verifyFull()))).to.equal(undefined)
    expect(await refusal(url('atlas_verify', secrets.verifyPassword, verifyFull()))).to.equal(undefined)
    expect(await refusal(url('postgres', secrets.superuserPassword, {...verifyFull(), ...adminCert()}))).to.equal(
      undefined,
    )
    // Patroni's replication connections are TLS too
    const sql = await connectLedger(url('postgres', secrets.superuserPassword, {...verifyFull(), ...adminCert()}), {
      max: 1,
    })
    try {
      const rows = await sql.unsafe('SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)')
      expect(rows.map((r) => r.ssl)).to.deep.equal([true, true])
    } finally {
      await sql.end({timeout: 1})
    }
  })

  it('refuses a plain-text connection: no pg_hba entry without TLS', async () => {
    const error = await refusal(url('atlas_ledger', secrets.ledgerPassword, {sslmode: 'disable'}))
    expect(error).to.be.instanceOf(PreconditionError)
    expect((error as PreconditionError).code).to.equal('DATABASE_LOGIN_REFUSED')
    expect(error!.message).to.match(/no pg_hba\.conf entry .*no encryption/)
    // psql (libpq) too, with the right password
    const psql = await execa('psql', ['-Atc', 'select 1'], {
      reject: false,
      env: {
        PGHOST: host,
        PGPORT: String(port),
        PGUSER: 'atlas_verify',
        PGPASSWORD: secrets.verifyPassword,
        PGDATABASE: 'postgres',
        PGSSLMODE: 'disable',
      },
    })
    expect(psql.exitCode).to.not.equal(0)
    expect(psql.stderr).to.match(/no pg_hba\.conf entry .*no encryption/)
  })

  it('refuses a wrong password', async () => {
    for (const user of ['atlas_ledger', 'atlas_verify']) {
      const error = await refusal(url(user, 'not-the-password', verifyFull()))
      expect((error as PreconditionError).code, error?.message).to.equal('DATABASE_LOGIN_REFUSED')
      expect(error!.message).to.match(/password authentication failed/)
    }

    const admin = await refusal(url('postgres', 'not-the-password', {...verifyFull(), ...adminCert()}))
    expect((admin as PreconditionError).code).to.equal('DATABASE_LOGIN_REFUSED')
  })

  it('refuses the superuser with its password but no client certificate, or a certificate for another name', async () => {
    const none = await refusal(url('postgres', secrets.superuserPassword, verifyFull()))
    expect((none as PreconditionError).code, none?.message).to.equal('DATABASE_LOGIN_REFUSED')
    expect(none!.message).to.match(/certificate/)
    // a certificate of the world's CA for another name (CN=atlas, etcd's client) with the superuser's password:
    // clientcert=verify-full compares the CN with the user (the server tells the client only "authentication failed")
    const otherName = await refusal(
      url('postgres', secrets.superuserPassword, {
        ...verifyFull(),
        sslcert: pki.atlasEtcdClient.cert,
        sslkey: pki.atlasEtcdClient.key,
      }),
    )
    expect((otherName as PreconditionError).code, otherName?.message).to.equal('DATABASE_LOGIN_REFUSED')
  })

  it('refuses a client certificate of another CA, and a client that trusts another CA refuses the server', async () => {
    const stranger = await refusal(
      url('postgres', secrets.superuserPassword, {
        ...verifyFull(),
        sslcert: path.join(strangerDir, 'client.crt'),
        sslkey: path.join(strangerDir, 'client.key'),
      }),
    )
    expect((stranger as PreconditionError).code, stranger?.message).to.equal('DATABASE_TLS_REJECTED')
    const wrongCa = await refusal(
      url('atlas_ledger', secrets.ledgerPassword, {
        sslmode: 'verify-full',
        sslrootcert: path.join(strangerDir, 'ca.crt'),
      }),
    )
    expect((wrongCa as PreconditionError).code, wrongCa?.message).to.equal('DATABASE_TLS_REJECTED')
  })

  it('the ledger role may insert transfers and move balances, nothing more; the verify role only reads', async () => {
    const denied = (r: undefined | {code?: string}) => expect(r?.code, JSON.stringify(r)).to.equal('42501')
    denied(await asRole('atlas_ledger', secrets.ledgerPassword, 'DELETE FROM transfers'))
    denied(await asRole('atlas_ledger', secrets.ledgerPassword, 'DELETE FROM accounts WHERE id = 1'))
    denied(await asRole('atlas_ledger', secrets.ledgerPassword, 'TRUNCATE transfers'))
    denied(await asRole('atlas_ledger', secrets.ledgerPassword, 'UPDATE accounts SET opening_balance = 0 WHERE id = 1'))
    denied(await asRole('atlas_ledger', secrets.ledgerPassword, 'UPDATE transfers SET amount = 1'))
    denied(await asRole('atlas_ledger', secrets.ledgerPassword, 'UPDATE ledger_mint SET total = 0'))
    denied(await asRole('atlas_ledger', secrets.ledgerPassword, 'CREATE TABLE evil (id int)'))
    denied(await asRole('atlas_ledger', secrets.ledgerPassword, 'CREATE TEMP TABLE evil (id int)'))
    expect(await asRole('atlas_ledger', secrets.ledgerPassword, 'SELECT balance FROM accounts WHERE id = 1')).to.equal(
      undefined,
    )
    denied(
      await asRole(
        'atlas_verify',
        secrets.verifyPassword,
        "INSERT INTO transfers (id, from_account, to_account, amount, origin_region) VALUES (gen_random_uuid(), 1, 2, 1, 'us')",
      ),
    )
    denied(
      await asRole('atlas_verify', secrets.verifyPassword, 'UPDATE accounts SET balance = balance + 1 WHERE id = 1'),
    )
    denied(await asRole('atlas_verify', secrets.verifyPassword, 'DELETE FROM transfers'))
    expect(await asRole('atlas_verify', secrets.verifyPassword, 'SELECT count(*) FROM transfers')).to.equal(undefined)
    // what the ledger does works as these roles: a workload (atlas_ledger) and verify (atlas_verify)
    const workload = await world.atlas(['workload', '--count', '50', '--json'])
    expect(workload.exitCode, workload.stderr).to.equal(0)
    const verify = await world.atlas(['verify', '--ledger-balance', '--json'])
    expect(verify.exitCode, verify.stderr).to.equal(0)
  })

  it('PUBLIC holds no CONNECT, TEMP or CREATE on any database: the application roles reach the ledger database only', async () => {
    const admin = await connectLedger(url('postgres', secrets.superuserPassword, {...verifyFull(), ...adminCert()}), {
      max: 1,
    })
    try {
      const open = await admin.unsafe(
        `SELECT datname, p FROM pg_database, unnest(ARRAY['CONNECT', 'TEMP', 'CREATE']) AS p
          WHERE datallowconn AND has_database_privilege('public', oid, p) ORDER BY 1, 2`,
      )
      expect(open.map((r) => `${r.datname}:${r.p}`)).to.deep.equal([])
      const [schema] = await admin.unsafe(`SELECT has_schema_privilege('public', 'public', 'CREATE') AS create`)
      expect(schema.create).to.equal(false)
    } finally {
      await admin.end({timeout: 1})
    }

    // neither application role gets into template1, the model every new database copies
    for (const [user, password] of [
      ['atlas_ledger', secrets.ledgerPassword],
      ['atlas_verify', secrets.verifyPassword],
    ]) {
      const error = await refusal(url(user, password, verifyFull()).replace('/postgres?', '/template1?'))
      expect(error?.message, user).to.match(/permission denied for database "?template1"?/)
    }
  })

  it('etcd refuses a client without a certificate, plain HTTP and a certificate of another CA', async () => {
    const https = await import('node:https')
    const ca = await readFile(pki.caCert, 'utf8')
    const post = (options: {cert?: string; key?: string}) =>
      new Promise<number>((resolve, reject) => {
        const req = https.request(
          `https://${host}:${etcdPort}/v3/maintenance/status`,
          {method: 'POST', ca, ...options, timeout: 5000},
          (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          },
        )
        req.on('error', reject)
        req.on('timeout', () => req.destroy(new Error('timeout')))
        req.end('{}')
      })
    expect(
      await post({
        cert: await readFile(pki.atlasEtcdClient.cert, 'utf8'),
        key: await readFile(pki.atlasEtcdClient.key, 'utf8'),
      }),
    ).to.equal(200)
    const noCert = await post({}).then(String, (error: Error) => error.message)
    expect(noCert).to.match(/certificate required|bad certificate|socket hang up|ECONNRESET/)
    const stranger = await post({
      cert: await readFile(path.join(strangerDir, 'client.crt'), 'utf8'),
      key: await readFile(path.join(strangerDir, 'client.key'), 'utf8'),
    }).then(String, (error: Error) => error.message)
    expect(stranger).to.match(/unknown certificate authority|bad certificate|socket hang up|ECONNRESET/)
    const plain = await fetch(`http://${host}:${etcdPort}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      signal: AbortSignal.timeout(5000),
    }).then(
      (r) => String(r.status),
      (error: Error) => error.message,
    )
    expect(plain).to.not.equal('200')
    // etcd's peer port as well: it answers a certificate of the world's CA (so it is the live peer
    // listener), and refuses none or one of another CA during the handshake
    const peer = (options: {cert?: string; key?: string}) =>
      new Promise<string>((resolve) => {
        const req = https.request(`https://${host}:${etcdPort + 1}/members`, {ca, ...options, timeout: 5000}, (res) => {
          res.resume()
          resolve(String(res.statusCode))
        })
        req.on('error', (e) => resolve(e.message))
        req.end()
      })
    expect(
      await peer({
        cert: await readFile(pki.atlasEtcdClient.cert, 'utf8'),
        key: await readFile(pki.atlasEtcdClient.key, 'utf8'),
      }),
    ).to.equal('200')
    expect(await peer({})).to.match(/certificate required|bad certificate|socket hang up|ECONNRESET/)
    expect(
      await peer({
        cert: await readFile(path.join(strangerDir, 'client.crt'), 'utf8'),
        key: await readFile(path.join(strangerDir, 'client.key'), 'utf8'),
      }),
    ).to.match(/unknown certificate authority|bad certificate|socket hang up|ECONNRESET/)
  })

  it('keeps keys and secrets 0600 in 0700 directories', async () => {
    const layout = localLayout(world.config, world.baseDir)
    const files = [layout.secretsFile, ...layout.regions.map((r) => r.patroniConfigFile)]
    for (const dir of [pki.dir, pki.postgresDir]) {
      expect(((await stat(dir)).mode & 0o777).toString(8), dir).to.equal('700')
      for (const name of await readdir(dir)) files.push(path.join(dir, name))
    }

    for (const name of await readdir(layout.postgresHome))
      if (name.startsWith('pgpass-')) files.push(path.join(layout.postgresHome, name))
    expect(files.filter((f) => f.endsWith('.key'))).to.have.length.greaterThan(8)
    for (const file of files) expect(((await stat(file)).mode & 0o777).toString(8), file).to.equal('600')
    for (const dir of [layout.postgresHome, layout.pidDir, layout.logDir, layout.dataDir])
      expect(((await stat(dir)).mode & 0o777).toString(8), dir).to.equal('700')
  })

  it("no password in any process argv, log file, --json output, env --json or a run's report", async () => {
    const passwords = Object.values(secrets)
    // a round that writes a report (report.json, report.md, the run log and picture) into the run directory
    const round = await world.atlas(['blast-radius', '--region', 'witness', '--duration', '3s', '--json'])
    expect(round.exitCode, round.stderr).to.equal(0)
    for (const secret of passwords) expect(round.stdout + round.stderr, 'blast-radius --json').to.not.contain(secret)
    const runFiles = (await readdir(path.join(world.baseDir, 'runs'), {recursive: true, withFileTypes: true}))
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath, e.name))
    expect(runFiles.map((f) => path.basename(f))).to.include.members(['report.json', 'report.md'])
    for (const file of runFiles) {
      const text = await readFile(file, 'utf8')
      for (const secret of passwords) expect(text.includes(secret), `${file} holds a password`).to.equal(false)
    }

    for (const p of await processesMentioning(world.baseDir))
      for (const secret of passwords) expect(p.cmdline, `argv of pid ${p.pid}`).to.not.contain(secret)
    const logDir = path.join(world.baseDir, 'logs')
    for (const name of await readdir(logDir)) {
      const text = await readFile(path.join(logDir, name), 'utf8')
      for (const secret of passwords) expect(text.includes(secret), `${name} holds a password`).to.equal(false)
    }

    for (const args of [
      ['status', '--json'],
      ['up', '--json'],
      ['env', '--json'],
      ['env', '--role', 'admin', '--json'],
    ]) {
      const result = await world.atlas(args)
      expect(result.exitCode, result.stderr).to.equal(0)
      for (const secret of passwords) expect(result.stdout + result.stderr, args.join(' ')).to.not.contain(secret)
    }

    const env = parseJsonOutput<{env: Record<string, string>; role: string}>(await world.atlas(['env', '--json']))
    expect(env.role).to.equal('verify')
    expect(env.env).to.include({PGUSER: 'atlas_verify', PGSSLMODE: 'verify-full', PGSSLROOTCERT: pki.caCert})
  })

  it('psql through `atlas psql` uses the read-only role and verify-full; --role admin reaches the superuser with its certificate', async () => {
    const ro = await world.atlas([
      'psql',
      '--',
      '-Atc',
      'select current_user, (select ssl from pg_stat_ssl where pid = pg_backend_pid())',
    ])
    expect(ro.exitCode, ro.stderr).to.equal(0)
    expect(ro.stdout.trim()).to.equal('atlas_verify|t')
    const admin = await world.atlas([
      'psql',
      '--role',
      'admin',
      '--',
      '-Atc',
      'select current_user, (select client_dn from pg_stat_ssl where pid = pg_backend_pid())',
    ])
    expect(admin.exitCode, admin.stderr).to.equal(0)
    expect(admin.stdout.trim()).to.equal('postgres|/CN=postgres')
  })

  it("Patroni's REST API answers reads, and refuses a switchover or a configuration change without its password", async () => {
    const api = `http://${host}:${port + 1}`
    expect((await fetch(`${api}/cluster`, {signal: AbortSignal.timeout(5000)})).status).to.equal(200)
    const patch = await fetch(`${api}/config`, {
      method: 'PATCH',
      body: JSON.stringify({postgresql: {parameters: {log_statement: 'all'}}}),
      signal: AbortSignal.timeout(5000),
    })
    expect(patch.status).to.equal(401)
    const switchover = await fetch(`${api}/switchover`, {
      method: 'POST',
      body: JSON.stringify({leader: 'pg-us'}),
      signal: AbortSignal.timeout(5000),
    })
    expect(switchover.status).to.equal(401)
  })
})
