import {expect} from 'chai'

import {poll, PollTimeoutError, pollUntil, sleep} from '../../src/lib/wait.js'

// Timings here are loose on purpose (2 busy cores): each bound is a floor a timer cannot beat,
// or a ceiling far above what the assertion distinguishes.
describe('wait: sleep and poll', () => {
  describe('sleep', () => {
    it('resolves after the time, and not before', async () => {
      const started = performance.now()
      await sleep(30)
      expect(performance.now() - started).to.be.at.least(29)
    })

    it('rejects with the signal reason as soon as it aborts, and at once when it already has', async () => {
      const controller = new AbortController()
      const started = performance.now()
      setTimeout(() => controller.abort(new Error('stop now')), 20)
      const error = await sleep(60_000, controller.signal).then(
        () => {},
        (error_: Error) => error_,
      )
      expect(error?.message).to.equal('stop now')
      expect(performance.now() - started).to.be.below(10_000)
      const again = await sleep(60_000, controller.signal).then(
        () => {},
        (error_: Error) => error_,
      )
      expect(again?.message).to.equal('stop now')
    })

    it('leaves no abort listener on the signal once the time is up', async () => {
      const controller = new AbortController()
      let added = 0
      let removed = 0
      const add = controller.signal.addEventListener.bind(controller.signal)
      const remove = controller.signal.removeEventListener.bind(controller.signal)
      controller.signal.addEventListener = ((...args: Parameters<typeof add>) => {
        added++
        add(...args)
      }) as typeof add
      controller.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
        removed++
        remove(...args)
      }) as typeof remove
      for (let i = 0; i < 3; i++) await sleep(1, controller.signal)
      expect({added, removed}).to.deep.equal({added: 3, removed: 3})
    })
  })

  describe('poll', () => {
    it("returns the check's first answer, checking at once and then every interval", async () => {
      const at: number[] = []
      const started = performance.now()
      const answer = await poll(
        () => {
          at.push(performance.now() - started)
          return at.length === 3 ? {ready: true} : undefined
        },
        {timeoutMs: 60_000, intervalMs: 40},
      )
      expect(answer).to.deep.equal({ready: true})
      expect(at).to.have.length(3)
      expect(at[1] - at[0]).to.be.at.least(39)
      expect(at[2] - at[1]).to.be.at.least(39)
    })

    it('false, null and undefined mean "not yet"; 0 and the empty string are answers', async () => {
      const answers: unknown[] = [false, null, undefined, 0]
      expect(await poll(() => answers.shift() as number, {timeoutMs: 60_000, intervalMs: 1})).to.equal(0)
      expect(await poll(() => '', {timeoutMs: 60_000, intervalMs: 1})).to.equal('')
    })

    it('returns undefined when the time runs out, after a last check past the deadline', async () => {
      let checks = 0
      const started = performance.now()
      const answer = await poll(
        () => {
          checks++
          return false
        },
        {timeoutMs: 100, intervalMs: 30},
      )
      expect(answer).to.equal(undefined)
      expect(performance.now() - started).to.be.at.least(100)
      // at 0, 30, 60, 90 and the one past 100: never fewer, however slow the machine
      expect(checks).to.be.at.least(2)
    })

    it('with timeoutMs 0: exactly one check', async () => {
      let checks = 0
      expect(
        await poll(
          () => {
            checks++
            return false
          },
          {timeoutMs: 0, intervalMs: 10},
        ),
      ).to.equal(undefined)
      expect(checks).to.equal(1)
    })

    it('an abort rejects with the reason, also in the middle of a pause, and no check runs after it', async () => {
      const controller = new AbortController()
      let checks = 0
      setTimeout(() => controller.abort(new Error('interrupted')), 30)
      const error = await poll(
        () => {
          checks++
          return false
        },
        {
          timeoutMs: 60_000,
          intervalMs: 60_000,
          signal: controller.signal,
        },
      ).then(
        () => {},
        (error_: Error) => error_,
      )
      expect(error?.message).to.equal('interrupted')
      expect(checks).to.equal(1)
      const before = await poll(() => true, {timeoutMs: 60_000, intervalMs: 1, signal: controller.signal}).then(
        () => {},
        (error_: Error) => error_,
      )
      expect(before?.message).to.equal('interrupted')
    })

    it("a check's error ends the poll with that error", async () => {
      const error = await poll(
        () => {
          throw new Error('refused for good')
        },
        {timeoutMs: 60_000, intervalMs: 1},
      ).then(
        () => {},
        (error_: Error) => error_,
      )
      expect(error?.message).to.equal('refused for good')
    })
  })

  describe('pollUntil', () => {
    it('returns the answer like poll', async () => {
      let n = 0
      expect(await pollUntil(async () => (++n === 2 ? n : false), {timeoutMs: 60_000, intervalMs: 1})).to.equal(2)
    })

    it('times out with a PollTimeoutError naming what was waited for and the time allowed', async () => {
      const error = await pollUntil(() => false, {timeoutMs: 50, intervalMs: 10, describe: 'moto did not answer'}).then(
        () => {},
        (error_: Error) => error_,
      )
      expect(error).to.be.instanceOf(PollTimeoutError)
      expect(error?.message).to.equal('moto did not answer within 0.05 s')
    })

    it("times out with the caller's own error, built after the last check (it can name the last state seen)", async () => {
      let last = 0
      const error = await pollUntil(
        () => {
          last++
          return false
        },
        {
          timeoutMs: 30,
          intervalMs: 10,
          timeoutError: () => new RangeError(`still not ready after ${last} checks`),
        },
      ).then(
        () => {},
        (error_: Error) => error_,
      )
      expect(error).to.be.instanceOf(RangeError)
      expect(error?.message).to.equal(`still not ready after ${last} checks`)
      expect(last).to.be.at.least(2)
    })
  })
})
