import type {ConnectionOptions} from 'node:tls'

// libpq's TLS parameters in a ledger URL, as postgres.js's ssl option (src/lib/ledger/db.ts).
import {expect} from 'chai'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {PreconditionError, UsageError} from '../../../src/lib/errors.js'
import {tlsOptions} from '../../../src/lib/ledger/db.js'

describe('ledger URL TLS parameters (libpq meanings)', () => {
  let dir: string

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'atlas-tls-url-'))
    for (const f of ['ca.crt', 'client.crt', 'client.key']) writeFileSync(path.join(dir, f), `PEM of ${f}`)
  })

  after(() => rmSync(dir, {recursive: true, force: true}))
  const base = 'postgresql://ledger@db:26257/ledger'
  const f = (name: string) => path.join(dir, name)

  it("verify-full: the CA, the client certificate and Node's host-name check; the file parameters leave the URL", () => {
    const {url, ssl} = tlsOptions(
      `${base}?sslmode=verify-full&sslrootcert=${f('ca.crt')}&sslcert=${f('client.crt')}&sslkey=${f('client.key')}&application_name=x`,
    )
    expect(url).to.equal(`${base}?application_name=x`)
    const o = ssl as ConnectionOptions
    expect(o).to.include({
      rejectUnauthorized: true,
      ca: 'PEM of ca.crt',
      cert: 'PEM of client.crt',
      key: 'PEM of client.key',
    })
    // the URL's host, not the "localhost" Node would compare with on postgres.js's upgraded socket
    expect(o.checkServerIdentity).to.be.a('function')
  })

  it('verify-ca, and require with a root certificate: the chain only', () => {
    for (const mode of ['verify-ca', 'require']) {
      const o = tlsOptions(`${base}?sslmode=${mode}&sslrootcert=${f('ca.crt')}`).ssl as ConnectionOptions
      expect(o, mode).to.include({rejectUnauthorized: true, ca: 'PEM of ca.crt'})
      expect(o.checkServerIdentity!('db', {} as never), mode).to.equal(undefined)
    }
  })

  it("keeps postgres.js's own meanings where no file is given", () => {
    expect(tlsOptions(base)).to.deep.equal({url: base, ssl: undefined})
    expect(tlsOptions(`${base}?sslmode=require`)).to.deep.equal({url: base, ssl: 'require'})
    expect(tlsOptions(`${base}?sslmode=disable`)).to.deep.equal({url: base, ssl: false})
    expect(tlsOptions(`${base}?sslrootcert=system`)).to.deep.equal({url: base, ssl: 'verify-full'})
  })

  it('refuses half a client certificate (usage) and a file that cannot be read (precondition)', () => {
    expect(() => tlsOptions(`${base}?sslmode=verify-full&sslcert=${f('client.crt')}`)).to.throw(
      UsageError,
      /sslcert and sslkey go together/,
    )
    expect(() => tlsOptions(`${base}?sslmode=verify-full&sslrootcert=${f('nope.crt')}`)).to.throw(
      PreconditionError,
      /cannot read sslrootcert=.*ENOENT/,
    )
  })
})
