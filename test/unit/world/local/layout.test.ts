import {expect} from 'chai'

import {DEFAULT_CONFIG} from '../../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../../src/lib/config/load.js'
import {tlsOptions} from '../../../../src/lib/ledger/db.js'
import {
  allPorts,
  databaseUrl,
  etcdArgs,
  localLayout,
  patroniConfig,
  pgHba,
} from '../../../../src/lib/world/local/layout.js'
import {grantStatements, scramVerifier} from '../../../../src/lib/world/local/roles.js'

const config = parseConfigObject({...DEFAULT_CONFIG, local: {basePort: 30_000}})
const layout = localLayout(config, '/tmp/atlas-layout-test')
const secrets = {
  superuserPassword: 'su-secret-value',
  replicationPassword: 'repl-secret-value',
  ledgerPassword: 'ledger-secret-value',
  verifyPassword: 'verify-secret-value',
  restApiPassword: 'rest-secret-value',
}

describe('local world layout', () => {
  it('gives each region its own loopback address, derived from local.host; shared services keep the world address', () => {
    expect(layout.regions.map((r) => r.address)).to.deep.equal(['127.0.1.1', '127.0.2.1', '127.0.3.1'])
    expect(layout.host).to.equal('127.0.0.1')
    const shifted = localLayout(
      parseConfigObject({...DEFAULT_CONFIG, local: {basePort: 30_000, host: '127.5.10.7'}}),
      '/tmp/x',
    )
    expect(shifted.regions.map((r) => r.address)).to.deep.equal(['127.5.11.7', '127.5.12.7', '127.5.13.7'])
    expect(() =>
      localLayout(parseConfigObject({...DEFAULT_CONFIG, local: {basePort: 30_000, host: '127.0.254.1'}}), '/tmp/x'),
    ).to.throw(/leaves no room/)
    expect(allPorts(layout).find((p) => p.owner.startsWith('moto'))!.host).to.equal('127.0.0.1')
    expect(allPorts(layout).find((p) => p.owner === 'pg-eu PostgreSQL')!.host).to.equal('127.0.2.1')
  })

  it('pg_hba admits exactly the loopback source address, the world address and the region addresses', () => {
    const nets = new Set(
      pgHba(layout)
        .filter((l) => l.startsWith('hostssl'))
        .map((l) => l.split(/\s+/)[3]),
    )
    expect([...nets].sort()).to.deep.equal(['127.0.0.1/32', '127.0.1.1/32', '127.0.2.1/32', '127.0.3.1/32'])
  })

  it('gives every process its own port from the configured block, the cloud endpoint after the regions, then the monitoring block', () => {
    const ports = allPorts(layout).map((p) => p.port)
    expect(new Set(ports).size).to.equal(ports.length)
    expect(Math.min(...ports)).to.equal(30_000)
    expect(layout.motoPort).to.equal(30_060)
    const core = allPorts(layout)
      .filter((p) => !p.owner.startsWith('monitoring:'))
      .map((p) => p.port)
    expect(Math.max(...core)).to.equal(layout.motoPort)
    // Prometheus, Alertmanager, the workload's metrics, an exporter per region; after moto's HTTPS port (motoPort + 1)
    const monitoring = allPorts(layout)
      .filter((p) => p.owner.startsWith('monitoring:'))
      .map((p) => p.port)
    expect(monitoring).to.deep.equal([30_070, 30_071, 30_072, 30_073, 30_074, 30_075])
  })

  it('runs one etcd member per region in one three-member cluster with pre-vote', () => {
    const args = etcdArgs(layout, layout.regions[0])
    expect(args).to.include('--pre-vote')
    const cluster = args[args.indexOf('--initial-cluster') + 1]
    expect(cluster.split(',')).to.deep.equal([
      'etcd-us=https://127.0.1.1:30001',
      'etcd-eu=https://127.0.2.1:30021',
      'etcd-witness=https://127.0.3.1:30041',
    ])
    expect(args[args.indexOf('--data-dir') + 1]).to.equal('/tmp/atlas-layout-test/data/etcd-us')
  })

  it('configures Patroni on etcd3 with synchronous replication that includes eu, and a nofailover witness', () => {
    const [us, eu, witness] = layout.regions.map(
      (r) => patroniConfig(layout, r, secrets, '/usr/lib/postgresql/15/bin') as Record<string, any>,
    )
    expect(us.etcd3.hosts).to.deep.equal(['127.0.1.1:30000', '127.0.2.1:30020', '127.0.3.1:30040'])
    expect(us).to.not.have.property('etcd')
    const {dcs} = us.bootstrap
    expect(dcs.synchronous_mode).to.equal(true)
    expect(dcs.synchronous_mode_strict).to.equal(true)
    // Patroni promotes only a synchronous standby: with the witness never leading, eu must be one too
    expect(dcs.synchronous_node_count).to.equal(2)
    expect(witness.tags.nofailover).to.equal(true)
    expect(us.tags.nofailover).to.equal(false)
    expect(eu.tags.nofailover).to.equal(false)
    // Patroni's rule: loop_wait + 2 * retry_timeout <= ttl
    expect(dcs.loop_wait + 2 * dcs.retry_timeout).to.be.at.most(dcs.ttl)
    expect(eu.postgresql.listen).to.equal('127.0.2.1:30022')
    expect(eu.postgresql.connect_address).to.equal('127.0.2.1:30022')
    expect(eu.restapi.listen).to.equal('127.0.2.1:30023')
    expect(eu.restapi.connect_address).to.equal('127.0.2.1:30023')
  })

  it('runs etcd with TLS for clients and peers, a certificate of the world CA required on both sides', () => {
    const args = etcdArgs(layout, layout.regions[1])
    const value = (flag: string) => args[args.indexOf(flag) + 1]
    for (const flag of [
      '--listen-client-urls',
      '--advertise-client-urls',
      '--listen-peer-urls',
      '--initial-advertise-peer-urls',
    ])
      expect(value(flag)).to.match(/^https:\/\//)
    expect(args).to.include('--client-cert-auth').and.include('--peer-client-cert-auth')
    expect(value('--trusted-ca-file')).to.equal('/tmp/atlas-layout-test/pki/ca.crt')
    expect(value('--peer-trusted-ca-file')).to.equal('/tmp/atlas-layout-test/pki/ca.crt')
    expect(value('--cert-file')).to.equal('/tmp/atlas-layout-test/pki/etcd-eu.crt')
    expect(value('--peer-key-file')).to.equal('/tmp/atlas-layout-test/pki/etcd-eu.key')
  })

  it('gives Patroni TLS everywhere: etcd3 over https with a client certificate, PostgreSQL ssl on, verify-full for its own connections', () => {
    const us = patroniConfig(layout, layout.regions[0], secrets, '/usr/lib/postgresql/15/bin') as Record<string, any>
    expect(us.etcd3).to.include({
      protocol: 'https',
      cacert: '/tmp/atlas-layout-test/postgres/tls/ca.crt',
      cert: '/tmp/atlas-layout-test/postgres/tls/etcd-client-patroni.crt',
      key: '/tmp/atlas-layout-test/postgres/tls/etcd-client-patroni.key',
    })
    expect(us.postgresql.parameters).to.include({
      ssl: 'on',
      ssl_cert_file: '/tmp/atlas-layout-test/postgres/tls/pg-server-us.crt',
      ssl_key_file: '/tmp/atlas-layout-test/postgres/tls/pg-server-us.key',
      ssl_ca_file: '/tmp/atlas-layout-test/postgres/tls/ca.crt',
    })
    for (const who of ['superuser', 'replication', 'rewind']) {
      expect(us.postgresql.authentication[who]).to.include({
        sslmode: 'verify-full',
        sslrootcert: '/tmp/atlas-layout-test/postgres/tls/ca.crt',
      })
    }

    expect(us.postgresql.authentication.replication.sslcert).to.equal(
      '/tmp/atlas-layout-test/postgres/tls/pg-client-replicator.crt',
    )
    expect(us.postgresql.authentication.superuser.sslkey).to.equal(
      '/tmp/atlas-layout-test/postgres/tls/pg-client-postgres.key',
    )
    expect(us.postgresql.pg_hba).to.deep.equal(pgHba(layout))
  })

  it('pg_hba: no trust, no plain host line; TLS and scram-sha-256 on TCP, a client certificate too for the superuser and replication', () => {
    const hba = pgHba(layout)
    expect(hba.join('\n')).to.not.match(/\btrust\b/)
    const tcp = hba.filter((l) => !l.startsWith('local '))
    expect(tcp.length).to.be.greaterThan(0)
    for (const line of tcp) expect(line).to.match(/^hostssl .* scram-sha-256/)
    expect(tcp.find((l) => l.includes(' replicator '))).to.match(/clientcert=verify-full$/)
    expect(tcp.find((l) => l.includes(' postgres '))).to.match(/clientcert=verify-full$/)
  })

  it('database URLs verify the server (verify-full, the world CA); only the superuser presents a certificate', () => {
    const r = layout.regions[0]
    const ledger = databaseUrl(layout, r, secrets)
    expect(ledger).to.match(
      /^postgres:\/\/atlas_ledger:ledger-secret-value@127\.0\.1\.1:30002\/postgres\?sslmode=verify-full&sslrootcert=\/tmp\/atlas-layout-test\/pki\/ca\.crt$/,
    )
    expect(databaseUrl(layout, r, secrets, 'verify')).to.match(/^postgres:\/\/atlas_verify:verify-secret-value@/)
    const admin = databaseUrl(layout, r, secrets, 'admin')
    expect(admin).to.match(
      /^postgres:\/\/postgres:su-secret-value@.*&sslcert=\/tmp\/atlas-layout-test\/pki\/pg-client-postgres\.crt&sslkey=\/tmp\/atlas-layout-test\/pki\/pg-client-postgres\.key$/,
    )
    // what connectLedger makes of it: TLS, the server checked against the CA (files missing here)
    expect(() => tlsOptions(ledger)).to.throw(/sslrootcert=\/tmp\/atlas-layout-test\/pki\/ca\.crt/)
  })

  it('takes from PUBLIC every right on the ledger database and on template1, and CREATE on the schema', () => {
    expect(grantStatements().filter((g) => g.includes('FROM PUBLIC'))).to.deep.equal([
      'REVOKE CREATE ON SCHEMA public FROM PUBLIC',
      'REVOKE ALL ON DATABASE postgres FROM PUBLIC',
      'REVOKE ALL ON DATABASE template1 FROM PUBLIC',
    ])
  })

  it('grants the ledger role inserts into transfers and balance updates only, the verify role reads only', () => {
    const grants = grantStatements().filter((g) => g.startsWith('GRANT'))
    const on = (role: string) => grants.filter((g) => g.endsWith(` ${role}`) || g.includes(` ${role},`))
    expect(on('atlas_ledger').join('\n')).to.not.match(/DELETE|TRUNCATE|ALL PRIVILEGES|UPDATE ON|CREATE/)
    expect(on('atlas_ledger')).to.include.members([
      'GRANT SELECT, INSERT ON transfers TO atlas_ledger',
      'GRANT SELECT, UPDATE (balance) ON accounts TO atlas_ledger',
    ])
    expect(
      grants
        .filter((g) => / ON (accounts|transfers|ledger_mint)/.test(g) && g.includes('atlas_verify'))
        .every((g) => g.startsWith('GRANT SELECT ON')),
    ).to.equal(true)
  })

  it('sets passwords as SCRAM-SHA-256 verifiers (PostgreSQL format, RFC 7677 test vector)', () => {
    // RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations
    const verifier = scramVerifier('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'))
    expect(verifier).to.equal(
      'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=',
    )
  })
})
