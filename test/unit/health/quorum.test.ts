import {expect} from 'chai'

import {DEFAULT_CONFIG} from '../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../src/lib/config/load.js'
import {assessFaults, assessRegionLoss} from '../../../src/lib/health/quorum.js'

const {regions} = parseConfigObject(DEFAULT_CONFIG)

describe('survivability of faults of parts of regions (assessFaults)', () => {
  it("one region's Patroni or PostgreSQL with another region's etcd member keeps quorum and a region able to lead", () => {
    for (const faults of [
      [
        {region: 'us', component: 'patroni' as const},
        {region: 'eu', component: 'etcd' as const},
      ],
      [
        {region: 'eu', component: 'postgres' as const},
        {region: 'witness', component: 'etcd' as const},
      ],
      [
        {region: 'us', component: 'etcd' as const},
        {region: 'eu', component: 'patroni' as const},
      ],
    ]) {
      const a = assessFaults(regions, faults)
      expect(a.survives, a.explanation).to.equal(true)
      expect(a.votersLost).to.equal(1)
      expect(a.explanation).to.match(/quorum holds/)
    }
  })

  it("two etcd members, or both data regions' databases, do not", () => {
    const etcd = assessFaults(regions, [
      {region: 'us', component: 'etcd'},
      {region: 'witness', component: 'etcd'},
    ])
    expect(etcd).to.include({survives: false, votersLost: 2})
    const databases = assessFaults(regions, [
      {region: 'us', component: 'patroni'},
      {region: 'eu', component: 'postgres'},
    ])
    expect(databases.survives).to.equal(false)
    expect(databases.votersLost, 'the etcd majority holds').to.equal(0)
    expect(databases.explanation).to.match(/none can lead: writes would stop/)
    // a whole region and a part of another: two voters, or no database left
    expect(
      assessFaults(regions, [
        {region: 'us', component: 'region'},
        {region: 'eu', component: 'patroni'},
      ]).survives,
    ).to.equal(false)
    expect(
      assessFaults(regions, [
        {region: 'us', component: 'region'},
        {region: 'witness', component: 'etcd'},
      ]).survives,
    ).to.equal(false)
  })

  it('whole regions: the same answer as assessRegionLoss', () => {
    for (const failing of [['us'], ['eu'], ['witness'], ['us', 'eu'], ['eu', 'witness'], []]) {
      expect(
        assessFaults(
          regions,
          failing.map((region) => ({region, component: 'region' as const})),
        ),
      ).to.deep.equal(assessRegionLoss(regions, failing))
    }
  })
})
