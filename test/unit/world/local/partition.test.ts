import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {X509Certificate} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {DEFAULT_CONFIG} from '../../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../../src/lib/config/load.js'
import {tlsOptions, urlHosts} from '../../../../src/lib/ledger/db.js'
import {localLayout} from '../../../../src/lib/world/local/layout.js'
import {
  partitionPeers,
  partitionRuleset,
  partitionTableName,
  regionCgroup,
  worldTablePrefix,
} from '../../../../src/lib/world/local/partition.js'

const config = parseConfigObject({...DEFAULT_CONFIG, local: {basePort: 30_000}})
const layout = localLayout(config, '/tmp/atlas-partition-test')
const [us, eu, witness] = layout.regions
const cgroups = (r: (typeof layout.regions)[number]) => regionCgroup('/sys/fs/cgroup/unified', layout, r)

describe('local world partitions (nftables rules)', () => {
  it('names one table per world and region, and a prefix no other port block shares', () => {
    expect(partitionTableName(layout, 'us')).to.equal('atlas-30000-us')
    expect(worldTablePrefix(layout)).to.equal('atlas-30000-')
    expect('atlas-300001-us'.startsWith(worldTablePrefix(layout))).to.equal(false)
    expect(cgroups(eu)).to.deep.equal({
      dir: '/sys/fs/cgroup/unified/atlas-30000/eu',
      nftPath: 'unified/atlas-30000/eu',
      level: 2,
    })
  })

  it('isolate drops both directions between the region and every other, matching cgroups, addresses and port blocks', () => {
    const rules = partitionRuleset(layout, us, 'isolate', cgroups)
    expect(rules).to.match(/^table inet atlas-30000-us \{/)
    expect(rules).to.include(
      'socket cgroupv2 level 2 "unified/atlas-30000/us" ip daddr 127.0.2.1 tcp dport 30020-30039 counter drop comment "us to eu"',
    )
    expect(rules).to.include(
      'socket cgroupv2 level 2 "unified/atlas-30000/eu" ip saddr 127.0.1.1 tcp sport 30000-30019 counter drop comment "us to eu"',
    )
    expect(rules).to.include(
      'socket cgroupv2 level 2 "unified/atlas-30000/witness" ip daddr 127.0.1.1 tcp dport 30000-30019 counter drop comment "witness to us"',
    )
    expect(rules).to.include(
      'socket cgroupv2 level 2 "unified/atlas-30000/us" ip saddr 127.0.3.1 tcp sport 30040-30059 counter drop comment "witness to us"',
    )
    // 2 directions x 2 peers x (output + input)
    expect(rules.match(/ drop /g)).to.have.length(8)
    // every rule names a socket's cgroup: the clients (in none) and the emulator's port are never matched
    for (const line of rules.split('\n').filter((l) => l.includes(' drop ')))
      expect(line).to.match(/socket cgroupv2 level 2 "unified\/atlas-30000\//)
    expect(rules).to.not.include(String(layout.motoPort))
  })

  it('one-way-in only drops what others send to the region; one-way-out only what it sends', () => {
    const into = partitionRuleset(layout, eu, 'one-way-in', cgroups)
    expect(into).to.not.include('comment "eu to')
    expect(into).to.include('comment "us to eu"').and.include('comment "witness to eu"')
    const out = partitionRuleset(layout, eu, 'one-way-out', cgroups)
    expect(out).to.include('comment "eu to us"').and.include('comment "eu to witness"')
    expect(out).to.not.include('to eu"')
  })

  it('bridge cuts the data regions from each other and leaves the witness alone; it cannot target the witness', () => {
    const peers = partitionPeers(layout, us, 'bridge')
    expect(peers.from.map((r) => r.region.name)).to.deep.equal(['eu'])
    expect(peers.to.map((r) => r.region.name)).to.deep.equal(['eu'])
    expect(partitionRuleset(layout, us, 'bridge', cgroups)).to.not.include('witness')
    expect(() => partitionPeers(layout, witness, 'bridge')).to.throw(/is the witness/)
  })
})

describe("verify-full checks the URL's hosts", () => {
  // a certificate for 127.0.2.1 only, as a region's server presents
  const dir = mkdtempSync(path.join(os.tmpdir(), 'atlas-vf-'))
  const key = path.join(dir, 'k.pem')
  const crt = path.join(dir, 'c.pem')
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      crt,
      '-days',
      '1',
      '-subj',
      '/CN=pg-eu',
      '-addext',
      'subjectAltName=IP:127.0.2.1',
    ],
    {stdio: 'ignore'},
  )
  const certificate = new X509Certificate(readFileSync(crt)).toLegacyObject()

  after(() => rmSync(dir, {recursive: true, force: true}))

  it('lists the hosts of single and multi-host URLs', () => {
    expect(urlHosts('postgres://u:p@127.0.1.1:5432,127.0.2.1:5433/db?sslmode=verify-full')).to.deep.equal([
      '127.0.1.1',
      '127.0.2.1',
    ])
    expect(urlHosts('postgres://u@[::1]:5432/db')).to.deep.equal(['::1'])
  })

  it('accepts a certificate naming the URL\'s host and refuses one that does not (not "localhost")', () => {
    const ok = tlsOptions(`postgres://u:p@127.0.2.1:5432/db?sslmode=verify-full&sslrootcert=${crt}`).ssl as {
      checkServerIdentity: (h: string, c: unknown) => Error | undefined
    }
    // postgres.js upgrades the socket without a host: Node passes "localhost"
    expect(ok.checkServerIdentity('localhost', certificate)).to.equal(undefined)
    const wrong = tlsOptions(`postgres://u:p@127.0.1.1:5432/db?sslmode=verify-full&sslrootcert=${crt}`).ssl as {
      checkServerIdentity: (h: string, c: unknown) => Error | undefined
    }
    expect(wrong.checkServerIdentity('localhost', certificate)).to.be.instanceOf(Error)
  })
})
