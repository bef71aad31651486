import {expect} from 'chai'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

import {REPO_ROOT, runAtlas} from '../../helpers/cli.js'

/**
 * deploy/ is the reference rendering of the default configuration (what
 * Argo CD would be served for it by the k3d world's git source). It must be
 * exactly what `atlas render --out deploy` writes, or it misleads.
 */
async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, {withFileTypes: true})) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) out.push(...(await tree(path.join(dir, entry.name), rel)))
    else out.push(rel)
  }

  return out.sort()
}

describe('deploy/ (the committed GitOps source)', () => {
  it('is byte-identical to a fresh `atlas render` of the default configuration', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'atlas-deploy-'))
    const empty = await mkdtemp(path.join(os.tmpdir(), 'atlas-deploy-cwd-'))
    try {
      const env = {ATLAS_CONFIG: undefined}
      const result = await runAtlas(['render', '--out', out], {cwd: empty, env})
      expect(result.exitCode, result.stderr).to.equal(0)
      const committed = path.join(REPO_ROOT, 'deploy')
      const files = await tree(out)
      expect(await tree(committed)).to.deep.equal(files)
      for (const file of files) {
        expect(
          await readFile(path.join(committed, file), 'utf8'),
          `deploy/${file} is stale: run \`atlas render --out deploy\``,
        ).to.equal(await readFile(path.join(out, file), 'utf8'))
      }
    } finally {
      await rm(out, {recursive: true, force: true})
      await rm(empty, {recursive: true, force: true})
    }
  })
})
