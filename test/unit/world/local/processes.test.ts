import {expect} from 'chai'
import {spawn} from 'node:child_process'

import {childrenOf, cmdlineOf, processGroupOf, processState} from '../../../../src/lib/world/local/processes.js'

describe('local world process helpers (/proc)', () => {
  it('reads the process group, parent, state and command line of a real process', async () => {
    const child = spawn('sleep', ['30'], {detached: true, stdio: 'ignore'})
    await new Promise((resolve) => child.once('spawn', resolve))
    const pid = child.pid!
    try {
      // detached: its own group, like every process the local world starts
      expect(await processGroupOf(pid)).to.equal(pid)
      expect(await processGroupOf(process.pid)).to.not.equal(pid)
      expect(await childrenOf(process.pid)).to.include(pid)
      expect(await cmdlineOf(pid)).to.equal('sleep 30 ')
      process.kill(pid, 'SIGSTOP')
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(await processState(pid)).to.equal('T')
      process.kill(pid, 'SIGCONT')
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(await processState(pid)).to.equal('S')
    } finally {
      process.kill(pid, 'SIGKILL')
    }

    await new Promise((resolve) => child.once('exit', resolve))
    expect(await processState(pid)).to.equal(undefined)
  })
})
