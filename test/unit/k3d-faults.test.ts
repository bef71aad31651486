import {chmod, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {expect} from 'chai'
import {DEFAULT_CONFIG, parseConfigObject} from '../../src/lib/config/index.js'
import {ExitCode, RestoreError} from '../../src/lib/errors.js'
import {k3dTopology} from '../../src/lib/gitops/topology.js'
import {CommandRunner} from '../../src/lib/tools/runner.js'
import {injectK3dFault, planK3dFault} from '../../src/lib/world/k3d/faults.js'

const topology = k3dTopology(parseConfigObject(DEFAULT_CONFIG))
const argvOf = (runner: CommandRunner) => runner.plan.map((step) => step.argv)

describe('k3d faults: exact docker commands and their undo', () => {
  describe('as dry-run plans', () => {
    it('kill = docker kill (SIGKILL) of the region\'s node containers; undo = docker start', async () => {
      const runner = new CommandRunner({dryRun: true})
      const handle = await injectK3dFault(runner, topology, 'eu', 'kill')
      expect(argvOf(runner)).to.deep.equal([['docker', 'kill', '--signal', 'SIGKILL', 'k3d-dc-eu-server-0']])
      await handle.undo()
      expect(argvOf(runner).slice(1)).to.deep.equal([['docker', 'start', 'k3d-dc-eu-server-0']])
      expect(handle).to.include({region: 'eu', mode: 'kill'})
      expect(handle.description).to.equal('docker kill --signal SIGKILL k3d-dc-eu-server-0 (undo: docker start k3d-dc-eu-server-0)')
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
        ['docker', 'inspect', '--format', '{{with index .NetworkSettings.Networks "atlas"}}{{.IPAddress}}{{end}}', 'k3d-dc-witness-server-0'],
        ['docker', 'network', 'disconnect', '--force', 'atlas', 'k3d-dc-witness-server-0'],
        ['docker', 'network', 'connect', '--ip', '<address of k3d-dc-witness-server-0>', 'atlas', 'k3d-dc-witness-server-0'],
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
      expect((caught as RestoreError).hint).to.equal('run it by hand: docker network connect --ip 172.28.0.5 atlas k3d-dc-eu-server-0')
    })
  })
})
