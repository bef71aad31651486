import type {Region} from '../config/schema.js'
import {majority} from './model.js'

export interface SurvivabilityAssessment {
  survives: boolean
  voters: number
  votersLost: number
  votersLeft: number
  majority: number
  /** the arithmetic, in words, for the pre-check message */
  explanation: string
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
  return {survives, voters, votersLost, votersLeft, majority: needed, explanation: survives ? `${explanation}: quorum holds` : `${explanation}: quorum would be lost`}
}
