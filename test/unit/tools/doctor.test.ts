import {expect} from 'chai'
import {chmod, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {compareVersions, parseVersion} from '../../../src/lib/tools/discovery.js'
import {doctor} from '../../../src/lib/tools/doctor.js'
import {parseJsonOutput, runAtlas} from '../../helpers/cli.js'

/** A stand-in executable that prints what the real tool prints for its version. */
async function stub(dir: string, name: string, script: string): Promise<void> {
  const file = path.join(dir, name)
  await writeFile(file, `#!/bin/sh\n${script}\n`)
  await chmod(file, 0o755)
}

interface DoctorJson {
  drivers: Array<{driver: string; missing: string[]; usable: boolean}>
  selectedDriver: string
  selectedUsable: boolean
  tools: Array<{found: boolean; install: string; name: string; ok: boolean; problem?: string; version?: string}>
}

describe('doctor', () => {
  let stubs: string

  beforeEach(async () => {
    stubs = await mkdtemp(path.join(os.tmpdir(), 'atlas-doctor-'))
  })

  afterEach(async () => {
    await rm(stubs, {recursive: true, force: true})
  })

  it('parses and compares versions as tools print them', () => {
    expect(parseVersion('etcd Version: 3.4.23\nGit SHA: x')).to.equal('3.4.23')
    expect(parseVersion('v3.14.2+g05fa379')).to.equal('3.14.2')
    expect(parseVersion('postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')).to.equal('15.18')
    expect(parseVersion('ansible-playbook [core 2.14.18]')).to.equal('2.14.18')
    expect(compareVersions('3.4.23', '3.4.0')).to.equal(1)
    expect(compareVersions('13.0', '13')).to.equal(0)
    expect(compareVersions('2.9.9', '2.14.0')).to.equal(-1)
  })

  it('reports found tools with versions, a too-old tool, a missing tool, and a Docker CLI without engine', async () => {
    await stub(stubs, 'etcd', 'echo "etcd Version: 3.5.9"')
    await stub(stubs, 'patroni', 'echo "patroni 2.1.4"')
    await stub(stubs, 'postgres', 'echo "postgres (PostgreSQL) 16.2"')
    await stub(stubs, 'initdb', 'echo "initdb (PostgreSQL) 16.2"')
    await stub(stubs, 'pg_ctl', 'echo "pg_ctl (PostgreSQL) 16.2"')
    await stub(stubs, 'moto_server', 'exit 0')
    await stub(stubs, 'python3', 'echo 5.0.11')
    await stub(stubs, 'openssl', 'echo "OpenSSL 3.0.19 27 Jan 2026 (Library: OpenSSL 3.0.19 27 Jan 2026)"')
    await stub(
      stubs,
      'docker',
      'if [ "$1" = info ]; then echo "Cannot connect to the Docker daemon" >&2; exit 1; fi; echo "Docker version 27.1.1, build x"',
    )
    const result = await doctor('local', [stubs])
    const byName = Object.fromEntries(result.tools.map((t) => [t.name, t]))
    expect(byName.etcd).to.include({found: true, ok: true, version: '3.5.9'})
    expect(byName.patroni).to.include({
      found: true,
      ok: false,
      version: '2.1.4',
      problem: 'version 2.1.4 is older than 4.0.0',
    })
    expect(byName.moto_server).to.include({ok: true, version: '5.0.11'})
    expect(byName.k3d).to.include({found: false, ok: false, problem: 'not found'})
    expect(byName.k3d.install).to.match(/k3d/)
    expect(byName.docker).to.include({
      found: true,
      ok: false,
      problem: 'the Docker CLI is present but no Docker engine answers',
    })
    expect(result.drivers.find((d) => d.driver === 'local')).to.deep.equal({
      driver: 'local',
      usable: false,
      missing: ['patroni'],
    })
    expect(result.selectedUsable).to.equal(false)
  })

  it('k3d: needs >= 5.6.1 (v1alpha5 configs, DNS fix on by default) and refuses a disabled DNS fix', async () => {
    const {toolSpec} = await import('../../../src/lib/tools/catalog.js')
    const {inspectTool} = await import('../../../src/lib/tools/discovery.js')
    const spec = toolSpec('k3d')!
    await stub(stubs, 'k3d', 'echo "k3d version v5.6.0"; echo "k3s version v1.27.4-k3s1 (default)"')
    expect(await inspectTool(spec, [stubs])).to.include({
      ok: false,
      version: '5.6.0',
      problem: 'version 5.6.0 is older than 5.6.1',
    })
    await stub(stubs, 'k3d', 'echo "k3d version v5.7.4"; echo "k3s version v1.30.4-k3s1 (default)"')
    const saved = process.env.K3D_FIX_DNS
    try {
      delete process.env.K3D_FIX_DNS
      expect(await inspectTool(spec, [stubs])).to.include({ok: true, version: '5.7.4'})
      for (const on of ['1', 'true', 'True']) {
        process.env.K3D_FIX_DNS = on
        expect((await inspectTool(spec, [stubs])).ok, on).to.equal(true)
      }

      // k3d's ParseBool: "0", "false", and anything it cannot parse ("yes") turn the fix off
      for (const off of ['0', 'false', 'yes']) {
        process.env.K3D_FIX_DNS = off
        const status = await inspectTool(spec, [stubs])
        expect(status.ok, off).to.equal(false)
        expect(status.problem).to.include(`K3D_FIX_DNS=${off} disables k3d's DNS fix`)
      }
    } finally {
      if (saved === undefined) delete process.env.K3D_FIX_DNS
      else process.env.K3D_FIX_DNS = saved
    }
  })

  it('CLI: exits 3 when the selected driver is unusable, 0 when it is usable', async () => {
    // openssl: the local world's CA and certificates
    for (const name of ['etcd', 'patroni', 'postgres', 'initdb', 'pg_ctl', 'openssl']) {
      await stub(stubs, name, `echo "${name} 15.4"`)
    }

    await stub(stubs, 'moto_server', 'exit 0')
    await stub(stubs, 'python3', 'echo 5.2.1')
    const env = {PATH: stubs, ATLAS_TOOL_DIRS: ''}
    const local = await runAtlas(['doctor', '--driver', 'local', '--json'], {env})
    expect(local.exitCode).to.equal(0)
    const k3d = await runAtlas(['doctor', '--driver', 'k3d', '--json'], {env})
    expect(k3d.exitCode).to.equal(3)
    const body = parseJsonOutput<DoctorJson>(k3d)
    expect(body.selectedUsable).to.equal(false)
    expect(body.drivers.find((d) => d.driver === 'k3d')?.missing).to.include.members([
      'docker',
      'k3d',
      'terraform',
      'helm',
      'kubectl',
    ])
    const human = await runAtlas(['doctor', '--driver', 'k3d'], {env})
    expect(human.exitCode).to.equal(3)
    expect(human.stdout).to.match(/k3d driver: NOT usable/)
    expect(human.stdout).to.match(/✗ docker\s+not found/)
  })

  it('on this machine: local tools present, k3d unusable for lack of a Docker engine', async () => {
    // The real machine, as CI prepares it (.ci/run installs PostgreSQL, etcd, Patroni, moto).
    const result = await runAtlas(['doctor', '--json'])
    const body = parseJsonOutput<DoctorJson>(result)
    const byName = Object.fromEntries(body.tools.map((t) => [t.name, t]))
    for (const tool of [
      'etcd',
      'patroni',
      'postgres',
      'initdb',
      'pg_ctl',
      'moto_server',
      'terraform',
      'ansible-playbook',
      'helm',
      'kubectl',
    ]) {
      expect(byName[tool], tool).to.include({found: true, ok: true})
    }

    expect(byName.docker.ok).to.equal(false)
    expect(body.drivers.find((d) => d.driver === 'k3d')?.usable).to.equal(false)
    expect(body.drivers.find((d) => d.driver === 'local')?.usable).to.equal(true)
    expect(result.exitCode).to.equal(0) // auto: the local driver is usable
  })
})
