import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** The package root (where package.json, templates/, charts/, terraform/ and ansible/ live). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export const packagePath = (...parts: string[]): string => path.join(PACKAGE_ROOT, ...parts)
