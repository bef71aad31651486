import {expect} from 'chai'
import {execa} from 'execa'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {PassThrough} from 'node:stream'

import {stderrProgress} from '../../../src/lib/progress.js'
import {formatHoldLine, holdSnapshot} from '../../../src/lib/report/live.js'
import {OutcomeRecorder} from '../../../src/lib/report/series.js'
import {REPO_ROOT} from '../../helpers/cli.js'

describe('live progress while a fault is held', () => {
  it('the line: countdown, acknowledged/s, errors and unknown since the fault, the leaders', () => {
    const fault = 1_000_000
    const recorder = new OutcomeRecorder()
    for (let ms = -1000; ms < 4000; ms += 10) if (ms < 0 || ms > 2000) recorder.record('applied', fault + ms)
    recorder.record('failed', fault - 500)
    recorder.record('failed', fault + 100)
    recorder.record('unknown', fault + 50)
    const latest = {
      t: 3.9,
      at: '',
      writable: true,
      quorumHeld: true,
      leaderRegion: 'eu',
      raftLeaderRegion: 'witness',
      raftTerm: 4,
      unreachableRegions: ['us'],
      membersAlive: 6,
      members: 9,
    }
    const line = formatHoldLine(
      holdSnapshot({nowMs: fault + 4000, faultAtMs: fault, holdUntilMs: fault + 12_000, recorder, latest}),
    )
    // 100/s over the last 2 s (the acknowledgements came back at 2 s); the failure before the fault is not counted
    expect(line).to.equal(
      'fault held, 8 s left; 100 acknowledged/s; 1 errors, 1 unknown since the fault; database leader eu, Raft leader witness',
    )
    expect(
      formatHoldLine(
        holdSnapshot({
          nowMs: fault + 2000,
          faultAtMs: fault,
          holdUntilMs: fault + 12_000,
          recorder,
          latest: {...latest, leaderRegion: null},
        }),
      ),
    ).to.match(/^fault held, 10 s left; 0 acknowledged\/s; .*database leader none, Raft leader witness$/)
    expect(formatHoldLine(holdSnapshot({nowMs: fault, faultAtMs: fault, holdUntilMs: fault + 5000}))).to.equal(
      'fault held, 5 s left; no workload',
    )
  })

  it('on a terminal: the line is redrawn in place under its step (listr2), the first one too', async () => {
    const script = `import {listrProgress} from ${JSON.stringify(path.join(REPO_ROOT, 'src', 'lib', 'progress-listr.ts'))}
const p = await listrProgress()
const done = p.step('hold the fault for 3 s')
for (let i = 3; i > 0; i--) { p.status('fault held, ' + i + ' s left'); await new Promise((r) => setTimeout(r, 400)) }
done({note: 'recovered'})
await p.finish()`
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'atlas-listr-')), 'live.mts')
    const {writeFile} = await import('node:fs/promises')
    await writeFile(file, script)
    try {
      const result = await execa(
        'script',
        ['-qec', `stty cols 120 rows 40; '${process.execPath}' --import tsx '${file}'`, '/dev/null'],
        {cwd: REPO_ROOT, reject: false, input: '', env: {TERM: 'xterm'}, timeout: 60_000},
      )
      const screen = result.stdout
      for (const left of [3, 2, 1]) expect(screen, screen).to.include(`fault held, ${left} s left`)
      // redrawn: listr2 moves the cursor back up and erases before each frame, rather than adding lines
      const between = screen.slice(screen.indexOf('fault held, 3 s left'), screen.indexOf('fault held, 1 s left'))
      // eslint-disable-next-line no-control-regex -- the terminal's escape sequences are what is asserted
      expect(between).to.match(/\u001B\[(\d+)?A|\u001B\[2K/)
      expect(screen).to.include('hold the fault for 3 s: recovered')
    } finally {
      await rm(path.dirname(file), {recursive: true, force: true})
    }
  })

  it('not on a terminal: one status line every 5 s, the first at once, each step starting afresh', () => {
    const stream = new PassThrough()
    let now = 0
    const progress = stderrProgress({enabled: true, stream, now: () => now})
    const done = progress.step('hold the fault for 12 s')
    for (now = 0; now <= 12_000; now += 1000) progress.status!(`tick ${now / 1000}`)
    done()
    progress.step('restore us')
    progress.status!('restoring')
    const lines = String(stream.read()).trimEnd().split('\n')
    expect(lines[0]).to.equal('→ hold the fault for 12 s')
    expect(lines.slice(1, 4)).to.deep.equal(['  tick 0', '  tick 5', '  tick 10'])
    expect(lines[4]).to.match(/^✓ hold the fault for 12 s \(\d+\.\ds\)$/)
    expect(lines.slice(5)).to.deep.equal(['→ restore us', '  restoring'])
  })
})

describe('atlas status --watch', function () {
  this.timeout(60_000)

  it('shows the time of each refresh and no runtime warning, however many refreshes (Ctrl-C ends it)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-watch-'))
    try {
      // a world that is not up answers at once: 100 ms refreshes make dozens in 3 s
      const child = execa(
        process.execPath,
        [
          path.join(REPO_ROOT, 'bin', 'run.js'),
          'status',
          '--watch',
          '--interval',
          '100ms',
          '--driver',
          'local',
          '--base-dir',
          dir,
        ],
        {cwd: dir, reject: false, stdin: 'ignore', env: {NO_COLOR: '1'}},
      )
      await new Promise((resolve) => setTimeout(resolve, 3500))
      child.kill('SIGINT')
      const result = await child
      const refreshes = result.stdout.split('\n').filter((l) => l.startsWith('refreshed '))
      expect(refreshes.length, result.stdout.slice(0, 500)).to.be.greaterThan(12)
      for (const line of refreshes)
        expect(line).to.match(/^refreshed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(every 0\.1 s; Ctrl-C to stop\)$/)
      // not a terminal: no screen-clearing codes, one block per refresh
      expect(result.stdout).to.not.include('\u001B[')
      expect(result.stdout.split('\n').filter((l) => l.startsWith('local world: not running')).length).to.equal(
        refreshes.length,
      )
      // an abort listener per refresh made Node warn (MaxListenersExceededWarning) into the display after 10
      expect(result.stderr).to.not.match(/Warning/)
      expect(result.exitCode).to.equal(130)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('on a terminal: the screen is redrawn at each refresh, each saying when, with no warning in it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-watch-tty-'))
    try {
      const command = `stty cols 120 rows 40; timeout -s INT 3 '${process.execPath}' '${path.join(REPO_ROOT, 'bin', 'run.js')}' status --watch --interval 100ms --driver local --base-dir '${dir}'`
      // util-linux script gives atlas a pseudo-terminal; timeout sends the Ctrl-C
      const result = await execa('script', ['-qec', command, '/dev/null'], {
        cwd: dir,
        reject: false,
        input: '',
        env: {TERM: 'xterm'},
        timeout: 30_000,
      })
      const screen = result.stdout
      const refreshes = screen
        .split(/\r?\n/)
        // eslint-disable-next-line no-control-regex -- the screen-clearing escape sequence starts each frame
        .filter((l) => /^(\u001B\[2J\u001B\[H)?.*refreshed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/.test(l))
      expect(refreshes.length, screen.slice(0, 300)).to.be.greaterThan(12)
      expect(screen.split('\u001B[2J\u001B[H').length - 1).to.equal(refreshes.length)
      expect(screen).to.not.match(/Warning/)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('a runtime warning raised during the watch is held, and printed once after it, not by Node into the display', async () => {
    const script = `import {holdWarnings} from ${JSON.stringify(path.join(REPO_ROOT, 'src', 'lib', 'warnings.ts'))}
const held = holdWarnings()
process.emitWarning('something odd', 'TestWarning')
process.emitWarning('something odd', 'TestWarning')
setTimeout(() => { process.stdout.write('display\\n'); held.release(); process.emitWarning('after', 'TestWarning') }, 100)`
    const result = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      reject: false,
    })
    expect(result.exitCode, result.stderr).to.equal(0)
    expect(result.stdout).to.equal('display')
    const lines = result.stderr.split('\n').filter((l) => /TestWarning/.test(l))
    // held ones: once, after the display, in our words; later ones: Node's own printing is back
    expect(lines[0]).to.equal('warning during the watch: TestWarning: something odd (2 times)')
    expect(lines[1]).to.match(/^\(node:\d+\) TestWarning: after$/)
    expect(lines).to.have.length(2)
  })
})
