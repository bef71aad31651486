import {expect} from 'chai'

import {UsageError} from '../../../src/lib/errors.js'
import {DEFAULT_PIPELINE} from '../../../src/lib/ledger/workload/defaults.js'
import {checkOptions, StopSwitch} from '../../../src/lib/ledger/workload/run.js'
import {sleep} from '../../../src/lib/wait.js'

describe('workload options', () => {
  const base = {durationMs: 1000, runDir: '/nonexistent'}

  it('four transfers in flight per connection direct to the database, one via the queue, unless --pipeline says', () => {
    expect(DEFAULT_PIPELINE).to.equal(4)
    expect(checkOptions(base).pipeline).to.equal(4)
    expect(checkOptions({...base, via: 'queue', queue: {} as never}).pipeline).to.equal(1)
    expect(checkOptions({...base, pipeline: 1}).pipeline).to.equal(1)
    expect(checkOptions({...base, pipeline: 2}).pipeline).to.equal(2)
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

describe('the workload stop switch', () => {
  it('lets every worker wait on the retry abort at once without a listener-leak warning', async () => {
    const warnings: Error[] = []
    const onWarning = (warning: Error) => warnings.push(warning)
    process.on('warning', onWarning)
    const stop = new StopSwitch(undefined, undefined, 4 * DEFAULT_PIPELINE * 2)
    try {
      // 32 workers in a retry's pause at once (8 connections, four in flight on each)
      const pauses = Array.from({length: 32}, () => sleep(60_000, stop.retryAbort.signal).catch(() => 'aborted'))
      stop.retryAbort.abort()
      expect(await Promise.all(pauses)).to.have.length(32)
      await new Promise((resolve) => setImmediate(resolve))
      expect(warnings.map((w) => w.name)).to.not.include('MaxListenersExceededWarning')
    } finally {
      process.off('warning', onWarning)
      stop.release()
    }
  })
})
