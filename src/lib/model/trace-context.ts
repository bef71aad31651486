import {randomFillSync} from 'node:crypto'

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` that carries one
 * transfer's trace id from the workload through the queue to the ledger service and into the
 * audit record. A leaf: the queue adapter, the audit log and the ledger all use it.
 *
 *   traceparent = version "-" trace-id "-" parent-id "-" trace-flags
 *                 00        32 lower hex   16 lower hex  2 lower hex (01: sampled)
 */
export const TRACEPARENT = 'traceparent'

export interface TraceParent {
  /** 8-bit flags; bit 0 = sampled */
  flags: number
  /** the parent span's id: 16 lowercase hex digits, not all zero */
  spanId: string
  /** 32 lowercase hex digits, not all zero */
  traceId: string
  version: string
}

const ZERO_TRACE_ID = '0'.repeat(32)
const ZERO_SPAN_ID = '0'.repeat(16)
/** version 00 is exactly this; a later version may append "-" and more fields */
const TRACEPARENT_PATTERN = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/** Parses a traceparent header value; undefined when it is not valid W3C trace context (then a new trace starts). */
export function parseTraceparent(value: string | undefined): TraceParent | undefined {
  if (!value) return undefined
  const match = TRACEPARENT_PATTERN.exec(value.trim())
  if (!match) return undefined
  const [, version, traceId, spanId, flags, rest] = match
  if (version === 'ff') return undefined
  // version 00 has exactly four fields; only a future version may carry more
  if (version === '00' && rest !== undefined) return undefined
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return undefined
  return {version, traceId, spanId, flags: Number.parseInt(flags, 16)}
}

export const formatTraceparent = (traceId: string, spanId: string, sampled = true): string =>
  `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`

/** random bytes for 256 traces at a time, refilled when used up (as randomUUID batches its entropy): a new trace costs its strings and nothing else */
const ID_BYTES = 24
const random = Buffer.alloc(ID_BYTES * 256)
let next = random.length

/**
 * A new root traceparent (random trace id and span id, sampled): the one string a transfer
 * carries. Used where no OpenTelemetry SDK is registered and the API's no-op tracer has no
 * valid span context to give.
 */
export function newTraceparent(): string {
  for (;;) {
    if (next === random.length) {
      randomFillSync(random)
      next = 0
    }

    const at = next
    next += ID_BYTES
    const traceId = random.toString('hex', at, at + 16)
    const spanId = random.toString('hex', at + 16, at + ID_BYTES)
    if (traceId !== ZERO_TRACE_ID && spanId !== ZERO_SPAN_ID) return formatTraceparent(traceId, spanId)
  }
}

/** the trace id of a traceparent this module formatted or parsed (no validation) */
export const traceIdOf = (traceparent: string): string => traceparent.slice(3, 35)
