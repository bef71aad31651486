// Patroni's dynamic configuration reaches etcd only when the cluster is bootstrapped, so a world made
// before the 4 s lease still runs with ttl 5 and retry_timeout 2 (and, older still, wal_sender_timeout
// 1500ms). `atlas up` on such a world sets this version's values through PATCH /config and says so;
// a second `up` finds nothing to change; a PATCH Patroni refuses ends `up` with an error and changes
// nothing. One world (real etcd, Patroni, PostgreSQL), made old by PATCHing its configuration back.
import {expect} from 'chai'
import {readFile, writeFile} from 'node:fs/promises'

import type {UpResult} from '../../src/lib/world/types.js'

import {poll} from '../../src/lib/wait.js'
import {localLayout, patroniUrl} from '../../src/lib/world/local/layout.js'
import {type CliResult, parseJsonOutput} from '../helpers/cli.js'
import {createTestWorld, type TestWorld} from '../helpers/world.js'

/** what a world made before the 4 s lease has in etcd */
const OLD = {ttl: 5, retry_timeout: 2, postgresql: {parameters: {wal_sender_timeout: '1500ms'}}}
/** ... and what `up` makes of it */
const CHANGES = [
  {key: 'ttl', from: 5, to: 4},
  {key: 'retry_timeout', from: 2, to: 1},
  {key: 'postgresql.parameters.wal_sender_timeout', from: '1500ms', to: '1s'},
]

type DynamicConfig = Record<string, unknown> & {postgresql?: {parameters?: Record<string, unknown>}}

describe("atlas up sets this version's Patroni dynamic configuration on an existing world (real Patroni)", function () {
  this.timeout(120_000)
  let world: TestWorld
  let apis: string[]
  let secretsFile: string
  let first: CliResult

  /** `atlas up` without monitoring (not under test here), in JSON unless asked for text */
  const up = (flags: string[] = [], json = true) =>
    world.atlas(['up', '--no-monitoring', ...(json ? ['--json'] : []), ...flags])

  const getConfig = async (api: string): Promise<DynamicConfig> => {
    const response = await fetch(`${api}/config`, {signal: AbortSignal.timeout(5000)})
    expect(response.status, `GET ${api}/config`).to.equal(200)
    return (await response.json()) as DynamicConfig
  }

  const timing = (c: DynamicConfig) => ({
    ttl: c.ttl,
    loop_wait: c.loop_wait,
    retry_timeout: c.retry_timeout,
    wal_sender_timeout: c.postgresql?.parameters?.wal_sender_timeout,
  })

  /** every node's GET /config shows the timing (each refreshes its copy of the DCS once per HA loop) */
  const expectEverywhere = async (want: ReturnType<typeof timing>) => {
    const seen = await poll(
      async () => {
        const all = await Promise.all(apis.map(async (api) => timing(await getConfig(api))))
        return all.every((t) => JSON.stringify(t) === JSON.stringify(want)) && all
      },
      {intervalMs: 200, timeoutMs: 10_000},
    )
    expect(seen, `every node's GET /config shows ${JSON.stringify(want)}`).to.not.equal(undefined)
  }

  /** makes the world one from before the 4 s lease, as an operator would: PATCH /config with the REST API's password */
  const makeOld = async () => {
    const {restApiPassword} = JSON.parse(await readFile(secretsFile, 'utf8')) as {restApiPassword: string}
    const response = await fetch(`${apis[0]}/config`, {
      method: 'PATCH',
      headers: {authorization: `Basic ${Buffer.from(`patroni:${restApiPassword}`).toString('base64')}`},
      body: JSON.stringify(OLD),
      signal: AbortSignal.timeout(5000),
    })
    expect(response.status, await response.text()).to.equal(200)
    await expectEverywhere({ttl: 5, loop_wait: 1, retry_timeout: 2, wal_sender_timeout: '1500ms'})
  }

  before(async () => {
    world = await createTestWorld('patroniconf')
    const layout = localLayout(world.config, world.baseDir)
    apis = layout.regions.map((r) => patroniUrl(layout, r))
    secretsFile = layout.secretsFile
    first = await up()
    expect(first.exitCode, first.stderr).to.equal(0)
  })

  after(async () => {
    await world?.destroy()
  })

  it("a new world is bootstrapped with this version's values: up has nothing to set", () => {
    expect(parseJsonOutput<UpResult>(first).reconciled).to.deep.equal([])
  })

  it('a dry run says what would change and changes nothing', async () => {
    await makeOld()
    const result = await up(['--dry-run'])
    expect(result.exitCode, result.stderr).to.equal(0)
    const plan = parseJsonOutput<UpResult>(result)
    expect(plan.reconciled).to.deep.equal(CHANGES)
    expect(plan.steps!.find((st) => st.id === 'patroni-config')!.title).to.include(
      'ttl 5 → 4, retry_timeout 2 → 1, postgresql.parameters.wal_sender_timeout 1500ms → 1s',
    )
    await expectEverywhere({ttl: 5, loop_wait: 1, retry_timeout: 2, wal_sender_timeout: '1500ms'})
  })

  it("up on the running world sets this version's values (every node, PostgreSQL reloaded) and says old → new; a second up finds nothing", async () => {
    const result = await up()
    expect(result.exitCode, result.stderr).to.equal(0)
    await expectEverywhere({ttl: 4, loop_wait: 1, retry_timeout: 1, wal_sender_timeout: '1s'})
    const answer = parseJsonOutput<UpResult>(result)
    expect(answer.started).to.equal(false)
    expect(answer.reconciled).to.deep.equal(CHANGES)
    expect(answer.notReconciled).to.deep.equal([])
    // the parameter reached PostgreSQL itself: Patroni reloaded it
    const shown = await poll(
      async () => {
        const psql = await world.atlas(['psql', '--role', 'admin', '--', '-Atc', 'show wal_sender_timeout'])
        return psql.stdout.trim() === '1s' && psql.stdout.trim()
      },
      {intervalMs: 300, timeoutMs: 10_000},
    )
    expect(shown, 'wal_sender_timeout in PostgreSQL').to.equal('1s')

    const again = await up()
    expect(again.exitCode, again.stderr).to.equal(0)
    expect(parseJsonOutput<UpResult>(again).reconciled).to.deep.equal([])
  })

  it('a PATCH Patroni refuses ends up with exit 3 and a clear error, and changes nothing; the next up sets the values, saying so', async () => {
    await makeOld()
    const secrets = await readFile(secretsFile, 'utf8')
    try {
      await writeFile(secretsFile, JSON.stringify({...JSON.parse(secrets), restApiPassword: 'not-the-password'}))
      const refused = await up()
      expect(refused.exitCode, refused.stdout).to.equal(3)
      const {error} = JSON.parse(refused.stdout) as {error: {code: string; message: string}}
      expect(error.code).to.equal('PATRONI_CONFIG_REFUSED')
      expect(error.message).to.match(
        /^pg-us refused PATCH \/config \(ttl 5 → 4, retry_timeout 2 → 1, .*\): .*\(401\); nothing was changed$/,
      )
      await expectEverywhere({ttl: 5, loop_wait: 1, retry_timeout: 2, wal_sender_timeout: '1500ms'})
    } finally {
      await writeFile(secretsFile, secrets)
    }

    // in text: the progress line and the summary say what changed
    const text = await up([], false)
    expect(text.exitCode, text.stderr).to.equal(0)
    expect(text.stderr).to.include(
      'ttl 5 → 4, retry_timeout 2 → 1, postgresql.parameters.wal_sender_timeout 1500ms → 1s',
    )
    expect(text.stdout).to.include(
      "patroni: set this version's dynamic configuration: ttl 5 → 4, retry_timeout 2 → 1, postgresql.parameters.wal_sender_timeout 1500ms → 1s",
    )
    await expectEverywhere({ttl: 4, loop_wait: 1, retry_timeout: 1, wal_sender_timeout: '1s'})
  })

  it("`atlas down` keeps etcd's data, so the world comes back old: up starts it and then sets the values", async () => {
    await makeOld()
    const down = await world.atlas(['down', '--json'])
    expect(down.exitCode, down.stderr).to.equal(0)
    const result = await up()
    expect(result.exitCode, result.stderr).to.equal(0)
    await expectEverywhere({ttl: 4, loop_wait: 1, retry_timeout: 1, wal_sender_timeout: '1s'})
    const answer = parseJsonOutput<UpResult>(result)
    expect(answer.started).to.equal(true)
    expect(answer.reconciled).to.deep.equal(CHANGES)
  })
})
