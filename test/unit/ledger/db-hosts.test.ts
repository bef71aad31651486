import {expect} from 'chai'

import {combineDatabaseUrls, rotateHosts} from '../../../src/lib/ledger/db.js'

describe('a renewed pool starts from the next host', () => {
  const {url, hosts} = combineDatabaseUrls([
    'postgres://app:pw@127.0.0.1:1/ledger?sslmode=disable',
    'postgres://app:pw@127.0.0.1:2/ledger',
    'postgres://app:pw@127.0.0.1:3/ledger',
  ])

  it('keeps the order for the first pool and rotates it by one per renewal', () => {
    expect(rotateHosts(url, hosts, 0)).to.equal(
      'postgres://app:pw@127.0.0.1:1,127.0.0.1:2,127.0.0.1:3/ledger?sslmode=disable',
    )
    expect(rotateHosts(url, hosts, 1)).to.equal(
      'postgres://app:pw@127.0.0.1:2,127.0.0.1:3,127.0.0.1:1/ledger?sslmode=disable',
    )
    expect(rotateHosts(url, hosts, 2)).to.equal(
      'postgres://app:pw@127.0.0.1:3,127.0.0.1:1,127.0.0.1:2/ledger?sslmode=disable',
    )
    expect(rotateHosts(url, hosts, 3)).to.equal(url)
  })

  it('leaves a single-host URL alone', () => {
    const one = combineDatabaseUrls('postgres://app@127.0.0.1:5432/ledger')
    expect(rotateHosts(one.url, one.hosts, 1)).to.equal(one.url)
  })
})
