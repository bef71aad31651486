// Ledger connections with libpq's TLS parameters against a real PostgreSQL with
// ssl=on, a private CA and `hostssl … cert` for the ledger user: atlas verify,
// workload and ledger serve present the client certificate and verify the
// server; a wrong CA or a missing client certificate is refused with exit 3.
import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {chmod, chown, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {connectLedger} from '../../src/lib/ledger/db.js'
import {postgresOsUser} from '../../src/lib/proc/index.js'
import {CommandRunner} from '../../src/lib/tools/runner.js'
import {parseJsonOutput, REPO_ROOT, runAtlas} from '../helpers/cli.js'
import {startPostgres, type TestPostgres} from '../helpers/postgres.js'

const runner = new CommandRunner()
const openssl = (args: string[], cwd: string) => runner.run('openssl', args, {cwd, timeoutMs: 30_000})

/** A CA, and certificates it signs: name.key + name.crt in dir. */
async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  )
}

async function issue(dir: string, ca: string, name: string, cn: string, ext: string): Promise<void> {
  await writeFile(
    path.join(dir, `${name}.ext`),
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n${ext}\n`,
  )
  await openssl(
    [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  )
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  )
  await chmod(path.join(dir, `${name}.key`), 0o600)
}

interface ErrorJson {
  error: {code: string; exitCode: number; hint?: string; message: string}
}

describe('ledger TLS (real PostgreSQL, ssl=on, cert authentication)', function () {
  this.timeout(180_000)
  let dir: string
  let pg: TestPostgres
  let cwd: string
  const url = (params: Record<string, string>) =>
    `postgresql://ledger@127.0.0.1:${pg.port}/ledger?${Object.entries(params)
      .map(([k, v]) => `${k}=${v}`)
      .join('&')}`
  const file = (name: string) => path.join(dir, name)
  const good = () =>
    url({sslmode: 'verify-full', sslrootcert: file('ca.crt'), sslcert: file('client.crt'), sslkey: file('client.key')})

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-tls-'))
    await chmod(dir, 0o755) // the postgres OS user reads the server's files here
    cwd = await mkdtemp(path.join(os.tmpdir(), 'atlas-tls-cwd-'))
    await makeCa(dir, 'ca')
    await makeCa(dir, 'other-ca')
    await issue(
      dir,
      'ca',
      'server',
      'localhost',
      'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1',
    )
    await issue(dir, 'ca', 'client', 'ledger', 'extendedKeyUsage=clientAuth')
    await issue(dir, 'other-ca', 'stranger', 'ledger', 'extendedKeyUsage=clientAuth')
    // the ledger user may only log in over TLS with a client certificate; atlas sets up
    await writeFile(
      file('pg_hba.conf'),
      ['local all all trust', 'host all atlas 127.0.0.1/32 trust', 'hostssl all ledger 127.0.0.1/32 cert', ''].join(
        '\n',
      ),
    )
    const user = await postgresOsUser()
    if (user)
      for (const f of ['server.crt', 'server.key', 'ca.crt', 'pg_hba.conf']) await chown(file(f), user.uid, user.gid)
    pg = await startPostgres({
      settings: {
        ssl: 'on',
        ssl_cert_file: file('server.crt'),
        ssl_key_file: file('server.key'),
        ssl_ca_file: file('ca.crt'),
        hba_file: file('pg_hba.conf'),
      },
    })
    const admin = await connectLedger(pg.url, {max: 1})
    await admin.unsafe('CREATE ROLE ledger LOGIN')
    await admin.unsafe('CREATE DATABASE ledger OWNER ledger')
    await admin.end()
  })

  after(async () => {
    await pg?.stop()
    await rm(dir, {recursive: true, force: true})
    await rm(cwd, {recursive: true, force: true})
  })

  it('postgres.js alone ignores the libpq file parameters: they reach the server as startup parameters', async () => {
    const {default: postgres} = await import('postgres')
    const attempt = async (db: string) => {
      const sql = postgres(db, {max: 1, connect_timeout: 5, onnotice() {}})
      try {
        await sql`select 1`
        return 'connected'
      } catch (error) {
        return String((error as Error).message)
      } finally {
        await sql.end({timeout: 1})
      }
    }

    // verify-full checks the private CA's chain against Node's public roots
    expect(await attempt(good())).to.match(/self-signed certificate in certificate chain/)
    // without verification no client certificate is presented: cert authentication fails
    const require = url({
      sslmode: 'require',
      sslrootcert: file('ca.crt'),
      sslcert: file('client.crt'),
      sslkey: file('client.key'),
    })
    expect(await attempt(require)).to.equal('connection requires a valid client certificate')
    // and a user who gets past authentication has sslrootcert refused as a server setting
    expect(await attempt(`${pg.url}?sslmode=require&sslrootcert=${file('ca.crt')}`)).to.equal(
      'unrecognized configuration parameter "sslrootcert"',
    )
  })

  it('ledger init, workload and verify connect with verify-full and the client certificate', async () => {
    const init = await runAtlas(['ledger', 'init', '--db', good(), '--accounts', '10', '--json'], {cwd})
    expect(init.exitCode, init.stdout + init.stderr).to.equal(0)
    const runDir = path.join(cwd, 'run')
    const workload = await runAtlas(
      ['workload', '--db', good(), '--count', '40', '-n', '2', '--no-audit', '--run-dir', runDir, '--json'],
      {cwd},
    )
    expect(workload.exitCode, workload.stdout + workload.stderr).to.equal(0)
    const verify = await runAtlas(['verify', '--ledger-balance', '--db', good(), '--run-dir', runDir, '--json'], {cwd})
    expect(verify.exitCode, verify.stdout + verify.stderr).to.equal(0)
  })

  it('refuses a server certificate from another CA with exit 3 and a hint', async () => {
    const wrongCa = url({
      sslmode: 'verify-full',
      sslrootcert: file('other-ca.crt'),
      sslcert: file('client.crt'),
      sslkey: file('client.key'),
    })
    for (const args of [
      ['verify', '--ledger-balance'],
      ['workload', '--count', '5', '--no-audit'],
    ]) {
      const result = await runAtlas([...args, '--db', wrongCa, '--json'], {cwd})
      expect(result.exitCode, `${args[0]}: ${result.stdout}${result.stderr}`).to.equal(3)
      const body = parseJsonOutput<ErrorJson>(result)
      expect(body.error.code).to.equal('DATABASE_TLS_REJECTED')
      expect(body.error.message).to.match(/self-signed certificate in certificate chain/)
      expect(body.error.hint).to.match(/sslrootcert must be the CA/)
    }
  })

  it('refuses a login without a client certificate, or with one from a CA the server does not trust, with exit 3', async () => {
    const noCert = url({sslmode: 'verify-full', sslrootcert: file('ca.crt')})
    const none = await runAtlas(['verify', '--ledger-balance', '--db', noCert, '--json'], {cwd})
    expect(none.exitCode, none.stdout + none.stderr).to.equal(3)
    const body = parseJsonOutput<ErrorJson>(none)
    expect(body.error.code).to.equal('DATABASE_LOGIN_REFUSED')
    expect(body.error.message).to.match(/connection requires a valid client certificate/)
    expect(body.error.hint).to.match(/client certificate/)
    const stranger = url({
      sslmode: 'verify-full',
      sslrootcert: file('ca.crt'),
      sslcert: file('stranger.crt'),
      sslkey: file('stranger.key'),
    })
    const foreign = await runAtlas(['verify', '--ledger-balance', '--db', stranger, '--json'], {cwd})
    expect(foreign.exitCode, foreign.stdout + foreign.stderr).to.equal(3)
    expect(parseJsonOutput<ErrorJson>(foreign).error.code).to.equal('DATABASE_TLS_REJECTED')
  })

  it('verify-full accepts the host by the name in the certificate, and a server session shows the client certificate', async () => {
    const byName = good().replace('@127.0.0.1:', '@localhost:')
    const sql = await connectLedger(byName, {max: 1})
    try {
      const [row] = await sql.unsafe('SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
      expect(row).to.deep.equal({ssl: true, client_dn: '/CN=ledger'})
    } finally {
      await sql.end()
    }
  })

  it('ledger serve connects with the client certificate, and refuses the wrong CA with exit 3', async () => {
    const serveArgs = (db: string) => [
      path.join(REPO_ROOT, 'bin', 'run.js'),
      'ledger',
      'serve',
      '--db',
      db,
      '--endpoint',
      'http://127.0.0.1:9',
      '--queue-url',
      'http://127.0.0.1:9/000000000000/atlas-transactions-us',
      '--audit-bucket',
      'atlas-audit-us',
      '--port',
      '0',
      '--no-replicate-audit',
    ]
    const wrong = await runAtlas(serveArgs(good().replace('ca.crt', 'other-ca.crt')).slice(1), {cwd})
    expect(wrong.exitCode, wrong.stdout + wrong.stderr).to.equal(3)
    expect(wrong.stderr).to.match(/TLS with the database failed/)
    const child = spawn(process.execPath, serveArgs(good()), {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test'},
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    try {
      const deadline = Date.now() + 60_000
      while (!/listening on/.test(out)) {
        if (child.exitCode !== null) throw new Error(`ledger serve exited ${child.exitCode}: ${out}`)
        if (Date.now() > deadline) throw new Error(`ledger serve did not start: ${out}`)
        await new Promise((r) => setTimeout(r, 100))
      }

      const httpUrl = /listening on (http:\/\/\S+?);/.exec(out)![1]
      // the database half of readiness: the service reached PostgreSQL over TLS as ledger
      const health = await fetch(`${httpUrl}/healthz`)
      expect(health.status).to.equal(200)
    } finally {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    }
  })
})
