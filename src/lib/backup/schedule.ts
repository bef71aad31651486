import path from 'node:path'

import type {LocalLayout} from '../world/local/layout.js'
import type {ManagedProcess} from '../world/local/processes.js'

import {type AtlasConfig, durationSeconds} from '../config/schema.js'
import {packagePath} from '../paths.js'

/**
 * The backup scheduler of backup.schedule, as a managed process of the local world
 * (started by `up`, stopped by `down`, restarted by `up` when it died); none without
 * a schedule. libexec/backup-schedule.mjs runs `atlas backup` at every tick.
 */
export function backupSchedulerProcesses(config: AtlasConfig, layout: LocalLayout): ManagedProcess[] {
  const {schedule} = config.backup
  if (!schedule) return []
  const script = packagePath('libexec', 'backup-schedule.mjs')
  return [
    {
      name: 'backup-schedule',
      kind: 'scheduler',
      tool: process.execPath,
      args: [
        script,
        '--every',
        String(durationSeconds(schedule)),
        '--type',
        config.backup.type,
        '--base-dir',
        layout.baseDir,
        ...(config.source ? ['--config', config.source] : []),
      ],
      logFile: path.join(layout.logDir, 'backup-schedule.log'),
      pidFile: path.join(layout.pidDir, 'backup-schedule.pid'),
      asPostgres: false,
      marker: `${script} --every`,
    },
  ]
}
