import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {BlastResult} from '../chaos/types.js'

import {backupCheckFailed, backupCheckMarkdown, describeBackupCheck} from '../backup/check.js'
import {formatAlertsMarkdown, formatAlertsSummary} from '../monitoring/chaos.js'
import {redact, redactObject} from '../redact.js'
import {type PictureInput, writePicture} from './picture.js'

/** The files of a run's report, all in its run directory. */
export function reportFiles(runDir: string): BlastResult['report'] {
  return {
    json: path.join(runDir, 'report.json'),
    markdown: path.join(runDir, 'report.md'),
    picture: path.join(runDir, 'report.svg'),
    html: path.join(runDir, 'report.html'),
  }
}

/** The report's files as they are uploaded, with their content types. */
export function reportUploads(report: BlastResult['report']): Array<{contentType: string; file: string}> {
  return [
    {file: report.json, contentType: 'application/json'},
    {file: report.markdown, contentType: 'text/markdown'},
    ...(report.picture ? [{file: report.picture, contentType: 'image/svg+xml'}] : []),
    ...(report.html ? [{file: report.html, contentType: 'text/html; charset=utf-8'}] : []),
  ]
}

/** Writes report.json (the full result), report.md (for people) and its picture (report.svg, report.html) into the run directory. */
export async function writeReport(result: BlastResult): Promise<void> {
  await writeFile(result.report.json, `${JSON.stringify(redactObject({kind: 'blast-radius', ...result}), null, 2)}\n`)
  await writeFile(result.report.markdown, redact(formatMarkdownReport(result)))
  if (result.report.picture && result.report.html) {
    await writePicture(blastPicture(result), {svg: result.report.picture, html: result.report.html}, [
      {href: path.basename(result.report.markdown), label: 'report.md'},
      {href: path.basename(result.report.json), label: 'report.json'},
    ])
  }
}

export type Verdict = 'FAIL' | 'INTERRUPTED' | 'PASS'

/** PASS needs the round verified and, with --backup-check, the restored backup verified too. */
export function verdictOf(r: Pick<BlastResult, 'backupCheck' | 'interrupted' | 'verified'>): Verdict {
  return r.verified && !backupCheckFailed(r) ? 'PASS' : r.interrupted ? 'INTERRUPTED' : 'FAIL'
}

/** What the picture of a blast-radius round shows (works on older report.json files too). */
export function blastPicture(r: BlastResult): PictureInput {
  const what = r.components
    ? r.regions.map((x) => (r.components![x] === 'region' ? x : `${r.components![x]} of ${x}`)).join(' + ')
    : `${r.component && r.component !== 'region' ? `${r.component} of ` : ''}${r.regions.join(' + ')}`
  return {
    title: `Blast radius: ${what} (${r.mode}): ${verdictOf(r)}`,
    subtitle: `${r.acknowledged} acknowledged, ${r.lost} lost, ${r.unknown} unknown outcome; RTO ${fmt(r.rtoSeconds)} s; fault injected ${r.faultInjectedAt || 'never'}, held ${r.durationSeconds} s; ${r.driver} world`,
    driver: r.driver,
    worldRegions: r.worldRegions,
    timeline: r.timeline ?? [],
    outcomes: r.outcomes,
    faultWindows: r.faultWindows,
    rtoSeconds: r.rtoSeconds,
    alerts: r.alerts,
  }
}

const fmt = (n: null | number | undefined, digits = 2) => (n === null || n === undefined ? 'n/a' : n.toFixed(digits))

export function formatMarkdownReport(r: BlastResult): string {
  const lines: string[] = []
  lines.push(`# Blast radius: ${r.regions.join(' + ')} (${r.partition ? `partition, ${r.partition}` : r.mode})`, '')
  lines.push(
    `Verdict: **${verdictOf(r)}**: ${r.acknowledged} acknowledged transfers, ${r.lost} lost, ${r.unknown} with unknown outcome.`,
    '',
  )
  if (r.report.picture)
    lines.push(
      `![The run over time: transfers per second, leaders, fault window, RTO](${path.basename(r.report.picture)})`,
      '',
      `The picture: [${path.basename(r.report.picture)}](${path.basename(r.report.picture)})${r.report.html ? `, or as a page: [${path.basename(r.report.html)}](${path.basename(r.report.html)})` : ''}.`,
      '',
    )
  lines.push(
    '| | |',
    '| --- | --- |',
    `| driver | ${r.driver} |`,
    `| fault | ${r.faultDescription || 'none'} |`,
    `| injected at | ${r.faultInjectedAt} |`,
    `| held for | ${r.durationSeconds} s |`,
    `| survivability | ${r.survivability.explanation}${r.forced ? ' (forced)' : ''} |`,
  )
  lines.push(
    `| RTO (fault to first acknowledged write) | ${fmt(r.rtoSeconds)} s${r.rtoSeconds !== null && !r.recoveredDuringFault ? ' (only after the restore)' : ''} |`,
  )
  lines.push(`| not writable, as the workload saw it (longest gap between acknowledged writes) | ${gap(r)} |`)
  lines.push(
    `| not writable, health model's view (member health sampled every ${r.healthModel.sampleIntervalSeconds} s; not client writes) | ${fmt(r.healthModel.unavailableSeconds)} s |`,
    `| database leader before / during / after | ${r.leaderBefore ?? '-'} / ${r.leaderAfterFault ?? '-'} / ${r.leaderAfterRestore ?? '-'} |`,
    `| failover | ${r.failover ? 'yes' : 'no'} |`,
  )
  lines.push(
    `| converged after restore | ${r.converged ? `yes, in ${fmt(r.convergeSeconds, 1)} s` : 'no'} |`,
    `| transfers attempted / acknowledged / unknown / lost | ${r.attempted} / ${r.acknowledged} / ${r.unknown} / ${r.lost} |`,
  )
  if (r.acknowledgedDuringFault !== undefined)
    lines.push(`| acknowledged while the fault held | ${r.acknowledgedDuringFault} |`)
  if (r.sharedWorkload)
    lines.push(
      `| workload | the campaign's, started ${r.sharedWorkload.startedAt} (pid ${r.sharedWorkload.pid}, run log ${r.sharedWorkload.runLog}); the figures above are this round's, from its start to convergence |`,
    )
  if (r.roundTransfers)
    lines.push(
      `| transfers acknowledged in this round: present after convergence / lost | ${r.roundTransfers.present} of ${r.roundTransfers.acknowledged} / ${r.roundTransfers.lost} (the whole run log is verified after the campaign) |`,
    )
  if (r.isolatedLeader)
    lines.push(
      `| writes against the cut-off leader ${r.isolatedLeader.region} (issued until another region led${r.isolatedLeader.leadershipLostSeconds === null ? ': none did' : `, t = ${fmt(r.isolatedLeader.leadershipLostSeconds)} s`}): attempted / acknowledged (before a sample saw another lead) / present after / lost | ${isolated(r)} |`,
    )
  if (r.report.uploaded) lines.push(`| uploaded to | ${r.report.uploaded} |`)
  lines.push('')
  if (r.verify) {
    lines.push('## Verify', '', '| check | result | checked | violations |', '| --- | --- | --- | --- |')
    for (const c of r.verify.checks)
      lines.push(
        `| ${c.name} | ${c.skipped ? `skipped (${c.skipped})` : c.ok ? 'ok' : 'FAIL'} | ${c.checked ?? ''} | ${c.violations} |`,
      )
    lines.push('')
  }

  if (r.backupCheck) lines.push(...backupCheckMarkdown(r.backupCheck))
  if (r.driver === 'local') lines.push(...formatAlertsMarkdown(r.alerts))
  lines.push('## Events', '', '| t (s) | event |', '| --- | --- |')
  for (const e of r.events) lines.push(`| ${fmt(e.t)} | ${e.event.replaceAll('|', String.raw`\|`)} |`)
  lines.push(
    '',
    '## Health timeline',
    '',
    'Sampled every ~250 ms; one row per change.',
    '',
    '| t (s) | writable | quorum | db leader | raft leader (term) | unreachable | members alive |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  )
  let previous = ''
  for (const p of r.timeline) {
    const key = `${p.writable}|${p.quorumHeld}|${p.leaderRegion}|${p.raftLeaderRegion}|${p.raftTerm}|${p.unreachableRegions.join(',')}|${p.membersAlive}`
    if (key === previous) continue
    previous = key
    lines.push(
      `| ${fmt(p.t)} | ${p.writable ? 'yes' : 'NO'} | ${p.quorumHeld ? 'yes' : 'NO'} | ${p.leaderRegion ?? '-'} | ${p.raftLeaderRegion ?? '-'} (${p.raftTerm ?? '-'}) | ${p.unreachableRegions.join(', ') || '-'} | ${p.membersAlive}/${p.members} |`,
    )
  }

  lines.push('')
  return `${lines.join('\n')}\n`
}

function isolated(r: BlastResult): string {
  const w = r.isolatedLeader!
  return `${w.attempted} / ${w.acknowledged} (${w.acknowledgedInWindow}) / ${w.present} / ${w.lost}`
}

function gap(r: BlastResult): string {
  const g = r.longestWriteGap
  if (!g) return 'n/a (no workload)'
  return `${fmt(g.seconds)} s (t = ${fmt(g.fromSeconds)} to ${fmt(g.toSeconds)} s${g.open ? ', still open when the workload stopped' : ''})`
}

/** The short human summary the command prints. */
export function formatBlastSummary(r: BlastResult): string {
  return [
    `blast radius ${r.regions.join(' + ')} (${r.partition ? `partition, ${r.partition}` : r.mode}): ${r.verified && !backupCheckFailed(r) ? 'PASS' : 'FAIL'}`,
    `  RTO ${fmt(r.rtoSeconds)} s${r.rtoSeconds !== null && !r.recoveredDuringFault ? ' (after the restore)' : ''}; leader ${r.leaderBefore ?? '-'} -> ${r.leaderAfterFault ?? '-'} -> ${r.leaderAfterRestore ?? '-'}${r.failover ? ' (failover)' : ''}`,
    `  writes: longest gap between acknowledged writes ${gap(r)}; health model: ${fmt(r.healthModel.unavailableSeconds)} s not writable`,
    `  transfers: ${r.acknowledged} acknowledged, ${r.lost} lost, ${r.unknown} unknown outcome (of ${r.attempted})`,
    ...(r.isolatedLeader
      ? [
          `  against the cut-off leader ${r.isolatedLeader.region}: ${r.isolatedLeader.attempted} attempted, ${r.isolatedLeader.acknowledged} acknowledged (${r.isolatedLeader.acknowledgedInWindow} before a sample saw another region lead), ${r.isolatedLeader.present} present after, ${r.isolatedLeader.lost} lost`,
        ]
      : []),
    `  converged: ${r.converged ? `${fmt(r.convergeSeconds, 1)} s after the restore` : 'no'}`,
    ...(r.backupCheck ? [`  backup check: ${describeBackupCheck(r.backupCheck)}`] : []),
    ...[formatAlertsSummary(r.alerts)].filter((line) => line !== undefined),
    `  report: ${r.report.markdown}${r.report.uploaded ? ` (uploaded to ${r.report.uploaded})` : ''}`,
    ...(r.report.picture ? [`  picture: ${r.report.picture}${r.report.html ? ` (page: ${r.report.html})` : ''}`] : []),
  ].join('\n')
}
