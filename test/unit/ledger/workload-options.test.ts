import {expect} from 'chai'

import {UsageError} from '../../../src/lib/errors.js'
import {checkOptions, DEFAULT_PIPELINE} from '../../../src/lib/ledger/workload/run.js'

describe('workload options', () => {
  const base = {durationMs: 1000, runDir: '/nonexistent'}

  it('two transfers in flight per connection direct to the database, one via the queue, unless --pipeline says', () => {
    expect(DEFAULT_PIPELINE).to.equal(2)
    expect(checkOptions(base).pipeline).to.equal(2)
    expect(checkOptions({...base, via: 'queue', queue: {} as never}).pipeline).to.equal(1)
    expect(checkOptions({...base, pipeline: 1}).pipeline).to.equal(1)
    expect(checkOptions({...base, pipeline: 4}).pipeline).to.equal(4)
  })

  it('refuses a pipeline depth that is not a positive integer, and pipelining through the queue', () => {
    for (const pipeline of [0, -1, 1.5, Number.NaN])
      expect(() => checkOptions({...base, pipeline}), String(pipeline)).to.throw(
        UsageError,
        /pipeline must be a positive integer/,
      )
    expect(() => checkOptions({...base, via: 'queue', queue: {} as never, pipeline: 2})).to.throw(
      UsageError,
      /--pipeline applies to direct mode only/,
    )
    expect(checkOptions({...base, via: 'queue', queue: {} as never}).pipeline).to.equal(1)
  })
})
