import {expect} from 'chai'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {parse} from 'yaml'

import {
  CONFIG_TEMPLATE,
  DEFAULT_CONFIG,
  findRegion,
  loadConfig,
  parseConfigObject,
  parseConfigText,
} from '../../../src/lib/config/index.js'
import {ConfigError, ExitCode, UsageError} from '../../../src/lib/errors.js'
import {parseJsonOutput, runAtlas} from '../../helpers/cli.js'

const GOOD = `regions:
  - name: us
    awsRegion: us-east-1
    role: primary
  - name: eu
    awsRegion: eu-central-1
    role: secondary
`

function expectConfigError(text: string, pattern: RegExp): ConfigError {
  try {
    parseConfigText(text, 'atlas.yaml')
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError)
    expect((error as ConfigError).exitCode).to.equal(ExitCode.Usage)
    expect((error as Error).message).to.match(pattern)
    return error as ConfigError
  }

  throw new Error('expected a ConfigError')
}

describe('config', () => {
  it('applies defaults to a minimal file', () => {
    const config = parseConfigText(GOOD, 'atlas.yaml')
    expect(config.driver).to.equal('auto')
    expect(config.ledger).to.deep.equal({accounts: 100, openingBalance: 100_000, allowNegativeBalances: false})
    expect(config.regions[0].locality).to.equal('region=us-east-1')
    expect(config.cloud.replication).to.deep.equal([
      {from: 'us', to: 'eu'},
      {from: 'eu', to: 'us'},
    ])
  })

  it('defaults to three regions us, eu and witness', () => {
    const config = parseConfigObject(DEFAULT_CONFIG)
    expect(config.regions.map((r) => [r.name, r.role])).to.deep.equal([
      ['us', 'primary'],
      ['eu', 'secondary'],
      ['witness', 'witness'],
    ])
  })

  it('the commented template written by init parses to the defaults', () => {
    expect(parse(CONFIG_TEMPLATE)).to.deep.include({driver: 'auto', namePrefix: 'atlas'})
    const fromTemplate = parseConfigText(CONFIG_TEMPLATE, 'atlas.yaml')
    expect(fromTemplate).to.deep.equal(parseConfigObject(DEFAULT_CONFIG))
  })

  describe('bad config gets a precise message', () => {
    it('YAML syntax error with line and column', () => {
      expectConfigError('regions:\n  - name: us\n    role: [primary\n', /^atlas\.yaml:\d+:\d+: YAML syntax error/)
    })

    it('duplicate YAML keys with line and column', () => {
      expectConfigError('driver: local\ndriver: k3d\n', /^atlas\.yaml:2:1: YAML syntax error: Map keys must be unique/)
    })

    it('unknown key, named with its path and position', () => {
      expectConfigError(`${GOOD}    colour: blue\n`, /atlas\.yaml:8:5: regions\[1\]: unknown key "colour"/)
    })

    it('unknown top-level key', () => {
      expectConfigError(`${GOOD}drivers: local\n`, /atlas\.yaml:8:1: \(top level\): unknown key "drivers"/)
    })

    it('wrong type, with the value found', () => {
      expectConfigError(
        `${GOOD}ledger:\n  accounts: "many"\n`,
        /atlas\.yaml:9:3: ledger\.accounts: expected number, got string "many"/,
      )
    })

    it('wrong enum value lists the valid ones', () => {
      expectConfigError(
        GOOD.replace('role: secondary', 'role: leader'),
        /regions\[1\]\.role: must be one of "primary", "secondary", "witness", got string "leader"/,
      )
    })

    it('missing required key', () => {
      expectConfigError('regions:\n  - name: us\n    role: primary\n', /regions\[0\]\.awsRegion: is required/)
    })

    it('unknown region name in a reference lists the valid ones', () => {
      expectConfigError(
        `${GOOD}cloud:\n  replication:\n    - {from: us, to: asia}\n`,
        /cloud\.replication\[0\]\.to: unknown region "asia"; valid regions: us, eu/,
      )
    })

    it('duplicate region names', () => {
      expectConfigError(
        GOOD.replace('name: eu', 'name: us'),
        /atlas\.yaml:5:5: regions\[1\]\.name: duplicate region name "us" \(also regions\[0\]\)/,
      )
    })

    it('no region', () => {
      expectConfigError('regions: []\n', /regions: at least one region is required/)
    })

    it('no primary region', () => {
      expectConfigError(
        GOOD.replace('role: primary', 'role: secondary'),
        /no region has role "primary"; exactly one must/,
      )
    })

    it('more than one primary region', () => {
      expectConfigError(
        GOOD.replace('role: secondary', 'role: primary'),
        /regions\[1\]\.role: more than one primary region \(us, eu\)/,
      )
    })

    it('a non-mapping document', () => {
      expectConfigError('- just\n- a list\n', /top level must be a mapping/)
    })
  })

  describe('loading files', () => {
    let dir: string

    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-config-'))
    })

    afterEach(async () => {
      await rm(dir, {recursive: true, force: true})
    })

    it('uses built-in defaults when ./atlas.yaml does not exist', async () => {
      const config = await loadConfig(undefined, dir)
      expect(config.regions).to.have.length(3)
      expect(config.source).to.equal(undefined)
    })

    it('reads ./atlas.yaml when present', async () => {
      await writeFile(path.join(dir, 'atlas.yaml'), GOOD)
      const config = await loadConfig(undefined, dir)
      expect(config.regions).to.have.length(2)
      expect(config.source).to.equal(path.join(dir, 'atlas.yaml'))
    })

    it('an explicit --config that does not exist is an error, not the defaults', async () => {
      try {
        await loadConfig('missing.yaml', dir)
        expect.fail('expected an error')
      } catch (error) {
        expect(error).to.be.instanceOf(ConfigError)
        expect((error as Error).message).to.match(/missing\.yaml does not exist/)
      }
    })
  })

  it('findRegion rejects an unknown region listing the valid ones', () => {
    const config = parseConfigObject(DEFAULT_CONFIG)
    expect(() => findRegion(config, 'asia')).to.throw(
      UsageError,
      'unknown region "asia"; valid regions: us, eu, witness',
    )
    expect(findRegion(config, 'eu').awsRegion).to.equal('eu-central-1')
  })
})

describe('atlas config / atlas init (CLI)', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atlas-cli-config-'))
  })

  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  const badCases: Array<[string, string, RegExp]> = [
    ['yaml syntax', 'regions: [\n  - a\n', /bad\.yaml:\d+:\d+: YAML syntax error/],
    ['unknown key', `${GOOD}extra: 1\n`, /unknown key "extra"/],
    ['wrong type', `${GOOD}ledger: {accounts: true}\n`, /ledger\.accounts: expected number, got boolean true/],
    [
      'unknown region',
      `${GOOD}cloud: {replication: [{from: us, to: mars}]}\n`,
      /unknown region "mars"; valid regions: us, eu/,
    ],
    ['duplicate region', GOOD.replace('name: eu', 'name: us'), /duplicate region name "us"/],
    ['no region', 'regions: []\n', /at least one region is required/],
    ['two primaries', GOOD.replace('secondary', 'primary'), /more than one primary region/],
    // a billion laughs: nine levels of ten aliases each would expand to 10^9 strings
    [
      'alias bomb',
      `${GOOD}x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n${Array.from({length: 8}, (_, i) => `x${i + 1}: &x${i + 1} [${Array.from({length: 10}).fill(`*x${i}`).join(', ')}]\n`).join('')}`,
      /bad\.yaml: Excessive alias count .*YAML aliases expand to more than 100 nodes/,
    ],
  ]
  for (const [name, text, pattern] of badCases) {
    it(`exits 2 with a precise message: ${name}`, async () => {
      const file = path.join(dir, 'bad.yaml')
      await writeFile(file, text)
      const human = await runAtlas(['config', '--config', file])
      expect(human.exitCode).to.equal(2)
      expect(human.stdout).to.equal('')
      expect(human.stderr).to.match(pattern)
      expect(human.stderr).not.to.match(/\n\s+at /) // no stack trace without --verbose
      const machine = await runAtlas(['config', '--config', file, '--json'])
      expect(machine.exitCode).to.equal(2)
      const body = parseJsonOutput<{error: {code: string; exitCode: number; message: string}}>(machine)
      expect(body.error.code).to.equal('CONFIG_INVALID')
      expect(body.error.exitCode).to.equal(2)
      expect(body.error.message).to.match(pattern)
    })
  }

  it('prints the effective config as JSON', async () => {
    const result = await runAtlas(['config', '--json'], {cwd: dir})
    expect(result.exitCode).to.equal(0)
    const config = parseJsonOutput<{regions: Array<{name: string}>}>(result)
    expect(config.regions.map((r) => r.name)).to.deep.equal(['us', 'eu', 'witness'])
  })

  it('init writes a valid commented file and refuses to overwrite it without --force', async () => {
    const file = path.join(dir, 'init', 'atlas.yaml')
    await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(file), {recursive: true}))
    const first = await runAtlas(['init', '--config', file])
    expect(first.exitCode).to.equal(0)
    const text = await readFile(file, 'utf8')
    expect(text).to.match(/^# atlas\.yaml/)
    await writeFile(file, `${text}# my edit\n`)
    const second = await runAtlas(['init', '--config', file, '--json'])
    expect(second.exitCode).to.equal(3)
    expect(parseJsonOutput<{error: {code: string}}>(second).error.code).to.equal('CONFIG_EXISTS')
    expect(await readFile(file, 'utf8')).to.match(/# my edit\n$/)
    const forced = await runAtlas(['init', '--config', file, '--force'])
    expect(forced.exitCode).to.equal(0)
    expect(await readFile(file, 'utf8')).to.equal(text)
    const shown = await runAtlas(['config', '--config', file])
    expect(shown.exitCode).to.equal(0)
    expect(shown.stdout).to.match(/name: witness/)
  })
})
