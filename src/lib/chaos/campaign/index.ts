/**
 * Campaigns: many blast-radius rounds from one seed, under one transfer workload.
 * plan.ts draws the schedule (a pure function of the seed and the arguments), run.ts runs
 * it round by round, report.ts writes what it found.
 */
export * from './plan.js'
export * from './report.js'
export * from './run.js'
