import {expect} from 'chai'
import {randomUUID} from 'node:crypto'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {RunSummary} from '../../../src/lib/report/runs.js'

import {RunLogWriter} from '../../../src/lib/ledger/runlog-writer.js'
import {writeReport} from '../../../src/lib/report/blast.js'
import {parseJsonOutput, runAtlas} from '../../helpers/cli.js'
import {sampleRound} from '../../helpers/picture.js'

describe('atlas runs', function () {
  this.timeout(120_000)
  let dir: string
  let runsDir: string
  const atlas = (args: string[]) => runAtlas([...args, '--base-dir', dir, '--driver', 'local'], {cwd: dir})

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-runs-'))
    runsDir = path.join(dir, 'runs')
    // a blast-radius round as blastRadius() leaves it: report.json, report.md, report.svg, report.html
    const blast = path.join(runsDir, '2026-11-30T05-00-00-000Z')
    await mkdir(blast, {recursive: true})
    await writeReport(sampleRound(blast))
    await writeFile(
      path.join(blast, 'transfers.log'),
      `# start {"startedAt":"2026-11-30T04:59:57.500Z"}\napplied\tx\t1\n`,
    )
    // a workload of its own, with its end line
    const workload = path.join(runsDir, '2026-11-30T04-00-00-000Z')
    await mkdir(workload)
    await writeFile(
      path.join(workload, 'transfers.log'),
      `# start {"startedAt":"2026-11-30T04:00:00.000Z"}\napplied\ta\t1\napplied\tb\t2\n# end {"endedAt":"2026-11-30T04:00:10.000Z","stats":{"acknowledged":2}}\n`,
    )
    // a workload's log as its writer leaves it: the # digest trailer after the end line
    const written = new RunLogWriter(path.join(runsDir, '2026-11-30T04-30-00-000Z'))
    written.comment('start', {startedAt: '2026-11-30T04:30:00.000Z'})
    written.lines(`applied\t${randomUUID()}\t1\n`)
    written.comment('end', {endedAt: '2026-11-30T04:30:10.000Z', stats: {acknowledged: 1}})
    written.close()
    // a round whose restore failed
    const failed = path.join(runsDir, 'broken')
    await mkdir(failed)
    await writeFile(
      path.join(failed, 'restore-failed.json'),
      JSON.stringify({regions: ['eu'], mode: 'stop', error: 'x'}),
    )
    // a workload whose --run-dir was outside the runs directory, recorded in the index
    const outside = path.join(dir, 'elsewhere', 'mine')
    await mkdir(outside, {recursive: true})
    await writeFile(path.join(outside, 'transfers.log'), `# start {"startedAt":"2026-11-30T03:00:00.000Z"}\n`)
    await writeFile(path.join(runsDir, 'index.txt'), `${outside}\n`)
    // not a run
    await mkdir(path.join(runsDir, 'empty'))
  })

  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('lists every run, oldest first, with kind, verdict, RTO and lost (--json and text)', async () => {
    const result = await atlas(['runs', '--json'])
    expect(result.exitCode, result.stderr).to.equal(0)
    const {runs} = parseJsonOutput<{runs: RunSummary[]}>(result)
    const byId = Object.fromEntries(runs.map((r) => [r.id, [r.kind, r.verdict, r.rtoSeconds, r.lost]]))
    expect(byId).to.deep.equal({
      mine: ['workload', null, null, null],
      '2026-11-30T04-00-00-000Z': ['workload', null, null, null],
      '2026-11-30T04-30-00-000Z': ['workload', null, null, null],
      '2026-11-30T05-00-00-000Z': ['blast-radius', 'PASS', 5.61, 0],
      broken: ['blast-radius', 'RESTORE FAILED', null, null],
    })
    // oldest first: by the workload's start line (a run without one: its directory's last change)
    const started = runs.map((r) => r.startedAt)
    expect(started).to.deep.equal([...started].sort())
    expect(runs.filter((r) => r.id !== 'broken').map((r) => r.startedAt)).to.deep.equal([
      '2026-11-30T03:00:00.000Z',
      '2026-11-30T04:00:00.000Z',
      '2026-11-30T04:30:00.000Z',
      '2026-11-30T04:59:57.500Z',
    ])
    expect(runs.find((r) => r.id === '2026-11-30T04-00-00-000Z')!.acknowledged).to.equal(2)
    // the end line is found under the trailer
    expect(runs.find((r) => r.id === '2026-11-30T04-30-00-000Z')!.acknowledged).to.equal(1)
    expect(runs.find((r) => r.id === '2026-11-30T05-00-00-000Z')!.fault).to.equal('kill us')
    const text = await atlas(['runs'])
    expect(text.exitCode).to.equal(0)
    expect(text.stdout.split('\n')[0]).to.match(/^ID\s+KIND\s+STARTED\s+VERDICT\s+RTO \(s\)\s+LOST\s+FAULT$/)
    expect(text.stdout).to.match(
      /^2026-11-30T05-00-00-000Z\s+blast-radius\s+2026-11-30 04:59:57Z\s+PASS\s+5\.61\s+0\s+kill us$/m,
    )
  })

  it('runs show ID prints the summary and the paths of report.md, report.json and the picture', async () => {
    const id = '2026-11-30T05-00-00-000Z'
    const result = await atlas(['runs', 'show', id])
    expect(result.exitCode, result.stderr).to.equal(0)
    const at = path.join(runsDir, id)
    expect(result.stdout).to.include(`${id}: blast-radius (kill us): PASS`)
    expect(result.stdout).to.include('RTO 5.61 s')
    for (const [label, file] of [
      ['report.md', 'report.md'],
      ['report.json', 'report.json'],
      ['picture', 'report.svg'],
      ['page', 'report.html'],
    ])
      expect(result.stdout).to.match(
        new RegExp(`^  ${label}:\\s+${path.join(at, file).replaceAll(/[.]/g, String.raw`\.`)}$`, 'm'),
      )
    const json = parseJsonOutput<RunSummary & {report: {rtoSeconds: number; timeline?: unknown}}>(
      await atlas(['runs', 'show', id, '--json']),
    )
    expect(json.files.picture).to.equal(path.join(at, 'report.svg'))
    expect(json.report.rtoSeconds).to.equal(5.61)
    expect(json.report.timeline).to.equal(undefined)
  })

  it('an unknown id is a usage error (exit 2) naming the runs directory, also under --json', async () => {
    const human = await atlas(['runs', 'show', 'no-such-run'])
    expect(human.exitCode).to.equal(2)
    expect(human.stderr).to.include(`Error: no run "no-such-run" in ${runsDir}`)
    expect(human.stderr).to.match(/Hint: `atlas runs` lists them/)
    const machine = await atlas(['runs', 'show', 'no-such-run', '--json'])
    expect(machine.exitCode).to.equal(2)
    expect(parseJsonOutput<{error: {code: string}}>(machine).error.code).to.equal('RUN_NOT_FOUND')
  })

  it('a base dir without runs says so and exits 0', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'atlas-runs-empty-'))
    try {
      const result = await runAtlas(['runs', '--base-dir', empty, '--driver', 'local'], {cwd: empty})
      expect(result.exitCode).to.equal(0)
      expect(result.stdout.trim()).to.equal(`no runs in ${path.join(empty, 'runs')}`)
    } finally {
      await rm(empty, {recursive: true, force: true})
    }
  })
})
