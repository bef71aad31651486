import type {PlanStep} from '../types.js'
import {BASE_DIR_PLACEHOLDER, PACKAGE_PLACEHOLDER} from './index.js'

/**
 * A dry-run plan as text: numbered steps, each command with its working
 * directory (and stdin file), then the files the step renders. `paths` explains
 * the placeholders (e.g. {'<base>': '/home/me/.atlas'}).
 */
export function formatPlanSteps(steps: PlanStep[], paths: Record<string, string> = {}): string {
  const lines: string[] = []
  for (const [name, value] of Object.entries(paths)) lines.push(`${name} = ${value}`)
  steps.forEach((step, i) => {
    lines.push(`${i + 1}. ${step.title}${step.skip ? ` (skip: ${step.skip})` : ''}`)
    for (const c of step.commands) {
      lines.push(`     $ ${c.argv.join(' ')}${c.stdinFile ? ` < ${c.stdinFile}` : ''}`)
      lines.push(`       in ${c.cwd}`)
    }
    for (const file of step.files ?? []) lines.push(`     writes ${file}`)
  })
  return lines.join('\n')
}

export function placeholderLegend(baseDir: string, packageRoot: string): Record<string, string> {
  return {[BASE_DIR_PLACEHOLDER]: baseDir, [PACKAGE_PLACEHOLDER]: packageRoot}
}
