import {chmod, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import type {AtlasConfig} from '../../src/lib/config/schema.js'

import {parseConfigText} from '../../src/lib/config/load.js'
import {isPortFree} from '../../src/lib/proc/index.js'
import {allPorts, localLayout, PORTS_PER_REGION} from '../../src/lib/world/local/layout.js'
import {removeRegionCgroups} from '../../src/lib/world/local/partition.js'
import {type CliResult, runAtlas} from './cli.js'

export interface TestWorld {
  /** runs the built CLI against this world's config */
  atlas(args: string[], options?: {timeoutMs?: number}): Promise<CliResult>
  baseDir: string
  basePort: number
  config: AtlasConfig
  configFile: string
  /** `atlas down --purge --yes`, then removes the temp dir */
  destroy(): Promise<void>
  dir: string
}

/**
 * A local world of its own for one test suite: a temp dir (traversable by the
 * postgres OS user), an atlas.yaml with local.baseDir there and a port block
 * that is free right now, so suites never collide with each other or with other
 * people's worlds on the machine.
 */
export async function createTestWorld(name: string): Promise<TestWorld> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `atlas-${name}-`))
  await chmod(dir, 0o755)
  const baseDir = path.join(dir, 'state')
  const configFile = path.join(dir, 'atlas.yaml')
  const render = (basePort: number) => `driver: local
regions:
  - {name: us, awsRegion: us-east-1, role: primary}
  - {name: eu, awsRegion: eu-central-1, role: secondary}
  - {name: witness, awsRegion: us-west-2, role: witness}
ledger:
  accounts: 50
local:
  baseDir: ${baseDir}
  basePort: ${basePort}
`
  let basePort = 0
  let config: AtlasConfig | undefined
  for (let attempt = 0; attempt < 50 && !config; attempt++) {
    // random blocks, so that suites running at the same time do not pick the same one; all below 32768, where
    // Linux's ephemeral range starts: a port checked free could else be taken by an outgoing connection before use
    const candidate = 20_000 + Math.floor(Math.random() * 600) * PORTS_PER_REGION
    const parsed = parseConfigText(render(candidate), configFile)
    const free = await Promise.all(allPorts(localLayout(parsed, baseDir)).map((p) => isPortFree(p.port, p.host)))
    if (free.every(Boolean)) {
      basePort = candidate
      config = {...parsed, source: configFile}
    }
  }

  if (!config) throw new Error('no free port block found')
  await writeFile(configFile, render(basePort))
  const atlas = (args: string[], options: {timeoutMs?: number} = {}) =>
    runAtlas(args, {env: {ATLAS_CONFIG: configFile}, timeoutMs: options.timeoutMs ?? 170_000})
  return {
    dir,
    baseDir,
    configFile,
    config,
    basePort,
    atlas,
    async destroy() {
      const down = await atlas(['down', '--purge', '--yes'])
      // whatever `down` missed (it can fail, e.g. while someone rebuilds dist/) must not outlive the suite
      const leftovers = [...(await processesMentioning(baseDir)), ...(await processesIn(dir))]
      for (const p of leftovers) {
        try {
          process.kill(-p.pid, 'SIGKILL')
        } catch {
          try {
            process.kill(p.pid, 'SIGKILL')
          } catch {
            // gone already
          }
        }
      }

      // and the region cgroups `down` would have removed (empty once the processes are gone)
      if (down.exitCode !== 0) await removeRegionCgroups(localLayout(config!, baseDir)).catch(() => {})
      await rm(dir, {recursive: true, force: true})
      if (down.exitCode !== 0) throw new Error(`atlas down failed (leftover processes were killed):\n${down.stderr}`)
    },
  }
}

/** PIDs of live processes whose command line mentions needle (e.g. a world's base dir). */
export async function processesMentioning(needle: string): Promise<Array<{cmdline: string; pid: number}>> {
  const {readdir, readFile} = await import('node:fs/promises')
  const found: Array<{cmdline: string; pid: number}> = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ')
      if (cmdline.includes(needle)) found.push({pid: Number(entry), cmdline})
    } catch {
      // exited meanwhile
    }
  }

  return found
}

/** Ports of the world's block that something listens on. */
export async function listeningPorts(world: TestWorld): Promise<number[]> {
  const {isListening} = await import('../../src/lib/proc/index.js')
  const all = allPorts(localLayout(world.config, world.baseDir))
  const listening = await Promise.all(all.map((p) => isListening(p.port, p.host, 300)))
  return all.filter((_, i) => listening[i]).map((p) => p.port)
}

/** Live processes whose working directory is inside dir (moto's command line does not name the world). */
export async function processesIn(dir: string): Promise<Array<{cmdline: string; pid: number}>> {
  const {readdir, readFile, readlink} = await import('node:fs/promises')
  const found: Array<{cmdline: string; pid: number}> = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cwd = (await readlink(`/proc/${entry}/cwd`)).replace(/ \(deleted\)$/, '')
      if (cwd === dir || cwd.startsWith(`${dir}/`))
        found.push({
          pid: Number(entry),
          cmdline: (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' '),
        })
    } catch {
      // exited meanwhile, or not ours to read
    }
  }

  return found
}

/** The backup suites need pgBackRest: CI must have it (an error there); elsewhere they are skipped, saying why. */
export async function requirePgbackrest(context: Mocha.Context): Promise<void> {
  const {findExecutable} = await import('../../src/lib/tools/discovery.js')
  if (await findExecutable('pgbackrest')) return
  if (process.env.CI) throw new Error('pgbackrest is not installed (apt-get install pgbackrest)')
  // eslint-disable-next-line mocha/no-skipped-tests -- outside CI a missing system package skips the suite, saying why
  context.skip() // pgbackrest is not installed on this machine (scripts/setup.sh installs it; CI must have it)
}

/** `atlas workload --count N` against the test world (extra flags such as --audit), which must exit 0. */
export async function runWorkload(world: TestWorld, count: number, flags: string[] = []): Promise<void> {
  const result = await world.atlas(['workload', '--count', String(count), ...flags, '--json'])
  if (result.exitCode !== 0) throw new Error(`atlas workload exited ${result.exitCode}: ${result.stderr}`)
}
