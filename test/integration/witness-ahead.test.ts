// The leader's region killed while the witness holds WAL the other data region never received
// (real local world). Every commit waits for both standbys, but the primary sends its WAL to each
// on its own, so in a few failovers of a hundred the witness is ahead of the region promoted.
// That WAL was never acknowledged; PostgreSQL still refuses a new timeline forking before the
// witness's replay position, and rewinding the witness held every commit for 5-6 s more. The
// region promoted receives that WAL from the witness first (libexec/patroni-loopback.py), so the
// witness follows it without a rewind. test/helpers/witness-ahead.ts makes the race happen.
import {expect} from 'chai'
import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {matrixCells, runFaultMatrix} from '../../src/lib/chaos/matrix.js'
import {LocalWorld} from '../../src/lib/world/local/index.js'
import {withWitnessAhead, type WitnessAhead} from '../helpers/witness-ahead.js'
import {createTestWorld, type TestWorld} from '../helpers/world.js'

describe('failover while the witness is ahead of the region promoted (real local world)', function () {
  this.timeout(300_000)
  let world: TestWorld
  let local: LocalWorld

  before(async () => {
    world = await createTestWorld('witness-ahead')
    const up = await world.atlas(['up'])
    expect(up.exitCode, up.stderr).to.equal(0)
    local = new LocalWorld(world.config, {baseDir: world.baseDir})
  })

  after(async () => {
    await world?.destroy()
  })

  it('the region promoted first receives what the witness holds; the witness is not rewound and nothing is lost', async () => {
    const patroniLog = (region: string) => path.join(local.layout.logDir, `patroni-${region}.log`)
    const logFrom = async (region: string, offset: number) =>
      (await readFile(patroniLog(region))).subarray(offset).toString('utf8')
    const sizes = Object.fromEntries(
      await Promise.all(
        local.regions.map(async (r) => [
          r.name,
          (await readFile(patroniLog(r.name)).catch(() => Buffer.alloc(0))).length,
        ]),
      ),
    ) as Record<string, number>

    let ahead: undefined | WitnessAhead
    withWitnessAhead(local, {onAhead: (a) => (ahead = a)})
    const [row] = await runFaultMatrix(local, {
      cells: matrixCells({components: ['region'], modes: ['kill'], roles: ['leader']}),
      durationMs: 8000,
      runsDir: local.runsDir(),
      prefix: 'witness-ahead',
    })

    expect(ahead, 'the leader was hit with the race set up').to.not.equal(undefined)
    const {replica, witness} = ahead!
    expect(witness.received, `the witness holds more WAL than ${replica.region}`).to.be.above(replica.received ?? 0)
    expect(row.failover, 'failover').to.equal(true)
    expect(row.acknowledged).to.be.above(0)
    expect(row.lost, 'acknowledged transfers lost').to.equal(0)
    expect(row.verified, `verify ${JSON.stringify(row.violations)}`).to.equal(true)

    // neither refused the new timeline nor rewound (what the log said each time before)
    const witnessLog = await logFrom(witness.region, sizes[witness.region])
    const rewound = witnessLog.split('\n').filter((l) => /running pg_rewind|forked off current database system/.test(l))
    expect(rewound, 'the witness refused the new timeline or was rewound').to.deep.equal([])

    const witnessName = local.regionLayout(witness.region).postgresName
    const promoted = await logFrom(replica.region, sizes[replica.region])
    expect(promoted).to.match(new RegExp(`${witnessName} holds WAL up to \\S+ on timeline \\d+, \\d+ bytes beyond`))
    expect(promoted).to.match(new RegExp(`received WAL up to \\S+ from ${witnessName} in `))

    // the witness streams from the new primary again: the world converges (both standbys synchronous)
    await local.waitConverged({timeoutMs: 60_000})
  })
})
