import {expect} from 'chai'

import {AcknowledgementTracker} from '../../../src/lib/ledger/recovery.js'

describe('AcknowledgementTracker (RTO: first acknowledged write issued after the fault)', () => {
  const fault = new Date('2026-01-01T00:00:10.000Z')
  const at = (ms: number) => new Date(fault.getTime() + ms)

  it('ignores acknowledgements of transfers issued before the fault (their reply was on the wire)', async () => {
    const tracker = new AcknowledgementTracker()
    const waiting = tracker.waitForIssuedAfter(fault, {timeoutMs: 1000})
    tracker.record(at(30).getTime(), at(-20).getTime())
    tracker.record(at(7500).getTime(), at(7100).getTime())
    expect((await waiting).getTime() - fault.getTime()).to.equal(7500)
  })

  it('answers at once from acknowledgements it has already seen', async () => {
    const tracker = new AcknowledgementTracker()
    tracker.record(at(900).getTime(), at(800).getTime())
    expect((await tracker.waitForIssuedAfter(fault)).getTime()).to.equal(at(900).getTime())
  })

  it('keeps bounded memory: only the most recent acknowledgements are searched', async () => {
    const tracker = new AcknowledgementTracker(4)
    tracker.record(at(100).getTime(), at(50).getTime()) // pushed out of the ring by the four below
    for (let i = 0; i < 4; i++) tracker.record(at(-1000 + i).getTime(), at(-2000).getTime())
    const error = await tracker.waitForIssuedAfter(fault, {timeoutMs: 20}).catch((error_: unknown) => error_)
    expect((error as Error).message).to.match(/was acknowledged within 20 ms/)
  })

  it('times out, follows an abort signal, and fails pending waiters when closed', async () => {
    const tracker = new AcknowledgementTracker()
    const timedOut = await tracker.waitForIssuedAfter(fault, {timeoutMs: 20}).catch((error: unknown) => error)
    expect((timedOut as Error).message).to.match(/within 20 ms/)
    const controller = new AbortController()
    const aborted = tracker.waitForIssuedAfter(fault, {signal: controller.signal}).catch((error: unknown) => error)
    controller.abort(new Error('ctrl-c'))
    expect(((await aborted) as Error).message).to.equal('ctrl-c')
    const pending = tracker.waitForIssuedAfter(fault).catch((error: unknown) => error)
    tracker.close(new Error('workload ended'))
    expect(((await pending) as Error).message).to.equal('workload ended')
    expect(((await tracker.waitForIssuedAfter(fault).catch((error: unknown) => error)) as Error).message).to.equal(
      'workload ended',
    )
  })
})
