import {expect} from 'chai'

import type {ProgressReporter} from '../../src/lib/world/types.js'

import {runStep} from '../../src/lib/progress.js'

// a reporter that records what the steps were told
function recording() {
  const calls: Array<{outcome?: {error?: Error; note?: string}; title: string}> = []
  const progress: ProgressReporter = {
    step(title) {
      const call: (typeof calls)[number] = {title}
      calls.push(call)
      return (outcome) => {
        call.outcome = outcome ?? {}
      }
    },
    info() {},
  }
  return {calls, progress}
}

describe('runStep: one way to wrap work in a progress step', () => {
  it('marks the step done with the note its result gives, and returns the result', async () => {
    const {calls, progress} = recording()
    const result = await runStep(
      progress,
      'take a backup',
      async () => ({label: 'b1'}),
      (r) => `${r.label} taken`,
    )
    expect(result).to.deep.equal({label: 'b1'})
    expect(calls).to.deep.equal([{title: 'take a backup', outcome: {note: 'b1 taken'}}])
  })

  it('marks the step failed with the error and rethrows it', async () => {
    const {calls, progress} = recording()
    const boom = new Error('no repository')
    const thrown = await runStep(progress, 'take a backup', async () => {
      throw boom
    }).catch((error: unknown) => error)
    expect(thrown).to.equal(boom)
    expect(calls[0].outcome).to.deep.equal({error: boom})
  })

  it('without a describe function, marks the step done with no note', async () => {
    const {calls, progress} = recording()
    const result = await runStep(progress, 'plan', async () => 7)
    expect(result).to.equal(7)
    expect(calls[0].outcome).to.deep.equal({note: undefined})
  })
})
