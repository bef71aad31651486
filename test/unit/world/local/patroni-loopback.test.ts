import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {realpath} from 'node:fs/promises'
import path from 'node:path'
import {promisify} from 'node:util'

import {packagePath} from '../../../../src/lib/paths.js'
import {findExecutable} from '../../../../src/lib/tools/discovery.js'

/**
 * Runs Patroni's own Ha.process_unhealthy_cluster (the installed Patroni) on a stand-in
 * `self`: a node tagged nofailover (the witness) that finds the leader key gone. Every
 * time.sleep is recorded instead of slept, so nothing here depends on timing.
 */
const SCRIPT = String.raw`
import json, runpy, sys, time, types

slept = []
time.sleep = lambda s: slept.append(s)

loopback = runpy.run_path(sys.argv[1], run_name='patroni_loopback')
if sys.argv[2] == 'patched' and 'wait_for_leader_lock_not_fixed_time' in loopback:
    loopback['wait_for_leader_lock_not_fixed_time']()
import patroni.ha

class LeaderKeyEvent:
    """Patroni's wake-up event; already set: the new leader has taken the lock."""
    waits = []
    def wait(self, timeout):
        self.waits.append(timeout)
        return True

calls = []
node = types.SimpleNamespace(
    is_healthiest_node=lambda: False,
    cluster=types.SimpleNamespace(failover=None),
    patroni=types.SimpleNamespace(nofailover=True),
    is_paused=lambda: False,
    _rewind=types.SimpleNamespace(trigger_check_diverged_lsn=lambda: calls.append('rewind check')),
    dcs=types.SimpleNamespace(event=LeaderKeyEvent()),
    follow=lambda demote, follow: calls.append('follow') or follow,
)
result = patroni.ha.Ha.process_unhealthy_cluster(node)
slept_in_process = list(slept)
patroni.ha.time.sleep(0.25)  # any other sleep of patroni.ha
print(json.dumps({'result': result, 'calls': calls, 'slept': slept_in_process,
                  'waits': LeaderKeyEvent.waits, 'other': slept[len(slept_in_process):],
                  'clock': isinstance(patroni.ha.time.time(), float)}))
`

async function runHa(mode: 'patched' | 'unpatched') {
  const patroni = await findExecutable('patroni')
  if (!patroni) throw new Error('Patroni is not installed (npm run setup)')
  const python = path.join(path.dirname(await realpath(patroni)), 'python3')
  const {stdout} = await promisify(execFile)(python, [
    '-c',
    SCRIPT,
    packagePath('libexec', 'patroni-loopback.py'),
    mode,
  ])
  return JSON.parse(stdout) as {
    calls: string[]
    clock: boolean
    other: number[]
    result: string
    slept: number[]
    waits: number[]
  }
}

describe('libexec/patroni-loopback.py', function () {
  this.timeout(30_000)

  it('a nofailover node with no leader key follows once the leader key changes, not after a fixed 2 s', async () => {
    const patched = await runHa('patched')
    expect(patched.result).to.equal('following a different leader because I am not allowed to promote')
    expect(patched.calls).to.deep.equal(['rewind check', 'follow'])
    // waited on the leader-key event (at most Patroni's 2 s), slept nothing
    expect(patched.waits).to.deep.equal([2])
    expect(patched.slept).to.deep.equal([])
    // every other sleep of patroni.ha and its clock are untouched
    expect(patched.other).to.deep.equal([0.25])
    expect(patched.clock).to.equal(true)
  })

  it('unpatched, the same Patroni sleeps the fixed 2 s (what the launcher changes)', async () => {
    const unpatched = await runHa('unpatched')
    expect(unpatched.calls).to.deep.equal(['rewind check', 'follow'])
    expect(unpatched.slept).to.deep.equal([2])
    expect(unpatched.waits).to.deep.equal([])
  })
})
