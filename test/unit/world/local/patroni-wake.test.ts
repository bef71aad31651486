import {expect} from 'chai'

import {clusterHealth} from '../../../../src/lib/health/model.js'
import {type PatroniClusterResponse, patroniGroupHealth} from '../../../../src/lib/health/patroni.js'
import {loopsToWake} from '../../../../src/lib/world/local/patroni-wake.js'

type Listed = NonNullable<PatroniClusterResponse['members']>[number]

/** The world's health as `up` samples it: every node answers GET /cluster with the leader's view (shaped as Patroni 4 answers). */
function sample(members: Listed[]) {
  const regions = ['us', 'eu', 'witness']
  const cluster: PatroniClusterResponse = {scope: 'atlas', members}
  const samples = regions.map((region) => ({
    target: {region, name: `pg-${region}`, apiUrl: `http://127.0.0.1:1/${region}`},
    cluster,
  }))
  return clusterHealth([patroniGroupHealth(samples)], 'patroni', regions)
}

const leader: Listed = {name: 'pg-us', role: 'leader', state: 'running', timeline: 1}
const replica = (name: string, state: string, role = 'replica'): Listed => ({name, role, state, timeline: 1, lag: 0})

describe('waking Patroni loops while a new cluster converges (patroni-wake)', () => {
  it('wakes a standby whose PostgreSQL runs while its member key still says it is being created', () => {
    const health = sample([leader, replica('pg-eu', 'creating replica'), replica('pg-witness', 'creating replica')])
    const localState = new Map([
      ['pg-eu', 'running'],
      ['pg-witness', 'creating replica'],
    ])
    expect(loopsToWake(health, {localState, sent: new Set()}).map((w) => w.name)).to.deep.equal(['pg-eu'])
  })

  it('wakes the leader once every standby is listed as running and not all are synchronous, once per reason', () => {
    const health = sample([leader, replica('pg-eu', 'streaming'), replica('pg-witness', 'running')])
    const sent = new Set<string>()
    const first = loopsToWake(health, {localState: new Map(), sent})
    expect(first.map((w) => w.name)).to.deep.equal(['pg-us'])
    for (const w of first) sent.add(w.reason)
    expect(loopsToWake(health, {localState: new Map(), sent})).to.deep.equal([])
  })

  it('does not wake the leader while a standby is not listed as running yet', () => {
    const health = sample([leader, replica('pg-eu', 'streaming'), replica('pg-witness', 'starting')])
    expect(loopsToWake(health, {localState: new Map(), sent: new Set()})).to.deep.equal([])
  })

  it('wakes nothing once both standbys are synchronous, nor before there is a leader', () => {
    const synced = sample([
      leader,
      replica('pg-eu', 'streaming', 'sync_standby'),
      replica('pg-witness', 'streaming', 'sync_standby'),
    ])
    expect(loopsToWake(synced, {localState: new Map(), sent: new Set()})).to.deep.equal([])
    const leaderless = sample([replica('pg-eu', 'stopped'), replica('pg-witness', 'stopped')])
    expect(loopsToWake(leaderless, {localState: new Map([['pg-eu', 'running']]), sent: new Set()})).to.deep.equal([])
  })
})
