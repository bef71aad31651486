import {expect} from 'chai'

import type {World} from '../../../src/lib/world/types.js'

import {blastRadius, type BlastResult} from '../../../src/lib/chaos/blast.js'
import {longestWriteGap, type TimelinePoint, unavailableSeconds} from '../../../src/lib/chaos/timeline.js'
import {DEFAULT_CONFIG} from '../../../src/lib/config/defaults.js'
import {parseConfigObject} from '../../../src/lib/config/load.js'
import {AtlasError, ExitCode} from '../../../src/lib/errors.js'
import {formatBlastSummary, formatMarkdownReport} from '../../../src/lib/report/blast.js'

const config = parseConfigObject(DEFAULT_CONFIG)

/** A world that fails the test if anything beyond its regions is touched. */
const untouchable = {
  driver: 'local',
  config,
  regions: config.regions,
  runsDir: () => '/nonexistent',
  status: () => Promise.reject(new Error('status must not be called')),
  // a dry run only validates the fault (nothing is touched); a real one must not happen
  injectFault: (region: string, mode: string, options?: {dryRun?: boolean}) =>
    options?.dryRun
      ? Promise.resolve({region, mode, injectedAt: new Date(), description: 'dry run', async undo() {}})
      : Promise.reject(new Error('injectFault must not be called')),
} as unknown as World

describe('blast-radius pre-check', () => {
  it('refuses a fault that loses quorum (exit 3) with the arithmetic, before touching the world', async () => {
    const error = await blastRadius(untouchable, {regions: ['us', 'witness'], mode: 'kill', durationMs: 1000}).catch(
      (error_: unknown) => error_,
    )
    expect(error).to.be.instanceOf(AtlasError)
    expect((error as AtlasError).exitCode).to.equal(ExitCode.Precondition)
    expect((error as AtlasError).code).to.equal('FAULT_REFUSED')
    expect((error as AtlasError).message).to.equal(
      'refusing to break us + witness: losing us + witness leaves 1 of 3 voting regions; a Raft majority needs 2 of 3: quorum would be lost',
    )
    expect((error as AtlasError).hint).to.match(/--force/)
  })

  it('lets a single-region fault through to the world', async () => {
    const error = await blastRadius(untouchable, {regions: ['eu'], mode: 'kill', durationMs: 1000}).catch(
      (error_: unknown) => error_,
    )
    expect((error as Error).message).to.equal('status must not be called')
  })

  it('refuses a fault the world cannot do (exit 2) before looking at the world or starting a workload', async () => {
    const {UsageError} = await import('../../../src/lib/errors.js')
    const k3dLike = {
      ...untouchable,
      injectFault: (_region: string, _mode: string, options?: {component?: string; dryRun?: boolean}) =>
        Promise.reject(
          options?.dryRun
            ? new UsageError(
                `the k3d world breaks whole regions only; --component ${options.component} is for the local world`,
              )
            : new Error('injectFault must not be called'),
        ),
    } as unknown as World
    const error = (await blastRadius(k3dLike, {
      regions: ['eu'],
      mode: 'kill',
      component: 'postgres',
      durationMs: 1000,
    }).catch((error_: unknown) => error_)) as AtlasError
    expect(error.exitCode).to.equal(ExitCode.Usage)
    expect(error.message).to.match(/--component postgres/)
  })
})

describe('blast-radius --component etcd-leader: resolved before the workload starts', () => {
  /** health shaped as the local world's: an etcd group and a patroni group, each with its leader's region */
  const withEtcdLeader = (leader: null | string, groups = ['etcd', 'patroni'], leaderlessReads = 0) => {
    const dryRuns: Array<{component?: string; region: string}> = []
    let reads = 0
    const world = {
      ...untouchable,
      health: async () => ({
        at: new Date().toISOString(),
        groups: groups.map((group) => ({
          group,
          members: [],
          votersAlive: 3,
          voters: 3,
          quorumHeld: true,
          leaderRegion: group === 'etcd' ? (reads++ < leaderlessReads ? null : leader) : 'us',
          term: 2,
          unavailableRanges: null,
          underReplicatedRanges: null,
        })),
        quorumHeld: true,
        leaderRegion: 'us',
        writable: true,
        unreachableRegions: [],
      }),
      injectFault(region: string, mode: string, options?: {component?: string; dryRun?: boolean}) {
        if (!options?.dryRun) return Promise.reject(new Error('injectFault must not be called'))
        dryRuns.push({region, component: options.component})
        return Promise.resolve({region, mode, injectedAt: new Date(), description: 'dry run', async undo() {}})
      },
    } as unknown as World
    return {world, dryRuns}
  }

  it('without --region: the region whose etcd member leads, its etcd member only', async () => {
    const {world, dryRuns} = withEtcdLeader('eu')
    const error = await blastRadius(world, {
      regions: [],
      component: 'etcd-leader',
      mode: 'stop',
      durationMs: 1000,
    }).catch((error_: unknown) => error_)
    expect((error as Error).message).to.equal('status must not be called')
    expect(dryRuns).to.deep.equal([{region: 'eu', component: 'etcd'}])
  })

  it('an election in progress (no etcd leader for a moment) is waited out, not refused', async () => {
    const {world, dryRuns} = withEtcdLeader('eu', ['etcd', 'patroni'], 2)
    const error = await blastRadius(world, {
      regions: [],
      component: 'etcd-leader',
      mode: 'stop',
      durationMs: 1000,
    }).catch((error_: unknown) => error_)
    expect((error as Error).message).to.equal('status must not be called')
    expect(dryRuns).to.deep.equal([{region: 'eu', component: 'etcd'}])
  })

  it("with the leader's --region: the same; with another region: exit 3 naming the leader, before the workload", async () => {
    const same = withEtcdLeader('witness')
    expect(
      (
        (await blastRadius(same.world, {
          regions: ['witness'],
          component: 'etcd-leader',
          mode: 'kill',
          durationMs: 1000,
        }).catch((error_: unknown) => error_)) as Error
      ).message,
    ).to.equal('status must not be called')
    expect(same.dryRuns).to.deep.equal([{region: 'witness', component: 'etcd'}])
    const other = withEtcdLeader('witness')
    const error = (await blastRadius(other.world, {
      regions: ['us'],
      component: 'etcd-leader',
      mode: 'kill',
      durationMs: 1000,
    }).catch((error_: unknown) => error_)) as AtlasError
    expect(error.exitCode).to.equal(ExitCode.Precondition)
    expect(error.code).to.equal('ETCD_LEADER_ELSEWHERE')
    expect(error.message).to.equal('--region us does not hold the etcd leader: witness does')
    expect(other.dryRuns).to.deep.equal([])
  })

  it('no etcd leader, no etcd group (k3d), a partition or two regions: refused before anything starts', async () => {
    const none = (await blastRadius(withEtcdLeader(null).world, {
      regions: [],
      component: 'etcd-leader',
      mode: 'kill',
      durationMs: 1000,
    }).catch((error: unknown) => error)) as AtlasError
    expect([none.exitCode, none.code]).to.deep.equal([ExitCode.Precondition, 'ETCD_LEADER_UNKNOWN'])
    const k3d = (await blastRadius(withEtcdLeader('us', ['cockroachdb']).world, {
      regions: [],
      component: 'etcd-leader',
      mode: 'kill',
      durationMs: 1000,
    }).catch((error: unknown) => error)) as AtlasError
    expect([k3d.exitCode, k3d.code]).to.deep.equal([ExitCode.Precondition, 'ETCD_LEADER_UNKNOWN'])
    expect(k3d.message).to.match(/no etcd group/)
    const partition = (await blastRadius(withEtcdLeader('us').world, {
      regions: [],
      component: 'etcd-leader',
      mode: 'partition',
      durationMs: 1000,
    }).catch((error: unknown) => error)) as AtlasError
    expect(partition.exitCode).to.equal(ExitCode.Usage)
    const two = (await blastRadius(withEtcdLeader('us').world, {
      regions: ['us', 'eu'],
      component: 'etcd-leader',
      mode: 'kill',
      durationMs: 1000,
    }).catch((error: unknown) => error)) as AtlasError
    expect(two.exitCode).to.equal(ExitCode.Usage)
  })
})

describe('blast-radius restore failure', () => {
  it('exits 5 naming what is left broken, and leaves restore-failed.json in the run directory', async () => {
    const {mkdtemp, readFile, rm} = await import('node:fs/promises')
    const os = await import('node:os')
    const {default: path} = await import('node:path')
    const {RestoreError} = await import('../../../src/lib/errors.js')
    const dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-chaos-unit-'))
    const health = {
      at: new Date().toISOString(),
      groups: [],
      quorumHeld: true,
      leaderRegion: 'us',
      writable: true,
      unreachableRegions: [],
    }
    let undone = 0
    const world = {
      driver: 'local',
      config,
      regions: config.regions,
      runsDir: () => dir,
      status: async () => ({driver: 'local', up: true, regions: [], health}),
      waitConverged: async () => health,
      health: async () => health,
      injectFault: async (region: string, mode: string) => ({
        region,
        mode,
        injectedAt: new Date(),
        description: `SIGKILL to etcd-${region}`,
        async undo() {
          undone++
          throw new RestoreError(
            `region ${region} could not be restored: etcd-${region} did not restart: port 1234 is busy`,
          )
        },
      }),
    } as unknown as World
    try {
      const error = (await blastRadius(world, {regions: ['eu'], mode: 'kill', durationMs: 50, workload: false}).catch(
        (error_: unknown) => error_,
      )) as AtlasError
      expect(error.exitCode).to.equal(ExitCode.RestoreFailed)
      expect(error.message).to.equal(
        'the fault could not be undone, the world is left broken: region eu could not be restored: etcd-eu did not restart: port 1234 is busy',
      )
      expect(undone).to.equal(1)
      const runs = await (await import('node:fs/promises')).readdir(dir)
      expect(runs).to.have.length(1)
      const saved = JSON.parse(await readFile(path.join(dir, runs[0], 'restore-failed.json'), 'utf8'))
      expect(saved.regions).to.deep.equal(['eu'])
      expect(saved.fault).to.deep.equal(['SIGKILL to etcd-eu'])
      expect(error.hint).to.include('restore-failed.json')
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})

describe('blast report', () => {
  const point = (t: number, writable: boolean, leader: null | string): TimelinePoint => ({
    t,
    at: new Date(Date.UTC(2026, 0, 1) + t * 1000).toISOString(),
    writable,
    quorumHeld: true,
    leaderRegion: leader,
    raftLeaderRegion: 'witness',
    raftTerm: 3,
    unreachableRegions: writable ? [] : ['us'],
    membersAlive: 4,
    members: 6,
  })

  it('measures unavailability from the timeline', () => {
    expect(unavailableSeconds([point(-0.1, true, 'us'), point(0.2, false, null), point(7.9, true, 'eu')])).to.equal(7.9)
    expect(unavailableSeconds([])).to.equal(null)
  })

  describe('unavailability from the acknowledgements (what the clients saw)', () => {
    const every = (fromMs: number, toMs: number, stepMs: number) =>
      Array.from({length: Math.floor((toMs - fromMs) / stepMs) + 1}, (_, i) => fromMs + i * stepMs)
    const fault = 1_000_000

    it('a stall of commits while the health model saw a writable leader: the longest gap spans the fault', () => {
      // a write every 10 ms, none from just before the fault until 6 s after it (a witness kill: commits wait for the sync standby)
      const acks = [...every(fault - 2003, fault - 3, 10), ...every(fault + 5997, fault + 8000, 10)]
      expect(longestWriteGap(acks, fault, fault + 8005)).to.deep.equal({
        seconds: 6,
        fromSeconds: -0.003,
        toSeconds: 5.997,
        open: false,
      })
    })

    it("order does not matter, and a longer gap before the fault is not the fault's", () => {
      const acks = [fault + 900, fault - 5000, fault + 300, fault - 100, fault - 9000, fault + 1000]
      expect(longestWriteGap(acks, fault, fault + 1000)).to.deep.equal({
        seconds: 0.6,
        fromSeconds: 0.3,
        toSeconds: 0.9,
        open: false,
      })
    })

    it('no write acknowledged after the fault: the gap is open until the workload stopped', () => {
      expect(longestWriteGap(every(fault - 1000, fault - 50, 50), fault, fault + 12_000)).to.deep.equal({
        seconds: 12.05,
        fromSeconds: -0.05,
        toSeconds: 12,
        open: true,
      })
    })

    it('nothing acknowledged at all: unknown, not zero', () => {
      expect(longestWriteGap([], fault, fault + 5000)).to.equal(null)
    })
  })

  it('renders a Markdown report with the verdict, RTO and one timeline row per change', () => {
    const result = {
      region: 'us',
      regions: ['us'],
      mode: 'kill',
      driver: 'local',
      runDir: '/r',
      forced: false,
      survivability: {
        survives: true,
        voters: 3,
        votersLost: 1,
        votersLeft: 2,
        majority: 2,
        explanation: 'losing us leaves 2 of 3 voting regions; a Raft majority needs 2 of 3: quorum holds',
      },
      faultInjectedAt: '2026-01-01T00:00:00.000Z',
      faultDescription: 'SIGKILL to etcd-us',
      durationSeconds: 12,
      rtoSeconds: 7.91,
      recoveredDuringFault: true,
      unavailableSeconds: 8.02,
      longestWriteGapSeconds: 8.02,
      longestWriteGap: {seconds: 8.02, fromSeconds: -0.11, toSeconds: 7.91, open: false},
      healthModel: {unavailableSeconds: 7.9, samples: 4, sampleIntervalSeconds: 0.25},
      leaderBefore: 'us',
      leaderAfterFault: 'eu',
      leaderAfterRestore: 'eu',
      failover: true,
      acknowledged: 900,
      unknown: 2,
      lost: 0,
      attempted: 905,
      verified: true,
      violations: {},
      converged: true,
      convergeSeconds: 4.2,
      timeline: [point(-0.1, true, 'us'), point(0.2, false, null), point(0.45, false, null), point(7.9, true, 'eu')],
      events: [{t: 0, at: '', event: 'fault injected'}],
      report: {json: '/r/report.json', markdown: '/r/report.md'},
      interrupted: false,
    } as BlastResult
    const md = formatMarkdownReport(result)
    expect(md).to.match(/Verdict: \*\*PASS\*\*: 900 acknowledged transfers, 0 lost, 2 with unknown outcome/)
    expect(md).to.include('| RTO (fault to first acknowledged write) | 7.91 s |')
    expect(md).to.include(
      '| not writable, as the workload saw it (longest gap between acknowledged writes) | 8.02 s (t = -0.11 to 7.91 s) |',
    )
    expect(md).to.include(
      "| not writable, health model's view (member health sampled every 0.25 s; not client writes) | 7.90 s |",
    )
    expect(formatBlastSummary(result)).to.include(
      'writes: longest gap between acknowledged writes 8.02 s (t = -0.11 to 7.91 s); health model: 7.90 s not writable',
    )
    // the two identical "not writable" samples collapse into one row
    expect(md.split('\n').filter((l) => /^\| 0\.(20|45) \| NO/.test(l))).to.have.length(1)
  })
})
