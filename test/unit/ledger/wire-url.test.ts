import {expect} from 'chai'

import {loginOf} from '../../../src/lib/ledger/wire/pool.js'

describe('the transfer pool: what a URL gives the login', () => {
  it('takes the user, the password (decoded) and the database, and sets the session defaults transfers need', () => {
    const login = loginOf('postgres://ledger:p%40ss%3Aword@127.0.0.1:5432/ledger', 'atlas-workload')
    expect(login.user).to.equal('ledger')
    expect(login.password).to.equal('p@ss:word')
    expect(login.startup).to.include({
      database: 'ledger',
      application_name: 'atlas-workload',
      default_transaction_isolation: 'serializable',
    })
  })

  it("passes the query string on as startup parameters, except postgres.js's own options, which a server refuses", () => {
    const {startup} = loginOf(
      'postgres://u@h:1/d?application_name=x&search_path=ledger&keep_alive=60&max_pipeline=10&fetch_types=false&ssl=true&max=4&target_session_attrs=primary&connect_timeout=3',
    )
    expect(startup).to.include({application_name: 'x', search_path: 'ledger'})
    for (const option of [
      'keep_alive',
      'max_pipeline',
      'fetch_types',
      'ssl',
      'max',
      'target_session_attrs',
      'connect_timeout',
    ])
      expect(startup, option).to.not.have.property(option)
  })
})
