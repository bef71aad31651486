import type {Message} from '@aws-sdk/client-sqs'

import {expect} from 'chai'

import {decodeTraceAttributes, encodeTraceAttributes} from '../../../src/lib/cloud/queue.js'
import {continueTransfer, endTransfer, startTracing, startTransfer} from '../../../src/lib/ledger/tracing.js'
import {
  formatTraceparent,
  newTraceparent,
  parseTraceparent,
  traceIdOf,
  TRACEPARENT,
} from '../../../src/lib/model/trace-context.js'

const W3C = /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/

describe('trace context (W3C traceparent)', () => {
  it('a new traceparent is version 00, a 32-hex trace id, a 16-hex span id and the sampled flag; each is new', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 1000; i++) {
      const value = newTraceparent()
      expect(value).to.match(W3C)
      expect(value.endsWith('-01')).to.equal(true)
      const parsed = parseTraceparent(value)!
      expect(parsed).to.deep.equal({version: '00', traceId: value.slice(3, 35), spanId: value.slice(36, 52), flags: 1})
      expect(traceIdOf(value)).to.equal(parsed.traceId)
      seen.add(parsed.traceId)
    }

    expect(seen.size).to.equal(1000)
  })

  it("parses the specification's example and formats it back", () => {
    const example = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    expect(parseTraceparent(example)).to.deep.equal({
      version: '00',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      flags: 1,
    })
    expect(formatTraceparent('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7')).to.equal(example)
    expect(formatTraceparent('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', false)).to.equal(
      example.replace(/-01$/, '-00'),
    )
    expect(parseTraceparent(example.replace(/-01$/, '-00'))?.flags).to.equal(0)
  })

  it('rejects what is not W3C trace context', () => {
    const bad = [
      undefined,
      '',
      'garbage',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01', // all-zero trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', // all-zero span id
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', // version ff is invalid
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', // upper case
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', // 31-hex trace id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01', // 15-hex span id
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1', // one-digit flags
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra', // version 00 has four fields
      '0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    ]
    for (const value of bad) expect(parseTraceparent(value), String(value)).to.equal(undefined)
  })

  it('accepts a future version with more fields (the first four are read)', () => {
    expect(
      parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next')?.traceId,
    ).to.equal('4bf92f3577b34da6a3ce929d0e0e4736')
  })
})

describe('trace context in SQS message attributes', () => {
  it('round trip: the attribute a message is sent with is the trace context it is received with', () => {
    const traceparent = newTraceparent()
    const attributes = encodeTraceAttributes(traceparent)
    expect(attributes).to.deep.equal({[TRACEPARENT]: {DataType: 'String', StringValue: traceparent}})
    // what SQS hands back on receive (MessageAttributeNames: ['traceparent']) has the same shape plus digests
    const received: Message = {
      Body: '{}',
      MessageAttributes: structuredClone(attributes),
      MD5OfMessageAttributes: 'x',
    }
    expect(decodeTraceAttributes(received)).to.deep.equal(parseTraceparent(traceparent))
    expect(decodeTraceAttributes(received)?.traceId).to.equal(traceIdOf(traceparent))
  })

  it('a message without (or with invalid) trace context decodes to none', () => {
    expect(decodeTraceAttributes({})).to.equal(undefined)
    expect(decodeTraceAttributes({MessageAttributes: {other: {DataType: 'String', StringValue: 'x'}}})).to.equal(
      undefined,
    )
    expect(
      decodeTraceAttributes({
        MessageAttributes: {[TRACEPARENT]: {DataType: 'String', StringValue: 'not-a-traceparent'}},
      }),
    ).to.equal(undefined)
  })
})

describe('transfer tracing through the OpenTelemetry API without an SDK', () => {
  it('the workload gets a valid new trace per transfer; the service continues the trace it received, or starts one', () => {
    const sent = startTransfer('a')
    expect(sent).to.match(W3C)
    expect(traceIdOf(startTransfer('b'))).to.not.equal(traceIdOf(sent))
    const continued = continueTransfer('a', parseTraceparent(sent))
    expect(traceIdOf(continued)).to.equal(traceIdOf(sent))
    const fresh = continueTransfer('c', undefined)
    expect(fresh).to.match(W3C)
    expect(traceIdOf(fresh)).to.not.equal(traceIdOf(sent))
    // nothing to end without an SDK; must not throw
    endTransfer(sent, 'sent', true)
    endTransfer(continued, 'applied', true)
  })
})

describe('exporting is opt-in', () => {
  it('no endpoint: nothing is started; an endpoint without the SDK installed: not exporting, and says why', async () => {
    const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT
    try {
      const off = await startTracing({serviceName: 'test'})
      expect(off.exporting).to.equal(false)
      expect(off.reason).to.equal(undefined)
      const missing = await startTracing({endpoint: 'http://127.0.0.1:4318', serviceName: 'test'})
      expect(missing).to.include({exporting: false, endpoint: 'http://127.0.0.1:4318'})
      expect(missing.reason).to.contain('@opentelemetry/sdk-node is not installed')
      await missing.stop()
      // still the no-SDK path: a fresh W3C traceparent per transfer
      expect(startTransfer('a')).to.match(W3C)
    } finally {
      if (saved !== undefined) process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved
    }
  })
})
