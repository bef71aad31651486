import {expect} from 'chai'
import {chmod, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {DEFAULT_CONFIG, parseConfigObject} from '../../../../src/lib/config/index.js'
import {ExitCode, RestoreError} from '../../../../src/lib/errors.js'
import {k3dTopology} from '../../../../src/lib/gitops/topology.js'
import {CommandRunner} from '../../../../src/lib/tools/runner.js'
import {injectK3dFault, planK3dFault} from '../../../../src/lib/world/k3d/faults.js'

const topology = k3dTopology(parseConfigObject(DEFAULT_CONFIG))
const argvOf = (runner: CommandRunner) => runner.plan.map((step) => step.argv)

describe('k3d faults: exact docker commands and their undo', () => {
  describe('as dry-run plans', () => {
    it("kill = docker kill (SIGKILL) of the region's node containers; undo = docker start", async () => {
      const runner = new CommandRunner({dryRun: true})
      const handle = await injectK3dFault(runner, topology, 'eu', 'kill')
      expect(argvOf(runner)).to.deep.equal([['docker', 'kill', '--signal', 'SIGKILL', 'k3d-dc-eu-server-0']])
      await handle.undo()
      expect(argvOf(runner).slice(1)).to.deep.equal([['docker', 'start', 'k3d-dc-eu-server-0']])
      expect(handle).to.include({region: 'eu', mode: 'kill'})
      expect(handle.description).to.equal(
        'docker kill --signal SIGKILL k3d-dc-eu-server-0 (undo: docker start k3d-dc-eu-server-0)',
      )
    })

    it("kill's undo then writes the current addresses into every cluster's CoreDNS", async () => {
      const runner = new CommandRunner({dryRun: true})
      const handle = await injectK3dFault(runner, topology, 'eu', 'kill', {corednsFile: '/b/k3d/coredns-custom.json'})
      await handle.undo()
      expect(argvOf(runner).slice(1)).to.deep.equal([
        ['docker', 'start', 'k3d-dc-eu-server-0'],
        ['docker', 'network', 'inspect', '--format', '{{json .Containers}}', 'atlas'],
        ...['dc-us', 'dc-eu', 'dc-witness'].map((c) => [
          'kubectl',
          '--context',
          `k3d-${c}`,
          'apply',
          '--request-timeout=10s',
          '--filename',
          '/b/k3d/coredns-custom.json',
        ]),
      ])
      // pause and partition keep the address: nothing to refresh
      const stop = new CommandRunner({dryRun: true})
      await (await injectK3dFault(stop, topology, 'eu', 'stop', {corednsFile: '/b/k3d/coredns-custom.json'})).undo()
      expect(argvOf(stop).map((a) => a[1])).to.deep.equal(['pause', 'unpause'])
    })

    it('stop = docker pause; undo = docker unpause', async () => {
      const runner = new CommandRunner({dryRun: true})
      const handle = await injectK3dFault(runner, topology, 'us', 'stop')
      await handle.undo()
      expect(argvOf(runner)).to.deep.equal([
        ['docker', 'pause', 'k3d-dc-us-server-0'],
        ['docker', 'unpause', 'k3d-dc-us-server-0'],
      ])
      expect(runner.plan.map((s) => s.label)).to.deep.equal(['stop region us', 'restore region us'])
    })

    it('partition = docker network disconnect from the shared network; undo reconnects with the same address', async () => {
      const runner = new CommandRunner({dryRun: true})
      const handle = await injectK3dFault(runner, topology, 'witness', 'partition')
      await handle.undo()
      expect(argvOf(runner)).to.deep.equal([
        [
          'docker',
          'inspect',
          '--format',
          '{{with index .NetworkSettings.Networks "atlas"}}{{.IPAddress}}{{end}}',
          'k3d-dc-witness-server-0',
        ],
        ['docker', 'network', 'disconnect', '--force', 'atlas', 'k3d-dc-witness-server-0'],
        [
          'docker',
          'network',
          'connect',
          '--ip',
          '<address of k3d-dc-witness-server-0>',
          'atlas',
          'k3d-dc-witness-server-0',
        ],
      ])
    })

    it('undo runs once however often it is called', async () => {
      const runner = new CommandRunner({dryRun: true})
      const handle = await injectK3dFault(runner, topology, 'eu', 'stop')
      await handle.undo()
      await handle.undo()
      expect(argvOf(runner).filter((a) => a[1] === 'unpause')).to.have.length(1)
    })

    it('planK3dFault refuses an unknown region', () => {
      expect(() => planK3dFault(topology, 'mars', 'kill')).to.throw(/region "mars" is not part of the k3d topology/)
    })
  })

  describe('against a stand-in docker CLI (records argv, answers like docker)', () => {
    let dir: string
    let savedPath: string | undefined
    const log = () => readFile(path.join(dir, 'calls.log'), 'utf8').then((t) => t.trim().split('\n'))

    beforeEach(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'atlas-docker-'))
      // inspect prints the address; unpause of a running container and reconnect of a
      // connected one fail with docker's own wording; FAIL_CONNECT makes connect fail otherwise
      await writeFile(
        path.join(dir, 'docker'),
        `#!/bin/sh
echo "$*" >> "${dir}/calls.log"
case "$1" in
  inspect) echo 172.28.0.5 ;;
  unpause) echo "Error response from daemon: Container k3d-dc-us-server-0 is not paused" >&2; exit 1 ;;
  network)
    if [ "$2" = connect ] && [ -f "${dir}/FAIL_CONNECT" ]; then echo "Error response from daemon: network atlas not found" >&2; exit 1; fi ;;
esac
exit 0
`,
      )
      await chmod(path.join(dir, 'docker'), 0o755)
      savedPath = process.env.PATH
      process.env.PATH = `${dir}${path.delimiter}${process.env.PATH ?? ''}`
    })

    afterEach(async () => {
      process.env.PATH = savedPath
      await rm(dir, {recursive: true, force: true})
    })

    it('partition reads the address first and reconnects with exactly that address', async () => {
      const handle = await injectK3dFault(new CommandRunner(), topology, 'eu', 'partition')
      await handle.undo()
      expect(await log()).to.deep.equal([
        'inspect --format {{with index .NetworkSettings.Networks "atlas"}}{{.IPAddress}}{{end}} k3d-dc-eu-server-0',
        'network disconnect --force atlas k3d-dc-eu-server-0',
        'network connect --ip 172.28.0.5 atlas k3d-dc-eu-server-0',
      ])
    })

    it('an undo that finds the region already restored succeeds (idempotent restore)', async () => {
      const handle = await injectK3dFault(new CommandRunner(), topology, 'us', 'stop')
      await handle.undo()
      expect(await log()).to.deep.equal(['pause k3d-dc-us-server-0', 'unpause k3d-dc-us-server-0'])
    })

    it('an undo that really fails is a RestoreError (exit code 5) naming the command to run by hand', async () => {
      await writeFile(path.join(dir, 'FAIL_CONNECT'), '')
      const handle = await injectK3dFault(new CommandRunner(), topology, 'eu', 'partition')
      let caught: unknown
      try {
        await handle.undo()
      } catch (error) {
        caught = error
      }

      expect(caught).to.be.instanceOf(RestoreError)
      expect((caught as RestoreError).exitCode).to.equal(ExitCode.RestoreFailed)
      expect((caught as RestoreError).message).to.include('network atlas not found')
      expect((caught as RestoreError).hint).to.equal(
        'run it by hand: docker network connect --ip 172.28.0.5 atlas k3d-dc-eu-server-0',
      )
    })
  })

  describe('kill undo: the CoreDNS hosts of every cluster follow the restarted container', () => {
    let dir: string
    let savedPath: string | undefined
    const corednsFile = () => path.join(dir, 'coredns-custom.json')

    beforeEach(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'atlas-kill-dns-'))
      // Docker gave the restarted eu server a new address; kubectl fails for dc-eu until its API server is back (a counter)
      const containers = {
        a: {Name: 'k3d-dc-us-server-0', IPv4Address: '172.28.0.3/16'},
        b: {Name: 'k3d-dc-eu-server-0', IPv4Address: '172.28.0.9/16'},
        c: {Name: 'k3d-dc-witness-server-0', IPv4Address: '172.28.0.5/16'},
        d: {Name: 'atlas-localstack', IPv4Address: '172.28.0.2/16'},
        e: {Name: 'atlas-git', IPv4Address: '172.28.0.6/16'},
        f: {Name: 'k3d-dc-us-serverlb', IPv4Address: '172.28.0.4/16'},
      }
      await writeFile(
        path.join(dir, 'docker'),
        `#!/bin/sh\necho "docker $*" >> "${dir}/calls.log"\n[ "$1 $2" = "network inspect" ] && echo '${JSON.stringify(containers)}'\nexit 0\n`,
      )
      await writeFile(
        path.join(dir, 'kubectl'),
        `#!/bin/sh
echo "kubectl $*" >> "${dir}/calls.log"
if [ "$2" = k3d-dc-eu ]; then
  n=$(cat "${dir}/eu-failures" 2>/dev/null || echo 0)
  if [ "$n" != 0 ]; then echo $((n - 1)) > "${dir}/eu-failures"; echo "The connection to the server 127.0.0.1:6551 was refused" >&2; exit 1; fi
fi
exit 0
`,
      )
      for (const tool of ['docker', 'kubectl']) await chmod(path.join(dir, tool), 0o755)
      savedPath = process.env.PATH
      process.env.PATH = `${dir}${path.delimiter}${process.env.PATH ?? ''}`
    })

    afterEach(async () => {
      process.env.PATH = savedPath
      await rm(dir, {recursive: true, force: true})
    })

    it("waits for the restarted cluster's API server and writes the new address for every cluster", async () => {
      await writeFile(path.join(dir, 'eu-failures'), '2')
      const handle = await injectK3dFault(new CommandRunner(), topology, 'eu', 'kill', {
        corednsFile: corednsFile(),
        refreshRetryDelayMs: 10,
      })
      await handle.undo()
      const calls = (await readFile(path.join(dir, 'calls.log'), 'utf8')).trim().split('\n')
      expect(calls.filter((c) => c.startsWith('kubectl --context k3d-dc-eu apply'))).to.have.length(3)
      for (const c of ['dc-us', 'dc-witness'])
        expect(calls).to.include(`kubectl --context k3d-${c} apply --request-timeout=10s --filename ${corednsFile()}`)
      const configMap = JSON.parse(await readFile(corednsFile(), 'utf8'))
      expect(configMap.metadata).to.deep.include({name: 'coredns-custom', namespace: 'kube-system'})
      expect(configMap.data['atlas.hosts'].trim().split('\n')).to.deep.equal([
        '172.28.0.3 k3d-dc-us-server-0',
        '172.28.0.9 k3d-dc-eu-server-0',
        '172.28.0.5 k3d-dc-witness-server-0',
        '172.28.0.2 atlas-localstack',
        '172.28.0.6 atlas-git',
      ])
      // one zone per shared name, answered from the hosts file CoreDNS reloads
      expect(configMap.data['atlas.server']).to.match(
        /^k3d-dc-us-server-0:53 k3d-dc-eu-server-0:53 k3d-dc-witness-server-0:53 atlas-localstack:53 atlas-git:53 \{\n/,
      )
      expect(configMap.data['atlas.server']).to.include('hosts /etc/coredns/custom/atlas.hosts {')
    })

    it('a cluster that never answers is a RestoreError; undo again retries the hosts only', async () => {
      await writeFile(path.join(dir, 'eu-failures'), '1000')
      const handle = await injectK3dFault(new CommandRunner(), topology, 'eu', 'kill', {
        corednsFile: corednsFile(),
        refreshDeadlineMs: 50,
        refreshRetryDelayMs: 10,
      })
      const error = await handle.undo().then(
        () => {},
        (error_: unknown) => error_,
      )
      expect(error).to.be.instanceOf(RestoreError)
      expect((error as RestoreError).exitCode).to.equal(ExitCode.RestoreFailed)
      expect((error as Error).message).to.include('the CoreDNS hosts of dc-eu could not be updated')
      await writeFile(path.join(dir, 'eu-failures'), '0')
      await handle.undo()
      const calls = (await readFile(path.join(dir, 'calls.log'), 'utf8')).trim().split('\n')
      expect(calls.filter((c) => c === 'docker start k3d-dc-eu-server-0')).to.have.length(1)
    })
  })
})
