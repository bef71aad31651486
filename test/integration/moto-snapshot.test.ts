// The S3 emulator's snapshot (libexec/moto-persistent.py) on a real moto: the one taken when
// the journal grows is written by a forked child, so requests are served while it is written
// (it used to pickle the whole state under the write lock: 5 s at 130 MB, and every audit
// write of the workload waited), and a crash at any point loses no acknowledged write.
// The writer is held at a known point with ATLAS_MOTO_SNAPSHOT_PAUSE (it stops itself).
import {expect} from 'chai'
import {mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {freePort, isGroupAlive, killProcessGroup, stopProcessGroup} from '../../src/lib/proc/index.js'
import {CommandRunner} from '../../src/lib/tools/runner.js'
import {sleep} from '../../src/lib/wait.js'
import {REPO_ROOT} from '../helpers/cli.js'
import {trackProcessGroup, untrackProcessGroup} from '../helpers/postgres.js'

const SCRIPT = path.join(REPO_ROOT, 'libexec', 'moto-persistent.py')

interface Emulator {
  endpoint: string
  log(): Promise<string>
  pid: number
}

describe('S3 emulator snapshot: written by a forked child while requests go on (real moto)', function () {
  this.timeout(120_000)
  let root: string
  let port: number
  const started: number[] = []

  async function start(options: {compactBytes: number; pause?: boolean}): Promise<Emulator> {
    const logFile = path.join(root, `moto-${started.length}.log`)
    const pid = await new CommandRunner().start(
      'python3',
      [
        SCRIPT,
        '--state-dir',
        path.join(root, 'state'),
        '--services',
        's3',
        '--compact-bytes',
        String(options.compactBytes),
        '-H',
        '127.0.0.1',
        '-p',
        String(port),
      ],
      {logFile, cwd: root, env: options.pause ? {ATLAS_MOTO_SNAPSHOT_PAUSE: '1'} : {}},
    )
    trackProcessGroup(pid, root)
    started.push(pid)
    const endpoint = `http://127.0.0.1:${port}`
    const log = () => readFile(logFile, 'utf8').catch(() => '')
    const deadline = Date.now() + 30_000
    for (;;) {
      try {
        await (await fetch(`${endpoint}/moto-api/`, {signal: AbortSignal.timeout(1000)})).arrayBuffer()
        return {endpoint, pid, log}
      } catch {
        if (!isGroupAlive(pid) || Date.now() > deadline)
          throw new Error(`moto-persistent did not start:\n${await log()}`)
        await sleep(100)
      }
    }
  }

  async function s3(emulator: Emulator) {
    const {S3Client} = await import('@aws-sdk/client-s3')
    return new S3Client({
      region: 'us-east-1',
      endpoint: emulator.endpoint,
      credentials: {accessKeyId: 'test', secretAccessKey: 'test'},
      forcePathStyle: true,
      maxAttempts: 1,
    })
  }

  async function createBucket(emulator: Emulator): Promise<void> {
    const {CreateBucketCommand} = await import('@aws-sdk/client-s3')
    const client = await s3(emulator)
    try {
      await client.send(new CreateBucketCommand({Bucket: 'audit'}))
    } finally {
      client.destroy()
    }
  }

  /** one object written; resolves once the emulator has acknowledged it (its journal holds it) */
  async function put(emulator: Emulator, key: string, body: string): Promise<void> {
    const {PutObjectCommand} = await import('@aws-sdk/client-s3')
    const client = await s3(emulator)
    try {
      await client.send(new PutObjectCommand({Bucket: 'audit', Key: key, Body: body}), {
        abortSignal: AbortSignal.timeout(10_000),
      })
    } finally {
      client.destroy()
    }
  }

  async function get(emulator: Emulator, key: string): Promise<string> {
    const {GetObjectCommand} = await import('@aws-sdk/client-s3')
    const client = await s3(emulator)
    try {
      const answer = await client.send(new GetObjectCommand({Bucket: 'audit', Key: key}))
      return await answer.Body!.transformToString()
    } finally {
      client.destroy()
    }
  }

  async function keys(emulator: Emulator): Promise<string[]> {
    const {ListObjectsV2Command} = await import('@aws-sdk/client-s3')
    const client = await s3(emulator)
    try {
      const page = await client.send(new ListObjectsV2Command({Bucket: 'audit'}))
      return (page.Contents ?? []).map((o) => o.Key!).sort()
    } finally {
      client.destroy()
    }
  }

  /** the children of `pid`, whichever of its threads forked them (the snapshot writer, when one runs) */
  async function children(pid: number): Promise<number[]> {
    const threads = await readdir(`/proc/${pid}/task`).catch(() => [])
    const found: number[] = []
    for (const thread of threads) {
      const text = await readFile(`/proc/${pid}/task/${thread}/children`, 'utf8').catch(() => '')
      found.push(...text.split(/\s+/).filter(Boolean).map(Number))
    }

    return found
  }

  /** the snapshot writer, once it has stopped itself (state T) */
  async function stoppedWriter(pid: number): Promise<number> {
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      for (const child of await children(pid)) {
        const stat = await readFile(`/proc/${child}/stat`, 'utf8').catch(() => '')
        if (/^\d+ \(.*\) T /.test(stat)) return child
      }

      await sleep(50)
    }

    throw new Error(`no snapshot writer of process ${pid} stopped within 10 s`)
  }

  /** whether `pid` runs: not gone, and not a zombie left for its new parent to reap */
  async function running(pid: number): Promise<boolean> {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    return stat !== '' && !/^\d+ \(.*\) [ZX] /.test(stat)
  }

  /**
   * An emulator whose first compaction's writer is held (stopped): 15 objects of 1.5 KB written
   * before it (about 3 KB a journal line, so the journal passes 20 KB within them), then `during`
   * small ones while it is held.
   */
  async function heldWriter(during: number): Promise<{emulator: Emulator; writer: number}> {
    const emulator = await start({compactBytes: 20_000, pause: true})
    await createBucket(emulator)
    for (let i = 0; i < 15; i++) await put(emulator, `before-${i}`, 'b'.repeat(1500))
    const writer = await stoppedWriter(emulator.pid)
    for (let i = 0; i < during; i++) await put(emulator, `during-${i}`, `d${i}`)
    return {emulator, writer}
  }

  const journals = async () => (await readdir(path.join(root, 'state'))).filter((f) => f.startsWith('journal-')).sort()

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'atlas-test-moto-snapshot-'))
    port = await freePort()
  })

  afterEach(async () => {
    for (const pid of started.splice(0)) {
      await stopProcessGroup(pid, 5000)
      untrackProcessGroup(pid)
    }

    await rm(root, {recursive: true, force: true})
  })

  it('serves and journals writes while the writer is held; a crash after it loses none of them', async () => {
    // the writer is stopped mid-snapshot: the server still answers writes and reads
    const {emulator, writer} = await heldWriter(10)
    expect(await keys(emulator)).to.have.length(25)

    process.kill(writer, 'SIGCONT')
    const deadline = Date.now() + 10_000
    while (!/snapshot written by process/.test(await emulator.log()) && Date.now() < deadline) await sleep(50)
    expect(await emulator.log()).to.match(new RegExp(`snapshot written by process ${writer} `))
    // the journal it folded in is gone; the one written meanwhile is kept for replay
    expect(await journals()).to.deep.equal(['journal-00000001.jsonl'])

    // journal 1 already holds the rest of the before-writes: the first of these starts the next compaction,
    // whose writer is held when the crash comes (a crash in the middle of a snapshot)
    for (let i = 0; i < 5; i++) await put(emulator, `after-${i}`, `a${i}`)
    expect(await stoppedWriter(emulator.pid)).to.not.equal(writer)
    killProcessGroup(emulator.pid, 'SIGKILL')
    await sleep(300)

    const again = await start({compactBytes: 64 * 1024 * 1024})
    const found = await keys(again)
    expect(found).to.have.length(30)
    expect(found.filter((k) => k.startsWith('during-'))).to.have.length(10)
    expect(await get(again, 'during-7')).to.equal('d7')
    expect(await get(again, 'before-3')).to.equal('b'.repeat(1500))
    expect(await get(again, 'after-4')).to.equal('a4')
  })

  it('a writer whose server is killed dies with it, and the restarted server has every acknowledged write', async () => {
    const {emulator, writer} = await heldWriter(3)

    // only the server is killed (not its group): the writer must not outlive it, or it could later
    // replace the snapshot of a server started after it with its older state
    process.kill(emulator.pid, 'SIGKILL')
    const deadline = Date.now() + 5000
    while ((await running(writer)) && Date.now() < deadline) await sleep(50)
    expect(await running(writer), 'the snapshot writer outlived its server').to.equal(false)

    const again = await start({compactBytes: 64 * 1024 * 1024})
    expect(await keys(again)).to.have.length(18)
  })

  it('a clean stop (SIGTERM) while a writer is held ends that writer and writes its own snapshot of everything', async () => {
    const {emulator, writer} = await heldWriter(3)

    // only the server is signalled, as the world's stop does first: it must not wait for the held writer
    process.kill(emulator.pid, 'SIGTERM')
    const deadline = Date.now() + 10_000
    while ((await running(emulator.pid)) && Date.now() < deadline) await sleep(50)
    expect(await running(emulator.pid), `the server did not stop:\n${await emulator.log()}`).to.equal(false)
    expect(await running(writer)).to.equal(false)
    expect(await emulator.log()).to.match(/snapshot of \d+ bytes .*\n.*stopped/)

    // what a writer killed mid-write leaves (its temporary file) goes at the next start
    await writeFile(path.join(root, 'state', 'snapshot.pickle.99999.tmp'), 'half a snapshot')

    // the last snapshot holds everything: nothing is left to replay
    const again = await start({compactBytes: 64 * 1024 * 1024})
    expect(await keys(again)).to.have.length(18)
    expect(await again.log()).to.not.match(/replayed/)
    expect((await readdir(path.join(root, 'state'))).filter((f) => f.endsWith('.tmp'))).to.deep.equal([])
  })
})
