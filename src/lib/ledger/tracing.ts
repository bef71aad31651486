import {
  context,
  isSpanContextValid,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Tracer,
} from '@opentelemetry/api'

import {formatTraceparent, newTraceparent, type TraceParent} from '../model/trace-context.js'

/**
 * One trace per transfer, through the OpenTelemetry API only. The workload starts the trace
 * (a PRODUCER span), its traceparent travels in the SQS message attributes, the ledger service
 * continues it (a CONSUMER span around commit and audit) and writes the trace id into the audit
 * record.
 *
 * No SDK is needed to run: without one the API is a no-op whose root spans have no valid span
 * context, so the workload makes the W3C traceparent itself (random ids, one string per
 * transfer) and the service keeps the trace id it received. Exporting happens only when an
 * OTLP endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or atlas.yaml `tracing.otlpEndpoint`)
 * AND the SDK package (`@opentelemetry/sdk-node`, not a dependency of atlas) is installed:
 * then startTracing registers it, spans are recorded and exported over OTLP.
 */
const SDK_PACKAGE = '@opentelemetry/sdk-node'

const tracer: Tracer = trace.getTracer('atlas-ledger')
/** true once an SDK is registered: only then does a transfer get a recording span */
let recording = false
const openSpans = new Map<string, Span>()

export interface TracingStatus {
  endpoint?: string
  exporting: boolean
  /** why not, when an endpoint was configured */
  reason?: string
  /** flushes and stops the SDK (nothing without one) */
  stop: () => Promise<void>
}

/** Registers the OpenTelemetry SDK when an OTLP endpoint is configured and the SDK package is installed; otherwise nothing (the default). */
export async function startTracing(options: {endpoint?: string; serviceName: string}): Promise<TracingStatus> {
  const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT || options.endpoint
  const none = async () => {}
  if (!endpoint) return {exporting: false, stop: none}
  let sdkModule: {NodeSDK: new () => {shutdown(): Promise<void>; start(): void}}
  try {
    // a variable specifier: the SDK is an optional, user-installed package
    const specifier = SDK_PACKAGE
    sdkModule = (await import(specifier)) as typeof sdkModule
  } catch {
    return {
      exporting: false,
      endpoint,
      reason: `${SDK_PACKAGE} is not installed (npm install ${SDK_PACKAGE}); trace ids are still propagated and audited`,
      stop: none,
    }
  }

  // the SDK reads its exporter, endpoint and service name from the standard environment variables
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT ??= endpoint
  process.env.OTEL_SERVICE_NAME ??= options.serviceName
  const sdk = new sdkModule.NodeSDK()
  sdk.start()
  recording = true
  return {
    exporting: true,
    endpoint,
    async stop() {
      recording = false
      for (const span of openSpans.values()) span.end()
      openSpans.clear()
      await sdk.shutdown()
    },
  }
}

const traceparentOf = (span: Span): string => {
  const spanContext = span.spanContext()
  return formatTraceparent(
    spanContext.traceId,
    spanContext.spanId,
    (spanContext.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED,
  )
}

/**
 * Workload: the traceparent of a new transfer. Without an SDK, a fresh W3C traceparent and
 * nothing else (the hot path of a benchmarked workload); with one, a PRODUCER span that
 * endTransfer ends.
 */
export function startTransfer(id: string): string {
  if (!recording) return newTraceparent()
  const span = tracer.startSpan('transfer send', {kind: SpanKind.PRODUCER, attributes: {'atlas.transfer.id': id}})
  if (!isSpanContextValid(span.spanContext())) return newTraceparent()
  const traceparent = traceparentOf(span)
  openSpans.set(traceparent, span)
  return traceparent
}

/**
 * Ledger service: continues the trace a message carries (a CONSUMER span, child of the
 * sender's span) and returns the traceparent to log and audit. Through the no-op API the
 * received span context comes back unchanged; a message without trace context starts a new
 * trace.
 */
export function continueTransfer(id: string, parent: TraceParent | undefined): string {
  const parentContext = parent
    ? trace.setSpanContext(context.active(), {
        traceId: parent.traceId,
        spanId: parent.spanId,
        traceFlags: parent.flags,
        isRemote: true,
      })
    : context.active()
  const span = tracer.startSpan(
    'transfer process',
    {kind: SpanKind.CONSUMER, attributes: {'atlas.transfer.id': id}},
    parentContext,
  )
  if (!isSpanContextValid(span.spanContext())) return newTraceparent()
  const traceparent = traceparentOf(span)
  if (span.isRecording()) openSpans.set(traceparent, span)
  return traceparent
}

/** Ends the transfer's span, if it has one (an SDK is registered): its outcome as an attribute, an error status unless acknowledged. */
export function endTransfer(traceparent: string, outcome: string, ok: boolean): void {
  if (openSpans.size === 0) return
  const span = openSpans.get(traceparent)
  if (!span) return
  openSpans.delete(traceparent)
  span.setAttribute('atlas.transfer.outcome', outcome)
  if (!ok) span.setStatus({code: SpanStatusCode.ERROR, message: outcome})
  span.end()
}
