// The fault matrix on one real local world: each component of a region (the whole
// region, its etcd member, its Patroni alone, its PostgreSQL alone), killed and frozen,
// on the leader, a following data region and the witness, each under the transfer
// workload. Zero loss is a claim about every cell: each must show 0 acknowledged
// transfers lost and pass verify. bench/chaos runs the same cells longer and reports.
// The workload pipelines (4 transfers in flight on each connection, the default, pinned here,
// written in batches): a lost connection then takes several statements with it, the harder case.
import {expect} from 'chai'
import {execa} from 'execa'

import {formatMatrix, matrixCells, type MatrixRow, runFaultMatrix} from '../../src/lib/chaos/matrix.js'
import {LocalWorld} from '../../src/lib/world/local/index.js'
import {hasNetAdmin} from '../../src/lib/world/local/partition.js'
import {createTestWorld, type TestWorld} from '../helpers/world.js'

describe('fault matrix: kill and freeze of every component, leader and followers (real local world)', function () {
  this.timeout(1_200_000)
  let world: TestWorld
  let local: LocalWorld
  const rows: MatrixRow[] = []

  before(async () => {
    world = await createTestWorld('matrix')
    const up = await world.atlas(['up'])
    expect(up.exitCode, up.stderr).to.equal(0)
    local = new LocalWorld(world.config, {baseDir: world.baseDir})
  })

  after(async () => {
    if (rows.length > 0) console.log(`\n${formatMatrix(rows)}\n`)
    await world?.destroy()
  })

  for (const component of ['region', 'etcd', 'patroni', 'postgres'] as const) {
    it(`${component}: kill and stop of the leader, a follower and the witness lose nothing`, async () => {
      // 8 s outlasts the 4 s leader lease: a frozen or dead leader is replaced while the fault holds
      const cells = await runFaultMatrix(local, {
        cells: matrixCells({components: [component]}),
        durationMs: 8000,
        pipeline: 4,
        runsDir: local.runsDir(),
        prefix: 'matrix',
      })
      rows.push(...cells)
      const ran = cells.filter((c) => !c.skipped)
      expect(ran.length).to.be.at.least(component === 'etcd' ? 4 : 6)
      for (const cell of ran) {
        const label = `${cell.component} ${cell.mode} ${cell.role} (${cell.region})`
        expect(cell.acknowledged, `${label}: the workload made progress`).to.be.above(0)
        expect(cell.lost, `${label}: acknowledged transfers lost`).to.equal(0)
        expect(cell.verified, `${label}: verify ${JSON.stringify(cell.violations)}`).to.equal(true)
        // a follower's or the witness's fault must never move the database leader
        if (cell.role !== 'leader') expect(cell.failover, `${label}: failover`).to.equal(false)
      }
    })
  }

  it('region: a partition (isolate) of the leader, a follower and the witness loses nothing', async function () {
    const nft = await execa('nft', ['--version'], {reject: false}).catch(() => {})
    // partitions need nftables and CAP_NET_ADMIN (root): test/integration/partition.test.ts covers the refusal without them
    if (!nft || nft.exitCode !== 0 || !(await hasNetAdmin())) this.skip()
    const cells = await runFaultMatrix(local, {
      cells: matrixCells({components: ['region'], modes: ['partition']}),
      durationMs: 10_000,
      pipeline: 4,
      runsDir: local.runsDir(),
      prefix: 'matrix',
    })
    rows.push(...cells)
    expect(cells.filter((c) => !c.skipped)).to.have.length(3)
    for (const cell of cells) {
      const label = `partition ${cell.role} (${cell.region})`
      expect(cell.acknowledged, `${label}: the workload made progress`).to.be.above(0)
      expect(cell.lost, `${label}: acknowledged transfers lost`).to.equal(0)
      expect(cell.verified, `${label}: verify ${JSON.stringify(cell.violations)}`).to.equal(true)
      expect(cell.failover, `${label}: failover`).to.equal(cell.role === 'leader')
    }
  })
})
