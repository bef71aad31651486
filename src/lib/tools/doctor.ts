import type {DriverSetting} from '../config/schema.js'

import {type DoctorReport, inspectAllTools} from './discovery.js'

export interface DoctorResult extends DoctorReport {
  selectedDriver: DriverSetting
  selectedUsable: boolean
}

export async function doctor(selectedDriver: DriverSetting, searchPath?: string[]): Promise<DoctorResult> {
  const report = await inspectAllTools(searchPath)
  const usable = (d: string) => report.drivers.find((r) => r.driver === d)?.usable ?? false
  const selectedUsable = selectedDriver === 'auto' ? usable('local') || usable('k3d') : usable(selectedDriver)
  return {...report, selectedDriver, selectedUsable}
}

export function formatDoctorReport(result: DoctorResult): string {
  const lines: string[] = []
  for (const driver of result.drivers) {
    lines.push(
      `${driver.driver} driver: ${driver.usable ? 'usable' : `NOT usable (missing or unusable: ${driver.missing.join(', ')})`}`,
    )
    for (const tool of result.tools.filter((t) => t.drivers.includes(driver.driver))) {
      const mark = tool.ok ? '✓' : '✗'
      const found = tool.found ? `${tool.version ?? '?'} at ${tool.path}` : 'not found'
      lines.push(
        `  ${mark} ${tool.name.padEnd(17)} ${found} (needs >= ${tool.minVersion})${tool.ok ? '' : `: ${tool.problem}; ${tool.install}`}`,
      )
    }
  }

  lines.push(`selected driver "${result.selectedDriver}": ${result.selectedUsable ? 'usable' : 'not usable'}`)
  return lines.join('\n')
}
