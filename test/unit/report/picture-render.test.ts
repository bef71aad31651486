// The picture rendered once by a real browser engine (Debian's chromium, headless):
// it parses the SVG as XML and draws it; the screenshot's pixels are read back at
// the places the SVG says its bands, fault window and RTO marker are.
import {expect} from 'chai'
import {execa} from 'execa'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {writeReport} from '../../../src/lib/report/blast.js'
import {FAULT_COLOR} from '../../../src/lib/report/picture.js'
import {findExecutable} from '../../../src/lib/tools/discovery.js'
import {sampleRound} from '../../helpers/picture.js'
import {decodePng, hexRgb} from '../../helpers/png.js'
import {findAll, parseXml} from '../../helpers/xml.js'

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
  '--force-device-scale-factor=1',
]

describe('the picture in a browser (headless Chromium)', function () {
  this.timeout(120_000)
  let chromium: string | undefined
  let dir: string

  before(async function () {
    chromium = (await findExecutable('chromium')) ?? (await findExecutable('chromium-browser'))
    // scripts/setup.sh installs Debian's chromium; without it there is no browser engine to render with
    if (!chromium) this.skip()
    dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-picture-render-'))
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  const run = async (args: string[]) => {
    // a fresh profile each time: nothing of another run (or of the machine's user) is read
    const profile = await mkdtemp(path.join(dir, 'profile-'))
    const result = await execa(chromium!, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, ...args], {
      reject: false,
      timeout: 90_000,
      stdin: 'ignore',
    })
    expect(result.exitCode, result.stderr).to.equal(0)
    return result
  }

  it('parses report.svg as XML (no parser error) and draws bands, the fault window and the RTO marker where the SVG puts them', async () => {
    const round = sampleRound(dir)
    await writeReport(round)
    const svgText = await readFile(round.report.picture!, 'utf8')
    const svg = parseXml(svgText)
    const url = pathToFileURL(round.report.picture!).href

    const dom = await run(['--dump-dom', url])
    expect(dom.stdout).to.include('<svg')
    expect(dom.stdout).to.not.include('parsererror')
    expect(dom.stdout).to.include('data-series="acknowledged"')

    const shot = path.join(dir, 'shot.png')
    await run([`--window-size=${svg.attributes.width},${svg.attributes.height}`, `--screenshot=${shot}`, url])
    const png = decodePng(await readFile(shot))
    expect(png.width).to.equal(Number(svg.attributes.width))

    const plot = findAll(svg, (e) => e.attributes['data-plot'] === 'time')[0]
    const [tFrom, tTo, xFrom, xTo] = ['data-t-from', 'data-t-to', 'data-x-from', 'data-x-to'].map((a) =>
      Number(plot.attributes[a]),
    )
    const xOf = (t: number) => xFrom + ((t - tFrom) / (tTo - tFrom)) * (xTo - xFrom)
    const rtoX = xOf(round.rtoSeconds!)

    // every band segment wider than a few pixels is drawn in its colour (away from the RTO line)
    let checked = 0
    for (const band of findAll(svg, (e) => e.attributes['data-band'] !== undefined)) {
      const left = Number(band.attributes.x)
      const right = left + Number(band.attributes.width)
      const y = Number(band.attributes.y) + Number(band.attributes.height) / 2
      for (const x of [left + 3, right - 3]) {
        if (right - left < 8 || Math.abs(x - rtoX) < 4) continue
        expect(
          png.rgb(x, y),
          `${band.attributes['data-band']} ${band.attributes['data-value'] || 'none'} at x ${x}`,
        ).to.deep.equal(hexRgb(band.attributes.fill))
        checked++
      }
    }

    expect(checked).to.be.greaterThan(6)

    // the fault window is shaded inside (between grid lines and series), white outside
    const panel = findAll(svg, (e) => e.attributes['data-scale'] === 'value')[0]
    const top = Number(panel.attributes['data-y-to'])
    expect(png.rgb(xOf(9), top + 25)).to.deep.equal(hexRgb(FAULT_COLOR))
    expect(png.rgb(xOf(13), top + 25)).to.deep.equal([255, 255, 255])

    // the RTO marker: a dark dashed line in its column
    const column = Array.from({length: 200}, (_, i) => png.rgb(rtoX, top + i))
    expect(column.filter(([r, g, b]) => r + g + b < 150).length, 'dark pixels in the RTO column').to.be.greaterThan(40)
  })
})
