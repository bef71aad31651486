import {expect} from 'chai'

import {DEFAULT_CONFIG} from '../../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../../src/lib/config/load.js'
import {diffDynamicConfig, notReconciledReason} from '../../../../src/lib/world/local/dynamic-config.js'
import {localLayout, patroniDynamicConfig} from '../../../../src/lib/world/local/layout.js'

const layout = localLayout(parseConfigObject({...DEFAULT_CONFIG, local: {basePort: 30_000}}), '/tmp/atlas-dcs-test')
const wanted = patroniDynamicConfig(layout) as Record<string, unknown>

/** GET /config of a cluster this version bootstrapped: the config file's YAML made `on` a boolean */
function bootstrapped(): Record<string, any> {
  const config = structuredClone(wanted) as Record<string, any>
  config.postgresql.parameters.hot_standby = true
  config.postgresql.parameters.wal_log_hints = true
  return config
}

describe("Patroni's dynamic configuration: what up sets on an existing world (dynamic-config)", () => {
  it('finds nothing to change in a cluster this version bootstrapped (true and on agree)', () => {
    expect(diffDynamicConfig(bootstrapped(), wanted)).to.deep.equal({reconcile: [], notReconciled: [], patch: {}})
  })

  it('sets the timing of a world from before the 4 s lease in one PATCH, nested as Patroni merges it', () => {
    const old = bootstrapped()
    old.ttl = 5
    old.retry_timeout = 2
    old.postgresql.parameters.wal_sender_timeout = '1500ms'
    // a key this version does not set is left alone, not removed
    old.failsafe_mode = false
    const diff = diffDynamicConfig(old, wanted)
    expect(diff.reconcile).to.deep.equal([
      {key: 'ttl', from: 5, to: 4},
      {key: 'retry_timeout', from: 2, to: 1},
      {key: 'postgresql.parameters.wal_sender_timeout', from: '1500ms', to: '1s'},
    ])
    expect(diff.patch).to.deep.equal({ttl: 4, retry_timeout: 1, postgresql: {parameters: {wal_sender_timeout: '1s'}}})
    expect(diff.notReconciled).to.deep.equal([])
  })

  it('adds a value the configuration lacks, and compares as Patroni does (4 and "4" are the same)', () => {
    const old = bootstrapped()
    delete old.synchronous_mode_strict
    old.ttl = '4'
    const diff = diffDynamicConfig(old, wanted)
    expect(diff.reconcile).to.deep.equal([{key: 'synchronous_mode_strict', from: null, to: true}])
    expect(diff.patch).to.deep.equal({synchronous_mode_strict: true})
  })

  it('leaves what needs a restart or changes replication under the standbys as it is, saying why', () => {
    const old = bootstrapped()
    old.postgresql.parameters.max_connections = 200
    old.postgresql.use_slots = true
    const diff = diffDynamicConfig(old, wanted)
    expect(diff.reconcile).to.deep.equal([])
    expect(diff.patch).to.deep.equal({})
    expect(diff.notReconciled.map((c) => [c.key, c.from, c.to])).to.deep.equal([
      ['postgresql.use_slots', true, false],
      ['postgresql.parameters.max_connections', 200, 100],
    ])
    expect(diff.notReconciled[1].reason).to.match(/only when restarted/)
  })

  it('has decided for every value this version sets whether up sets it (a new one must be decided too)', () => {
    const leaves = (o: Record<string, unknown>, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        typeof v === 'object' && v !== null
          ? leaves(v as Record<string, unknown>, `${prefix}${k}.`)
          : [`${prefix}${k}`],
      )
    const all = leaves(wanted)
    expect(all.filter((k) => notReconciledReason(k) === undefined)).to.deep.equal([
      'ttl',
      'loop_wait',
      'retry_timeout',
      'maximum_lag_on_failover',
      'synchronous_mode',
      'synchronous_mode_strict',
      'synchronous_node_count',
      'postgresql.use_pg_rewind',
      'postgresql.remove_data_directory_on_rewind_failure',
      'postgresql.remove_data_directory_on_diverged_timelines',
      'postgresql.parameters.wal_keep_size',
      'postgresql.parameters.wal_retrieve_retry_interval',
      'postgresql.parameters.wal_sender_timeout',
      'postgresql.parameters.wal_receiver_timeout',
    ])
    expect(all.filter((k) => notReconciledReason(k) !== undefined)).to.deep.equal([
      'postgresql.use_slots',
      'postgresql.parameters.wal_level',
      'postgresql.parameters.hot_standby',
      'postgresql.parameters.wal_log_hints',
      'postgresql.parameters.max_wal_senders',
      'postgresql.parameters.max_replication_slots',
      'postgresql.parameters.max_connections',
    ])
  })
})
