import {expect} from 'chai'
import {readFileSync} from 'node:fs'

import {freePortBlock} from '../../helpers/control-plane.js'

/**
 * The control plane's components (API servers, controller managers, schedulers) bind ports the
 * harness checked free a moment before. A port in Linux's ephemeral range can be taken by any
 * outgoing connection in between ("bind: address already in use" in a full run); the test
 * worlds' blocks (test/helpers/world.ts) start at 20000.
 */
describe('control-plane harness: port blocks', () => {
  const ephemeralFrom = (() => {
    try {
      return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    } catch {
      return 32_768 // Linux's default
    }
  })()

  it('draws every block below the ephemeral range and below the test worlds, none overlapping them', async () => {
    for (let i = 0; i < 30; i++) {
      const base = await freePortBlock(18)
      expect(base).to.be.at.least(1024)
      expect(base + 18).to.be.at.most(Math.min(ephemeralFrom, 20_000))
    }
  })
})
