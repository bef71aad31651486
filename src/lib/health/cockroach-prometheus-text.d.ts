// parse-prometheus-text-format ships no types; this is the shape it returns.
declare module 'parse-prometheus-text-format' {
  export interface ParsedSample {
    buckets?: Record<string, string>
    count?: string
    labels?: Record<string, string>
    quantiles?: Record<string, string>
    sum?: string
    value?: string
  }
  export interface ParsedFamily {
    help: string
    metrics: ParsedSample[]
    name: string
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED'
  }
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[]
}
