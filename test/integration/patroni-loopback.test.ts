import {expect} from 'chai'
import {execa} from 'execa'
import {realpath} from 'node:fs/promises'
import path from 'node:path'

import {findExecutable} from '../../src/lib/tools/discovery.js'
import {REPO_ROOT} from '../helpers/cli.js'

/**
 * libexec/patroni-loopback.py against the installed Patroni: replication is re-pointed at a new
 * leader only once it is out of recovery (a standby that connects during the promotion is never
 * synchronous), and the witness's 2 s leader-race sleep ends then too; the leader names its
 * standbys in /sync as soon as PostgreSQL confirms them synchronous instead of 2 s after writing
 * synchronous_standby_names; a starting PostgreSQL is checked every 0.1 s instead of every second, and
 * the postmaster is started by a small launcher instead of a spawned interpreter; and at the
 * loopback retry_timeout of 1 s a node can still take the leader lock (after the lease refresh
 * Patroni insists on 1 s of that deadline being left, which at 1 s it never is), and its etcd client
 * gives a request to one member a third of that second instead of at least 1 s; and a primary that
 * cannot reach etcd for a loop keeps its role while its lease outlasts the watchdog's margin; and a
 * node about to be promoted first replicates from a nofailover member holding more WAL on its
 * timeline, at most 1 s (test/python/patroni_loopback_check.py, on Patroni's own interpreter,
 * running Patroni's Ha and Etcd3 methods over stubs of Ha, SyncHandler, Postgresql and the etcd client).
 */
describe('patroni-loopback.py (installed Patroni)', function () {
  this.timeout(60_000)

  it('re-points replication at a new leader once it is primary and writes /sync once standbys are confirmed, each wait at most 2 s, sees a starting PostgreSQL within 0.1 s, takes the leader lock at retry_timeout 1, and receives what the witness holds before a promotion', async () => {
    // every world test needs Patroni too: npm run setup installs it
    const patroni = await findExecutable('patroni')
    if (!patroni) throw new Error('Patroni is not installed (npm run setup)')
    const python = path.join(path.dirname(await realpath(patroni)), 'python3')
    const check = await execa(python, [path.join(REPO_ROOT, 'test', 'python', 'patroni_loopback_check.py')], {
      reject: false,
    })
    expect(check.exitCode, `${check.stdout}\n${check.stderr}`).to.equal(0)
    expect(check.stdout.split('\n').filter((l) => l.startsWith('ok: '))).to.have.length(42)
  })
})
