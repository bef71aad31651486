import {expect} from 'chai'
import {chmod, mkdtemp, rm, writeFile} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {DEFAULT_CONFIG, parseConfigObject} from '../../../src/lib/config/index.js'
import {resolveDriver} from '../../../src/lib/world/index.js'

describe('driver selection', () => {
  const config = parseConfigObject(DEFAULT_CONFIG)
  const saved = {PATH: process.env.PATH, ATLAS_TOOL_DIRS: process.env.ATLAS_TOOL_DIRS}
  let stubs: string

  const stub = async (name: string, script: string) => {
    const file = path.join(stubs, name)
    await writeFile(file, `#!/bin/sh\n${script}\n`)
    await chmod(file, 0o755)
  }

  beforeEach(async () => {
    stubs = await mkdtemp(path.join(os.tmpdir(), 'atlas-driver-'))
    process.env.PATH = stubs
    process.env.ATLAS_TOOL_DIRS = ''
  })

  afterEach(async () => {
    process.env.PATH = saved.PATH
    if (saved.ATLAS_TOOL_DIRS === undefined) delete process.env.ATLAS_TOOL_DIRS
    else process.env.ATLAS_TOOL_DIRS = saved.ATLAS_TOOL_DIRS
    await rm(stubs, {recursive: true, force: true})
  })

  it('an explicit driver wins, whatever is installed', async () => {
    expect(await resolveDriver(config, 'k3d')).to.equal('k3d')
    expect(await resolveDriver({...config, driver: 'local'})).to.equal('local')
  })

  it('auto: local when k3d is not installed', async () => {
    await stub('docker', 'echo "Docker version 27.1.1"')
    expect(await resolveDriver(config, 'auto')).to.equal('local')
  })

  it('auto: local when k3d is installed but no Docker engine answers', async () => {
    await stub('k3d', 'echo "k3d version v5.7.4"')
    await stub('docker', 'if [ "$1" = info ]; then exit 1; fi; echo "Docker version 27.1.1"')
    expect(await resolveDriver(config, 'auto')).to.equal('local')
  })

  it('auto: k3d when k3d is installed and the Docker engine answers', async () => {
    await stub('k3d', 'echo "k3d version v5.7.4"')
    await stub('docker', 'if [ "$1" = info ]; then echo 27.1.1; exit 0; fi; echo "Docker version 27.1.1"')
    expect(await resolveDriver(config, 'auto')).to.equal('k3d')
  })
})
