import type {WorldStatus} from '../world/types.js'

import {formatMonitoringStatus} from '../monitoring/format.js'

/** `atlas status` as text: one line per region, then the quorum verdict per consensus group. */
export function formatStatus(status: WorldStatus): string {
  if (!status.up || !status.health) return `${status.driver} world: not running (start it with \`atlas up\`)`
  const h = status.health
  const lines = [
    `${status.driver} world: ${h.writable ? 'writable' : 'NOT WRITABLE'}; database leader ${h.leaderRegion ?? 'none'}; quorum ${h.quorumHeld ? 'held' : 'LOST'}`,
  ]
  if (status.complete === false)
    lines.push(
      '  HALF-BUILT: `atlas up` was interrupted or a process is missing; run `atlas up` to finish it (or `atlas down` to remove it)',
    )
  const regions = status.regions.map((r) => r.region)
  const rows: string[][] = [['region', 'raft member', 'raft role (term)', 'database', 'db role', 'lag (bytes)']]
  for (const region of regions) {
    const raft = h.groups.find((g) => g.group !== 'patroni')?.members.find((m) => m.region === region)
    const db = h.groups.find((g) => g.group === 'patroni')?.members.find((m) => m.region === region)
    rows.push([
      region,
      raft ? `${raft.name} ${raft.alive ? 'alive' : 'DOWN'}` : '-',
      raft?.alive ? `${raft.role} (${raft.term ?? '-'})` : '-',
      db ? `${db.name} ${db.alive ? String(db.detail?.state ?? 'alive') : 'DOWN'}` : '-',
      db?.alive ? String(db.detail?.patroniRole ?? db.role) + (db.detail?.nofailover ? ' (nofailover)' : '') : '-',
      db?.alive && db.lag !== null ? String(db.lag) : '-',
    ])
  }

  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  for (const row of rows) lines.push(`  ${row.map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd())
  for (const g of h.groups) {
    // CockroachDB: a Raft group per range, so ranges say more than one term
    const ranges =
      g.unavailableRanges != null || g.underReplicatedRanges != null
        ? `, ranges: ${g.unavailableRanges ?? '?'} unavailable, ${g.underReplicatedRanges ?? '?'} under-replicated`
        : ''
    lines.push(
      `  ${g.group}: ${g.votersAlive}/${g.voters} voters alive, quorum ${g.quorumHeld ? 'held' : 'LOST'}, leader ${g.leaderRegion ?? 'none'}${g.term === null ? '' : `, term ${g.term}`}${ranges}`,
    )
  }

  if (h.unreachableRegions.length > 0) lines.push(`  unreachable regions: ${h.unreachableRegions.join(', ')}`)
  if (status.monitoring) lines.push(...formatMonitoringStatus(status.monitoring))
  return lines.join('\n')
}

/** The line under each refresh of `status --watch`: when the status was taken (UTC), and how often. */
export function watchFooter(at: Date, intervalMs: number): string {
  return `refreshed ${at
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC')} (every ${intervalMs / 1000} s; Ctrl-C to stop)`
}
