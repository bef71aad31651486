import {mkdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'

/**
 * Which steps of `atlas up` completed, with a fingerprint of their inputs, so
 * that running up again skips them (and re-runs them when atlas.yaml changed).
 */
interface StateFile {
  completed: Record<string, {fingerprint: string}>
  version: 1
}

export class StepState {
  private data: StateFile = {version: 1, completed: {}}

  private constructor(readonly file: string) {}

  static async load(file: string): Promise<StepState> {
    const state = new StepState(file)
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as StateFile
      if (parsed?.version === 1 && parsed.completed && typeof parsed.completed === 'object') state.data = parsed
    } catch {
      // missing or unreadable: nothing is known to be done, every step runs
    }

    return state
  }

  get empty(): boolean {
    return Object.keys(this.data.completed).length === 0
  }

  async clear(): Promise<void> {
    this.data = {version: 1, completed: {}}
    await rm(this.file, {force: true})
  }

  async forget(id: string): Promise<void> {
    if (!(id in this.data.completed)) return
    delete this.data.completed[id]
    await this.save()
  }

  isDone(id: string, fingerprint?: string): boolean {
    const entry = this.data.completed[id]
    return entry !== undefined && (fingerprint === undefined || entry.fingerprint === fingerprint)
  }

  async markDone(id: string, fingerprint: string): Promise<void> {
    this.data.completed[id] = {fingerprint}
    await this.save()
  }

  /** whether the step ever completed, whatever its inputs were (down uses this) */
  wasDone(id: string): boolean {
    return this.data.completed[id] !== undefined
  }

  private async save(): Promise<void> {
    await mkdir(path.dirname(this.file), {recursive: true})
    const tmp = `${this.file}.tmp-${process.pid}`
    await writeFile(tmp, `${JSON.stringify(this.data, null, 2)}\n`)
    await rename(tmp, this.file)
  }
}
