import {link, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {PreconditionError} from '../errors.js'
import {CONFIG_TEMPLATE} from './defaults.js'

/**
 * Writes the commented template. Without force, the file is created exclusively
 * (no race between check and write); with force it is written to a temp file and
 * renamed, so an interrupted write never leaves a half-written config.
 */
export async function writeConfigTemplate(
  file: string,
  options: {force: boolean},
): Promise<{overwritten: boolean; path: string}> {
  const target = path.resolve(file)
  const exists = await stat(target).then(
    () => true,
    () => false,
  )
  if (exists && !options.force) {
    throw new PreconditionError(`${target} already exists`, {
      code: 'CONFIG_EXISTS',
      hint: 'use --force to overwrite it',
    })
  }

  const temp = `${target}.${process.pid}.tmp`
  await writeFile(temp, CONFIG_TEMPLATE, {flag: 'wx'})
  try {
    if (options.force) {
      const {rename} = await import('node:fs/promises')
      await rename(temp, target)
    } else {
      await link(temp, target) // fails with EEXIST if someone created it meanwhile
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new PreconditionError(`${target} already exists`, {
        code: 'CONFIG_EXISTS',
        hint: 'use --force to overwrite it',
      })
    }

    throw error
  } finally {
    await rm(temp, {force: true})
  }

  return {path: target, overwritten: exists}
}
