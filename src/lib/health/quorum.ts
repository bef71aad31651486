import type {Region} from '../config/schema.js'

import {majority} from './model.js'

export interface SurvivabilityAssessment {
  /** the arithmetic, in words, for the pre-check message */
  explanation: string
  majority: number
  survives: boolean
  voters: number
  votersLeft: number
  votersLost: number
}

/**
 * Would the world keep quorum if these regions failed? Each region holds one
 * voting replica (one etcd member / one CockroachDB locality), so the question
 * is whether the surviving regions still form a majority.
 */
export function assessRegionLoss(regions: Region[], failing: string[]): SurvivabilityAssessment {
  const voters = regions.length
  const votersLost = regions.filter((r) => failing.includes(r.name)).length
  const votersLeft = voters - votersLost
  const needed = majority(voters)
  const survives = votersLeft >= needed
  const names = failing.join(' + ')
  let explanation = `losing ${names} leaves ${votersLeft} of ${voters} voting regions; a Raft majority needs ${needed} of ${voters}`
  if (!survives && voters === 2) {
    explanation += ' (two regions cannot survive the loss of either side under any Raft system; add a witness region)'
  }

  return {
    survives,
    voters,
    votersLost,
    votersLeft,
    majority: needed,
    explanation: survives ? `${explanation}: quorum holds` : `${explanation}: quorum would be lost`,
  }
}

/** One broken part of one region: the whole region, or one of its components (world/types.ts FaultComponent; the health model does not depend on the worlds). */
export interface RegionFault {
  component: 'etcd' | 'patroni' | 'postgres' | 'region'
  region: string
}

/**
 * Would the world keep writing if these faults held together? Two questions:
 * - Raft: a region's voter is lost when its whole region or its etcd member is broken
 *   (Patroni or PostgreSQL alone leave the etcd member voting);
 * - a database leader: some data region must keep both Patroni and PostgreSQL (the
 *   witness holds no database), else no region can lead and writes stop even with a majority.
 * So one region's Patroni with another region's etcd member keeps quorum, while both
 * data regions' Patroni, or two etcd members, do not. Whole regions only: the same answer
 * as assessRegionLoss whenever a data region is left.
 */
export function assessFaults(regions: Region[], faults: RegionFault[]): SurvivabilityAssessment {
  const broken = (r: Region, parts: Array<RegionFault['component']>) =>
    faults.some((f) => f.region === r.name && parts.includes(f.component))
  const votersFailing = regions.filter((r) => broken(r, ['region', 'etcd'])).map((r) => r.name)
  const raft = assessRegionLoss(regions, votersFailing)
  const data = regions.filter((r) => r.role !== 'witness')
  const leaders = data.filter((r) => !broken(r, ['region', 'patroni', 'postgres']))
  const names = faults.map((f) => (f.component === 'region' ? f.region : `${f.component} of ${f.region}`)).join(' + ')
  const raftWords =
    votersFailing.length === 0
      ? `no etcd member is lost (${raft.voters} of ${raft.voters} voting regions left)`
      : `${votersFailing.length} etcd member(s) lost leaves ${raft.votersLeft} of ${raft.voters} voting regions; a Raft majority needs ${raft.majority} of ${raft.voters}`
  if (raft.survives && leaders.length === 0) {
    return {
      ...raft,
      survives: false,
      explanation: `breaking ${names}: ${raftWords}, but no data region keeps both Patroni and PostgreSQL, so none can lead: writes would stop`,
    }
  }

  const onlyRegions = faults.every((f) => f.component === 'region')
  if (onlyRegions) return assessRegionLoss(regions, [...new Set(faults.map((f) => f.region))])
  return {
    ...raft,
    explanation: `breaking ${names}: ${raftWords}; ${leaders.map((r) => r.name).join(', ') || 'no data region'} can still lead: ${raft.survives ? 'quorum holds' : 'quorum would be lost'}`,
  }
}
