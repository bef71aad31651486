import {closeSync, fstatSync, fsyncSync, mkdirSync, openSync, writeSync} from 'node:fs'
import path from 'node:path'

import type {TransferRequest} from './transfer.js'

import {attemptLine, outcomeLine, RUN_LOG_FILE, type RunLogEvent} from './runlog.js'
import {LogTally, TRAILER_KIND, trailerOf} from './verify/digest.js'
import {READ_BUFFER} from './verify/runlog-scan.js'

/**
 * Writes a run log (the format is runlog.ts's): each event with a synchronous write(2)
 * before it is reported anywhere else. The file is opened for appending: a run directory
 * given to a second workload gets its lines after the first one's.
 *
 * As it writes, it keeps the tally `atlas verify` would compute reading these lines
 * (digest.ts LogTally: counts and hash sums of the attempts and acknowledgements, or the
 * first line that is not plain), made by the same code over the same bytes, right after
 * they went to write(2). On close it writes that tally as the last line, the trailer
 * `# digest {json}`, with the byte range of the file its lines occupy, so verify reads the
 * trailer instead of the lines (digestRunLogs). A writer that does not close (killed, a
 * crash) leaves no trailer, and verify reads its lines; so it does when anything changed
 * the file's length around them. No trailer is written when the range is in doubt: the
 * file did not grow by exactly what this writer wrote (another process appended to it), a
 * write was short, or a write did not end with a newline or is longer than verify reads
 * as one line.
 */
export class RunLogWriter {
  readonly file: string
  /** the bytes of one write, encoded here so the tally reads exactly what goes to the file */
  private buffer = Buffer.allocUnsafe(1 << 16)
  private fd: number | undefined
  /** where this writer's lines start: the file's size when opened */
  private readonly from: number
  /** what verify would tally reading the lines written; undefined once that is in doubt (then no trailer) */
  private tally: LogTally | undefined = new LogTally()
  private written = 0

  constructor(runDir: string) {
    mkdirSync(runDir, {recursive: true})
    this.file = path.join(runDir, RUN_LOG_FILE)
    this.fd = openSync(this.file, 'a')
    this.from = fstatSync(this.fd).size
  }

  attempt(request: TransferRequest): void {
    this.write(attemptLine(request))
  }

  /** writes the trailer (when its range is certain), then fsync and close */
  close(): void {
    if (this.fd === undefined) return
    const to = this.from + this.written
    // the file grew by exactly what this writer wrote: [from, to) are its lines
    if (this.tally && fstatSync(this.fd).size === to) {
      const line = `# ${TRAILER_KIND} ${JSON.stringify(trailerOf(this.tally, this.from, to))}\n`
      writeSync(this.fd, line)
    }

    fsyncSync(this.fd)
    closeSync(this.fd)
    this.fd = undefined
  }

  comment(kind: string, data: Record<string, unknown>): void {
    if (kind === TRAILER_KIND) throw new Error(`a "${TRAILER_KIND}" comment is the writer's own trailer`)
    this.write(`# ${kind} ${JSON.stringify(data)}\n`)
  }

  /** several lines in one write(2) (the workload writes an outcome and the next attempt together) */
  lines(text: string): void {
    if (text) this.write(text)
  }

  outcome(id: string, event: Exclude<RunLogEvent, 'attempt'>, reason?: string): void {
    this.write(outcomeLine(id, event, reason))
  }

  private write(text: string): void {
    if (this.fd === undefined) throw new Error(`run log ${this.file} is closed`)
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (text.length * 3 > this.buffer.length) this.buffer = Buffer.allocUnsafe(text.length * 3)
    const n = this.buffer.write(text)
    const written = writeSync(this.fd, this.buffer, 0, n)
    this.written += written
    if (!this.tally) return
    if (written !== n || this.buffer[n - 1] !== 10 || n >= READ_BUFFER) this.tally = undefined
    else this.tally.addLines(this.buffer, n)
  }
}
