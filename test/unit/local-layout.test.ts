import {expect} from 'chai'
import {DEFAULT_CONFIG} from '../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../src/lib/config/load.js'
import {allPorts, etcdArgs, localLayout, patroniConfig} from '../../src/lib/world/local/layout.js'

const config = parseConfigObject({...DEFAULT_CONFIG, local: {basePort: 30000}})
const layout = localLayout(config, '/tmp/atlas-layout-test')
const secrets = {superuserPassword: 'su-secret-value', replicationPassword: 'repl-secret-value'}

describe('local world layout', () => {
  it('gives every process its own port from the configured block, the cloud endpoint last', () => {
    const ports = allPorts(layout).map((p) => p.port)
    expect(new Set(ports).size).to.equal(ports.length)
    expect(Math.min(...ports)).to.equal(30000)
    expect(layout.motoPort).to.equal(30060)
    expect(Math.max(...ports)).to.equal(layout.motoPort)
  })

  it('runs one etcd member per region in one three-member cluster with pre-vote', () => {
    const args = etcdArgs(layout, layout.regions[0])
    expect(args).to.include('--pre-vote')
    const cluster = args[args.indexOf('--initial-cluster') + 1]
    expect(cluster.split(',')).to.deep.equal(['etcd-us=http://127.0.0.1:30001', 'etcd-eu=http://127.0.0.1:30021', 'etcd-witness=http://127.0.0.1:30041'])
    expect(args[args.indexOf('--data-dir') + 1]).to.equal('/tmp/atlas-layout-test/data/etcd-us')
  })

  it('configures Patroni on etcd3 with synchronous replication that includes eu, and a nofailover witness', () => {
    const [us, eu, witness] = layout.regions.map((r) => patroniConfig(layout, r, secrets, '/usr/lib/postgresql/15/bin') as Record<string, any>)
    expect(us.etcd3.hosts).to.deep.equal(['127.0.0.1:30000', '127.0.0.1:30020', '127.0.0.1:30040'])
    expect(us).to.not.have.property('etcd')
    const dcs = us.bootstrap.dcs
    expect(dcs.synchronous_mode).to.equal(true)
    expect(dcs.synchronous_mode_strict).to.equal(true)
    // Patroni promotes only a synchronous standby: with the witness never leading, eu must be one too
    expect(dcs.synchronous_node_count).to.equal(2)
    expect(witness.tags.nofailover).to.equal(true)
    expect(us.tags.nofailover).to.equal(false)
    expect(eu.tags.nofailover).to.equal(false)
    // Patroni's rule: loop_wait + 2 * retry_timeout <= ttl
    expect(dcs.loop_wait + 2 * dcs.retry_timeout).to.be.at.most(dcs.ttl)
    expect(eu.postgresql.listen).to.equal('127.0.0.1:30022')
    expect(eu.restapi.listen).to.equal('127.0.0.1:30023')
  })
})
