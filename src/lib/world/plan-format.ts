import type {PlannedCommand} from '../tools/runner.js'
import type {PlanStep} from './types.js'

/**
 * A dry-run plan as text: numbered steps, each command with its working
 * directory (and stdin file), then the files the step renders. `legend` explains
 * the placeholders plans use instead of machine-specific paths
 * (e.g. {'<base>': '/home/me/.atlas'}). Worlds without steps give a flat command list.
 */
export function formatPlan(plan: {
  plan?: PlannedCommand[]
  planLegend?: Record<string, string>
  steps?: PlanStep[]
}): string {
  const lines: string[] = []
  for (const [name, value] of Object.entries(plan.planLegend ?? {})) lines.push(`${name} = ${value}`)
  if (plan.steps) {
    for (const [i, step] of plan.steps.entries()) {
      lines.push(`${i + 1}. ${step.title}${step.skip ? ` (skip: ${step.skip})` : ''}`)
      for (const statement of step.sql ?? []) lines.push(`     sql> ${statement}`)
      for (const c of step.commands) {
        lines.push(`     $ ${c.argv.join(' ')}${c.stdinFile ? ` < ${c.stdinFile}` : ''}`, `       in ${c.cwd}`)
      }

      for (const file of step.files ?? []) lines.push(`     writes ${file}`)
    }
  } else {
    for (const c of plan.plan ?? [])
      lines.push(
        `  $ ${c.argv.join(' ')}${c.background ? ' &' : ''}${c.cwd && c.cwd !== '.' ? `   (in ${c.cwd})` : ''}`,
      )
  }

  return lines.join('\n')
}

/** Changed settings as text: `ttl 5 → 4, retry_timeout 2 → 1` (an unset old value says so). */
export function formatConfigChanges(changes: Array<{from: unknown; key: string; to: unknown}>): string {
  const show = (value: unknown) => (value === null || value === undefined ? 'unset' : String(value))
  return changes.map((c) => `${c.key} ${show(c.from)} → ${show(c.to)}`).join(', ')
}
