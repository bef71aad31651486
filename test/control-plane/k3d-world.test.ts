import type {AddressInfo} from 'node:net'

// The k3d world's own code against the test control plane: its fault plans and their
// undo (K3dWorld.injectFault, as blast-radius calls it), its health and convergence
// check (K3dWorld.health / isConverged, with the kube contexts k3d-dc-REGION), `atlas
// status --driver k3d` and blast-radius's survivability pre-check.
//
// The fault plans are docker commands on a region's k3d node containers; here a docker
// shim (test/fixtures/control-plane/docker-bin) applies each to the region's
// control-plane processes instead: kill -> SIGKILL all, start -> start them again
// (same data: the pods are still there, as in k3s's datastore), pause -> SIGSTOP,
// unpause -> SIGCONT. The plans have no kubectl step of their own: what is tested is
// their effect, seen through the real API servers.
import {expect} from 'chai'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {primaryRegion} from '../../src/lib/config/regions.js'
import {ATLAS_NAMESPACE} from '../../src/lib/gitops/topology.js'
import {CockroachHealthProbe, cockroachTargets} from '../../src/lib/health/cockroach.js'
import {isGroupAlive, isPortFree} from '../../src/lib/proc/index.js'
import {CommandRunner} from '../../src/lib/tools/runner.js'
import {K3dWorld} from '../../src/lib/world/k3d/index.js'
import {k3dLayout, sqlJobNames, upSteps} from '../../src/lib/world/k3d/plan.js'
import {renderK3d} from '../../src/lib/world/k3d/render.js'
import {withEnv} from '../fixtures/k3d/stubs.js'
import {parseJsonOutput, runAtlas} from '../helpers/cli.js'
import {
  CONFIG,
  deployRegion,
  FakeCockroachNode,
  fakeNodeTls,
  getObject,
  podReady,
  until,
} from '../helpers/control-plane-world.js'
import {type ControlPlane, controlPlaneOrSkip, type TestCluster} from '../helpers/control-plane.js'

const DOCKER_BIN = path.join('test', 'fixtures', 'control-plane', 'docker-bin')
const ORDER = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const

describe('control plane: k3d world faults, health, status and blast-radius pre-check', function () {
  this.timeout(180_000)
  let plane: ControlPlane
  let docker: http.Server
  let dockerCalls: string[][]
  let restoreEnv: () => void
  let baseDir: string
  let world: K3dWorld
  let node: FakeCockroachNode
  const paused = new Set<string>()

  const clusterOf = (container: string): TestCluster => {
    const c = plane.clusters.find((x) => x.nodeName === container)
    if (!c) throw new Error(`no such container: ${container}`)
    return c
  }

  /** What Docker would do to a region's node container, done to its processes. */
  async function dockerCall(argv: string[]): Promise<{exitCode: number; stderr?: string; stdout?: string}> {
    dockerCalls.push(argv)
    const [verb, ...rest] = argv
    const containers = rest.filter((a, i) => !a.startsWith('--') && rest[i - 1] !== '--signal')
    try {
      switch (verb) {
        case 'kill': {
          for (const name of containers) {
            const c = clusterOf(name)
            for (const component of ORDER) if (c.pids[component]) await c.signal(component, 'SIGKILL')
            paused.delete(name)
          }

          return {exitCode: 0, stdout: containers.join('\n') + '\n'}
        }

        case 'network': {
          // the shared network's members, as `docker network inspect --format '{{json .Containers}}'` prints them
          if (rest[0] === 'inspect') {
            const members = Object.fromEntries(
              plane.clusters.map((c, i) => [
                `id${i}`,
                {Name: `k3d-${c.name}-server-0`, IPv4Address: `127.0.0.${i + 2}/8`},
              ]),
            )
            return {exitCode: 0, stdout: `${JSON.stringify(members)}\n`}
          }

          return {exitCode: 64, stderr: `docker shim: not supported here: ${argv.join(' ')}\n`}
        }

        case 'pause': {
          for (const name of containers) {
            for (const component of ORDER) await clusterOf(name).signal(component, 'SIGSTOP')
            paused.add(name)
          }

          return {exitCode: 0}
        }

        case 'start': {
          for (const name of containers) {
            const c = clusterOf(name)
            for (const component of ORDER) if (!c.pids[component]) await c.restart(component)
          }

          return {exitCode: 0, stdout: containers.join('\n') + '\n'}
        }

        case 'unpause': {
          for (const name of containers) {
            if (!paused.has(name))
              return {exitCode: 1, stderr: `Error response from daemon: Container ${name} is not paused\n`}
            for (const component of ORDER) await clusterOf(name).signal(component, 'SIGCONT')
            paused.delete(name)
          }

          return {exitCode: 0}
        }

        default: {
          return {exitCode: 64, stderr: `docker shim: not supported here: ${argv.join(' ')}\n`}
        }
      }
    } catch (error) {
      return {exitCode: 1, stderr: `${(error as Error).message}\n`}
    }
  }

  const probeFor = () =>
    new CockroachHealthProbe(
      cockroachTargets(CONFIG, plane.kubeconfig).map((t) => ({...t, httpPort: node.port})),
      {requestTimeoutMs: 1500, reconnectDelayMs: 100, maxReconnectDelayMs: 500, watchIdleMs: 10_000},
    )

  before(async function () {
    plane = await controlPlaneOrSkip(this)
    // kwok marks pods Ready on its own schedule; at the end of a long suite on a busy 2-core machine it once took over 90 s
    this.timeout(600_000)
    for (const region of ['us', 'eu', 'witness']) await deployRegion(plane, region)
    for (const c of plane.clusters) {
      await until(
        `${c.region}: cockroachdb-0 Ready`,
        async () => podReady(await getObject(plane, c.region, ['pod', 'cockroachdb-0', '-n', ATLAS_NAMESPACE])),
        180_000,
      )
    }

    dockerCalls = []
    docker = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', async () => {
        const answer = await dockerCall(JSON.parse(Buffer.concat(chunks).toString()) as string[])
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(answer))
      })
    })
    await new Promise<void>((resolve) => docker.listen(0, '127.0.0.1', resolve))
    baseDir = mkdtempSync(path.join(tmpdir(), 'atlas-cp-k3d-'))
    restoreEnv = withEnv({
      PATH: `${path.resolve(DOCKER_BIN)}:${process.env.PATH}`,
      ATLAS_TEST_DOCKER_URL: `http://127.0.0.1:${(docker.address() as AddressInfo).port}/`,
      KUBECONFIG: plane.kubeconfig,
    })
    world = new K3dWorld(CONFIG, {baseDir})
    // CockroachDB's HTTP port (8080, the k3d world's) when this host has it free, else any
    node = new FakeCockroachNode(plane.podAddress, 'n1-healthy', fakeNodeTls(plane))
    await node.start((await isPortFree(8080, plane.podAddress)) ? 8080 : 0)
  })

  after(async () => {
    restoreEnv?.()
    docker?.close()
    await node?.stop()
    if (baseDir) rmSync(baseDir, {recursive: true, force: true})
  })

  it("kill: the region's processes die, the region is unreachable; undo starts them and its pods are back", async () => {
    const eu = plane.cluster('eu')
    const podBefore = await getObject(plane, 'eu', ['pod', 'cockroachdb-0', '-n', ATLAS_NAMESPACE])
    const pidsBefore = Object.values(eu.pids) as number[]
    const probe = probeFor()
    await probe.start()
    try {
      const handle = await world.injectFault('eu', 'kill')
      expect(handle.description).to.include('docker kill --signal SIGKILL k3d-dc-eu-server-0')
      expect(dockerCalls.at(-1)).to.deep.equal(['kill', '--signal', 'SIGKILL', 'k3d-dc-eu-server-0'])
      for (const pid of pidsBefore) expect(isGroupAlive(pid)).to.equal(false)
      const down = await probe.sample()
      expect(down.health.unreachableRegions).to.deep.equal(['eu'])
      expect(down.health.quorumHeld).to.equal(true)

      const callsBeforeUndo = dockerCalls.length
      await handle.undo()
      expect(dockerCalls.slice(callsBeforeUndo)).to.deep.include(['start', 'k3d-dc-eu-server-0'])
      // the restarted container may have a new address: every cluster's CoreDNS hosts are rewritten from the network
      for (const c of plane.clusters) {
        const hosts = (await getObject(plane, c.region, ['configmap', 'coredns-custom', '-n', 'kube-system']))
          .data as Record<string, string>
        expect(Object.values(hosts).join('\n'), `coredns-custom of ${c.name}`).to.match(
          /127\.0\.0\.\d+ k3d-dc-eu-server-0/,
        )
      }

      await plane.kubectl(eu.context, ['wait', '--for=condition=Ready', `node/${eu.nodeName}`, '--timeout=60s'], {
        timeoutMs: 70_000,
      })
      const back = await until(
        'eu reachable and alive again',
        async () => {
          const s = await probe.sample()
          return s.health.unreachableRegions.length === 0 && s.health.groups[0].members.every((m) => m.alive)
            ? s
            : undefined
        },
        60_000,
        500,
      )
      expect(back.health.quorumHeld).to.equal(true)
      // the same pod: its state outlived the processes, as a k3s node's datastore does
      const podAfter = await getObject(plane, 'eu', ['pod', 'cockroachdb-0', '-n', ATLAS_NAMESPACE])
      expect(podAfter.metadata.uid).to.equal(podBefore.metadata.uid)
      expect(podReady(podAfter)).to.equal(true)
    } finally {
      await probe.stop()
    }
  })

  it('stop: a paused region answers nothing (deadline) until the undo unpauses it', async () => {
    const probe = probeFor()
    await probe.start()
    try {
      const handle = await world.injectFault('witness', 'stop')
      expect(dockerCalls.at(-1)).to.deep.equal(['pause', 'k3d-dc-witness-server-0'])
      const started = Date.now()
      const down = await probe.sample()
      expect(down.health.unreachableRegions).to.deep.equal(['witness'])
      const witness = down.health.groups[0].members.find((m) => m.region === 'witness')!
      expect(String(witness.detail?.error)).to.match(/no answer within 1500 ms/)
      expect(Date.now() - started).to.be.lessThan(10_000)
      await handle.undo()
      expect(dockerCalls.at(-1)).to.deep.equal(['unpause', 'k3d-dc-witness-server-0'])
      // an undo that finds the region already restored is not an error
      await handle.undo()
      const again = await world.injectFault('witness', 'stop')
      await dockerCall(['unpause', 'k3d-dc-witness-server-0'])
      await again.undo()
      await until(
        'witness reachable again',
        async () => (await probe.sample()).health.unreachableRegions.length === 0,
        30_000,
        250,
      )
    } finally {
      await probe.stop()
    }
  })

  it('K3dWorld.health (what blast-radius waits on) reads the real clusters: converged, then not with a region down', async function () {
    if (node.port !== 8080) this.skip() // the k3d world probes port 8080; something else has it on this host
    const healthy = await world.health()
    expect(healthy.unreachableRegions).to.deep.equal([])
    expect(K3dWorld.isConverged(healthy)).to.equal(true)
    const us = plane.cluster('us')
    await us.signal('kube-apiserver', 'SIGKILL')
    try {
      const down = await world.health()
      expect(down.unreachableRegions).to.deep.equal(['us'])
      expect(K3dWorld.isConverged(down)).to.equal(false)
    } finally {
      await us.restart('kube-apiserver')
    }

    expect(K3dWorld.isConverged(await world.health())).to.equal(true)
  })

  it("runs the up plan's kubectl steps for real: CockroachDB rollout in every region, the SQL Jobs (twice: a re-run replaces them)", async () => {
    const layout = k3dLayout(baseDir)
    const rendered = await renderK3d(CONFIG, layout, 'http://127.0.0.1:4566', 'test-only-password')
    for (const file of [layout.schemaJobFile, layout.multiRegionJobFile]) {
      mkdirSync(path.dirname(file), {recursive: true})
      writeFileSync(file, rendered.files.get(file)!)
    }

    const steps = upSteps({config: CONFIG, layout, endpoint: 'http://127.0.0.1:4566', renderedFiles: []})
    const wanted = ['cockroachdb-ready', 'ledger-schema', 'multi-region']
    const chosen = steps.filter((s) => wanted.includes(s.id))
    expect(chosen.map((s) => s.id)).to.deep.equal(wanted)
    const runner = new CommandRunner()
    for (let round = 1; round <= 2; round++) {
      for (const step of chosen) {
        for (const command of step.commands) {
          expect(command.tool, step.id).to.equal('kubectl')
          const result = await runner.run(plane.kubectlPath, command.args, {
            env: {KUBECONFIG: plane.kubeconfig},
            reject: false,
            timeoutMs: 120_000,
          })
          expect(
            result.exitCode,
            `round ${round}, ${step.id}: kubectl ${command.args.join(' ')}\n${result.stderr}`,
          ).to.equal(0)
          // as the pipeline does: the uid read from the live Job goes into the Secret's ownerReference
          await command.after?.(result)
          if (command.args.includes('patch') && command.args.includes('secret')) {
            const name = command.args[command.args.indexOf('secret') + 1]
            const job = await getObject(plane, primaryRegion(CONFIG).name, ['job', name, '-n', ATLAS_NAMESPACE])
            const secret = await getObject(plane, primaryRegion(CONFIG).name, ['secret', name, '-n', ATLAS_NAMESPACE])
            expect(secret.metadata.ownerReferences, name).to.deep.equal([
              {apiVersion: 'batch/v1', kind: 'Job', name, uid: job.metadata.uid, blockOwnerDeletion: true},
            ])
            // the Job waited, suspended, for its Secret to be owned: no pod yet
            expect(job.spec.suspend, name).to.equal(true)
            expect(job.status.active ?? 0, name).to.equal(0)
          }
        }
      }
    }

    // the Jobs ran in the primary region, under Pod Security restricted, and completed
    for (const job of Object.values(sqlJobNames(CONFIG))) {
      const live = await getObject(plane, primaryRegion(CONFIG).name, ['job', job, '-n', ATLAS_NAMESPACE])
      expect(live.status.succeeded, job).to.equal(1)
    }

    // the scripts (one sets the atlas user's password) are gone once their Jobs completed
    for (const job of Object.values(sqlJobNames(CONFIG))) {
      expect(
        await getObject(plane, primaryRegion(CONFIG).name, ['secret', job, '-n', ATLAS_NAMESPACE]),
        `secret/${job}`,
      ).to.equal(undefined)
    }

    // and a Secret whose Job goes away without completing goes with it (garbage collector, ownerReference)
    const schema = chosen.find((s) => s.id === 'ledger-schema')!
    const untilOwned = schema.commands.findIndex((c) => c.args.includes('patch') && c.args.includes('secret'))
    for (const command of schema.commands.slice(0, untilOwned + 1)) {
      const result = await runner.run(plane.kubectlPath, command.args, {
        env: {KUBECONFIG: plane.kubeconfig},
        reject: false,
        timeoutMs: 120_000,
      })
      expect(result.exitCode, `kubectl ${command.args.join(' ')}\n${result.stderr}`).to.equal(0)
      await command.after?.(result)
    }

    const name = sqlJobNames(CONFIG).schema
    const primary = primaryRegion(CONFIG).name
    expect(await getObject(plane, primary, ['secret', name, '-n', ATLAS_NAMESPACE])).to.exist
    await plane.kubectl(plane.cluster(primary).context, [
      'delete',
      'job',
      name,
      '-n',
      ATLAS_NAMESPACE,
      '--cascade=background',
      '--wait=false',
    ])
    await until(
      `secret/${name} removed with its Job`,
      async () => (await getObject(plane, primary, ['secret', name, '-n', ATLAS_NAMESPACE])) === undefined,
      60_000,
    )
  })

  it("runs the k3d restore plan's kubectl steps for real: its restore and drop Jobs are admitted under restricted, run, and leave no Secret; the restore Job runs once", async () => {
    const {restoreK3d, restoreStatements, dropStatements, restoreJobManifests} =
      await import('../../src/lib/backup/k3d.js')
    const {cockroachImage} = await import('../../src/lib/world/k3d/sql-job.js')
    const config = {...CONFIG, backup: {...CONFIG.backup, schedule: '6h'}}
    const restoreWorld = new K3dWorld(config, {baseDir})
    const plan = await restoreK3d(restoreWorld, {dryRun: true, now: new Date('2026-11-30T04:30:15Z')})
    // the Job files the render step writes in a real run (a dry run writes nothing), with the same scripts
    const [restoreFile, dropFile] = plan.steps
      .find((s) => s.id === 'render')!
      .files!.map((f) => f.replace('<base>', restoreWorld.layout.baseDir))
    const image = await cockroachImage()
    mkdirSync(path.dirname(restoreFile), {recursive: true})
    const manifests = restoreJobManifests({
      names: {restore: 'atlas-restore', drop: 'atlas-restore-drop'},
      restoreSql: restoreStatements({
        collection: 's3://b/p',
        database: 'ledger',
        scratch: plan.scratchDatabase,
        verifyUser: 'atlas_verify',
      }),
      dropSql: dropStatements(plan.scratchDatabase),
      image,
    })
    writeFileSync(restoreFile, manifests.restore)
    writeFileSync(dropFile, manifests.drop)
    const runner = new CommandRunner()
    const primary = primaryRegion(CONFIG).name
    let uid = ''
    for (const step of plan.steps.filter((s) => s.id === 'restore' || s.id === 'drop')) {
      for (const command of step.commands) {
        const [tool, ...args] = command.argv
        expect(tool, step.id).to.equal('kubectl')
        // kwok's simulated pods have no container output to read back
        if (args.includes('logs')) continue
        const resolved = args.map((a) =>
          a.replace('<base>', restoreWorld.layout.baseDir).replace(/<uid of job\/[^>]+>/, uid),
        )
        const result = await runner.run(plane.kubectlPath, resolved, {
          env: {KUBECONFIG: plane.kubeconfig},
          reject: false,
          timeoutMs: 120_000,
        })
        expect(result.exitCode, `${step.id}: kubectl ${resolved.join(' ')}\n${result.stderr}`).to.equal(0)
        if (args.some((a) => a.includes('jsonpath={.metadata.uid}'))) uid = result.stdout.trim()
      }
    }

    for (const job of ['atlas-restore', 'atlas-restore-drop']) {
      const live = await getObject(plane, primary, ['job', job, '-n', ATLAS_NAMESPACE])
      expect(live.status.succeeded, job).to.equal(1)
      expect(await getObject(plane, primary, ['secret', job, '-n', ATLAS_NAMESPACE]), `secret/${job}`).to.equal(
        undefined,
      )
    }

    // the restore runs once (a second RESTORE into the same name would fail and hide the first error)
    const restoreJob = await getObject(plane, primary, ['job', 'atlas-restore', '-n', ATLAS_NAMESPACE])
    expect(restoreJob.spec.backoffLimit).to.equal(0)
    expect(restoreJob.spec.template.spec.restartPolicy).to.equal('Never')
  })

  it('atlas status --driver k3d --json: not up before `up` finished (exit 3), up with its regions after', async () => {
    const env = {
      PATH: process.env.PATH,
      KUBECONFIG: plane.kubeconfig,
      ATLAS_TEST_DOCKER_URL: process.env.ATLAS_TEST_DOCKER_URL,
    }
    const before = await runAtlas(['status', '--driver', 'k3d', '--json', '--base-dir', baseDir], {env})
    expect(before.exitCode).to.equal(3)
    expect(parseJsonOutput<{up: boolean}>(before).up).to.equal(false)
    // what a finished `atlas up --driver k3d` leaves behind
    const layout = k3dLayout(baseDir)
    mkdirSync(path.dirname(layout.stateFile), {recursive: true})
    writeFileSync(layout.stateFile, JSON.stringify({version: 1, completed: {'ledger-synced': {fingerprint: 'test'}}}))
    const after = await runAtlas(['status', '--driver', 'k3d', '--json', '--base-dir', baseDir], {env})
    expect(after.exitCode, after.stderr).to.equal(0)
    const status = parseJsonOutput<{
      driver: string
      health: null | {groups: Array<{members: Array<{region: string}>}>}
      regions: Array<{region: string}>
      up: boolean
    }>(after)
    expect(status.driver).to.equal('k3d')
    expect(status.up).to.equal(true)
    expect(status.regions.map((r) => r.region)).to.deep.equal(['us', 'eu', 'witness'])
    // the health of every region's CockroachDB members, read from these clusters
    expect([...new Set(status.health!.groups[0].members.map((m) => m.region))]).to.deep.equal(['us', 'eu', 'witness'])
  })

  it('blast-radius refuses to break us + eu (quorum would be lost) before touching anything', async () => {
    const calls = dockerCalls.length
    // the processes running now (whatever earlier tests left) must all still run afterwards
    const pids = plane.clusters
      .flatMap((c) =>
        Object.entries(c.pids).map(([component, pid]) => ({name: `${c.name}/${component}`, pid: pid as number})),
      )
      .filter((p) => isGroupAlive(p.pid))
    const dead = plane.clusters.flatMap((c) =>
      Object.entries(c.pids)
        .filter(([, pid]) => !isGroupAlive(pid as number))
        .map(([component]) => `${c.name}/${component}`),
    )
    if (dead.length > 0) console.log(`      (not running before the refusal: ${dead.join(', ')})`)
    const rv = await getObject(plane, 'us', ['pod', 'cockroachdb-0', '-n', ATLAS_NAMESPACE])
    const env = {
      PATH: process.env.PATH,
      KUBECONFIG: plane.kubeconfig,
      ATLAS_TEST_DOCKER_URL: process.env.ATLAS_TEST_DOCKER_URL,
    }
    const result = await runAtlas(
      ['blast-radius', '--driver', 'k3d', '--region', 'us', '--region', 'eu', '--json', '--base-dir', baseDir],
      {env},
    )
    expect(result.exitCode).to.equal(3)
    const {error} = parseJsonOutput<{error: {code: string; message: string}}>(result)
    expect(error.code).to.equal('FAULT_REFUSED')
    expect(error.message).to.match(/leaves 1 of 3 voting regions; a Raft majority needs 2 of 3: quorum would be lost/)
    // nothing was done to any region
    expect(dockerCalls.length).to.equal(calls)
    for (const p of pids) expect(isGroupAlive(p.pid), p.name).to.equal(true)
    const same = await getObject(plane, 'us', ['pod', 'cockroachdb-0', '-n', ATLAS_NAMESPACE])
    expect(same.metadata.resourceVersion).to.equal(rv.metadata.resourceVersion)
  })
})
