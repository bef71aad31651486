import {Config} from '@oclif/core'
import {expect} from 'chai'

import {REPO_ROOT} from '../../helpers/cli.js'

describe('atlas workload defaults', () => {
  it('a typical load by default (4 workers), contention only on request (--hot-accounts, also spelled --accounts)', async () => {
    const config = await Config.load({root: REPO_ROOT})
    const workload = config.findCommand('workload')!
    expect(workload.flags.concurrency.default).to.equal(4)
    expect(workload.flags['hot-accounts']).to.include({type: 'option'})
    expect(workload.flags['hot-accounts'].aliases).to.deep.equal(['accounts'])
    expect(workload.flags['hot-accounts'].default).to.equal(undefined)
  })

  it('--pipeline on every command that runs the workload, its default left to the workload (4 direct, 1 via queue)', async () => {
    const config = await Config.load({root: REPO_ROOT})
    for (const id of ['workload', 'blast-radius', 'chaos']) {
      const flag = config.findCommand(id)!.flags.pipeline
      expect(flag, id).to.include({type: 'option'})
      expect(flag, id).to.not.have.property('default')
      expect(flag.summary, id).to.match(/Default: 4 direct to the database, 1 with --via queue/)
    }
  })
})
