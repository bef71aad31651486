import type {TransferOutcome, TransferRequest} from './transfer.js'

/**
 * The workload's append-only run log: one tab-separated line per event, written
 * with a synchronous write(2) before the event is reported anywhere else. An
 * "attempt" line is on disk before the transfer is sent, so a stored transfer
 * that is not in the log is a phantom; an acknowledgement line is on disk before
 * the workload counts it, so a crash of the workload loses none (the page cache
 * survives a process crash; fsync at close covers the file's metadata).
 *
 *   attempt  <id> <from> <to> <amount> <epoch ms>
 *   applied | already_applied | rejected | failed | unknown  <id> <epoch ms> [reason]
 *   sent     <id> <epoch ms>           (--via queue: accepted by SQS, not yet committed)
 *   # comment lines (start/end markers with JSON; the writer's trailer, `# digest {json}`, last)
 *
 * The writer is RunLogWriter (runlog-writer.ts).
 */
export const RUN_LOG_FILE = 'transfers.log'

export type RunLogEvent = 'attempt' | 'sent' | TransferOutcome

export function attemptLine(request: TransferRequest, at = Date.now()): string {
  return `attempt\t${request.id}\t${request.from}\t${request.to}\t${request.amount}\t${at}\n`
}

export function outcomeLine(
  id: string,
  event: Exclude<RunLogEvent, 'attempt'>,
  reason?: string,
  at = Date.now(),
): string {
  const safeReason = reason ? `\t${reason.replaceAll(/[\t\n\r]+/g, ' ').slice(0, 200)}` : ''
  return `${event}\t${id}\t${at}${safeReason}\n`
}

/** What the run log says about one id, strongest evidence first. */
export enum IdStatus {
  Attempted = 1,
  /** definitely not committed (rejected, or failed after retries) */
  NotCommitted = 2,
  /** accepted by the queue; the service commits it later */
  Sent = 3,
  Unknown = 4,
  Acknowledged = 5,
}

/**
 * The status of a run-log line from its event word, read by its first bytes (the
 * verifier scans millions of lines without making strings); undefined for comments
 * and unknown words.
 */
export function statusOfLine(b: Buffer, i: number): IdStatus | undefined {
  switch (b[i]) {
    case 0x61: {
      // a: attempt / applied / already_applied
      if (b[i + 1] === 0x74 && b[i + 7] === 9) return IdStatus.Attempted
      if (b[i + 1] === 0x70 && b[i + 7] === 9) return IdStatus.Acknowledged
      if (b[i + 1] === 0x6c && b[i + 15] === 9) return IdStatus.Acknowledged
      return undefined
    }

    case 0x66: {
      // failed
      return b[i + 6] === 9 ? IdStatus.NotCommitted : undefined
    }

    case 0x72: {
      // rejected
      return b[i + 8] === 9 ? IdStatus.NotCommitted : undefined
    }

    case 0x73: {
      // sent
      return b[i + 4] === 9 ? IdStatus.Sent : undefined
    }

    case 0x75: {
      // unknown
      return b[i + 7] === 9 ? IdStatus.Unknown : undefined
    }

    default: {
      // the verifier's own partition files: "<status digit>\t<id>"
      return b[i] >= 0x31 && b[i] <= 0x35 && b[i + 1] === 9 ? ((b[i] - 0x30) as IdStatus) : undefined
    }
  }
}

/** The status an event word stands for (statusOfLine on a one-word line). */
export function statusOf(event: string): IdStatus | undefined {
  return statusOfLine(Buffer.from(`${event}\t`), 0)
}

/**
 * Combines two statuses of the same id. An acknowledgement wins over everything
 * (a later retry resolved an unknown); "not committed" never overrides "unknown".
 */
export function combineStatus(a: IdStatus | undefined, b: IdStatus): IdStatus {
  if (a === undefined) return b
  if (a === IdStatus.NotCommitted && b === IdStatus.Unknown) return IdStatus.Unknown
  if (b === IdStatus.NotCommitted && a === IdStatus.Unknown) return IdStatus.Unknown
  return Math.max(a, b)
}
