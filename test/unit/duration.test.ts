import {expect} from 'chai'

import {parseDuration} from '../../src/lib/duration.js'
import {UsageError} from '../../src/lib/errors.js'
import {parseJsonOutput, runAtlas} from '../helpers/cli.js'

describe('durations', () => {
  it('parses units and checks the range', () => {
    expect(parseDuration('1.5s')).to.equal(1500)
    expect(parseDuration('2m', {min: '1s', max: '24h'})).to.equal(120_000)
    expect(() => parseDuration('0s', {min: '1s', max: '24h'})).to.throw(
      UsageError,
      'duration "0s" is out of range: accepted 1s to 24h',
    )
    expect(() => parseDuration('25h', {min: '1s', max: '24h'})).to.throw(UsageError, /out of range/)
  })

  for (const [command, value] of [
    ['workload', '0s'],
    ['workload', '99999h'],
    ['blast-radius', '0s'],
    ['blast-radius', '99999h'],
  ] as const) {
    it(`${command} --duration ${value} is a usage error (exit 2) naming the accepted range, before anything runs`, async () => {
      const args =
        command === 'blast-radius'
          ? ['blast-radius', '--region', 'us']
          : ['workload', '--db', 'postgres://x@127.0.0.1:1/x']
      const result = await runAtlas([...args, '--duration', value, '--json'])
      expect(result.exitCode).to.equal(2)
      expect(parseJsonOutput<{error: {message: string}}>(result).error.message).to.equal(
        `--duration: duration "${value}" is out of range: accepted 1s to 24h`,
      )
    })
  }
})
