import parsePrometheusTextFormat, {type ParsedFamily} from 'parse-prometheus-text-format'

/**
 * What one CockroachDB node reports at /_status/vars (Prometheus text format;
 * store-level metrics carry a store label and are summed over the node's stores).
 */
export interface CockroachNodeVars {
  /** live nodes this node sees (0 when the node itself is not live) */
  liveNodes: null | number
  /** the metric families present (for alert-rule validation and debugging) */
  metricNames: string[]
  /** node_id label of the node's own metrics */
  nodeId: null | number
  ranges: null | number
  rangesUnavailable: null | number
  rangesUnderreplicated: null | number
  replicas: null | number
  /** ranges whose Raft leader is on this node */
  replicasLeaders: null | number
  /** ranges whose lease this node holds */
  replicasLeaseholders: null | number
  requestsSlowLease: null | number
  /** requests stuck in replication: nonzero means some range cannot reach quorum */
  requestsSlowRaft: null | number
  uptimeSeconds: null | number
}

/** CockroachDB metric names the probe maps into the health model. */
export const COCKROACH_HEALTH_METRICS = {
  liveNodes: 'liveness_livenodes',
  ranges: 'ranges',
  rangesUnavailable: 'ranges_unavailable',
  rangesUnderreplicated: 'ranges_underreplicated',
  replicas: 'replicas',
  replicasLeaders: 'replicas_leaders',
  replicasLeaseholders: 'replicas_leaseholders',
  requestsSlowRaft: 'requests_slow_raft',
  requestsSlowLease: 'requests_slow_lease',
  uptimeSeconds: 'sys_uptime',
} as const

export class MetricsParseError extends Error {}

export function parseMetricFamilies(text: string): ParsedFamily[] {
  try {
    return parsePrometheusTextFormat(text)
  } catch (error) {
    throw new MetricsParseError(`not Prometheus text format: ${(error as Error).message}`)
  }
}

/** Sum of a family's samples (over stores), or null when the family is absent. */
function sumOf(families: Map<string, ParsedFamily>, name: string): null | number {
  const family = families.get(name)
  if (!family || family.metrics.length === 0) return null
  let total = 0
  for (const sample of family.metrics) {
    const value = Number(sample.value)
    if (!Number.isFinite(value)) return null
    total += value
  }

  return total
}

export function parseCockroachVars(text: string): CockroachNodeVars {
  const families = new Map(parseMetricFamilies(text).map((f) => [f.name, f]))
  if (families.size === 0) throw new MetricsParseError('no metrics in the response')
  const nodeIdLabel = [...families.values()].flatMap((f) => f.metrics).find((m) => m.labels?.node_id !== undefined)
    ?.labels?.node_id
  const m = COCKROACH_HEALTH_METRICS
  return {
    nodeId: nodeIdLabel === undefined ? null : Number(nodeIdLabel),
    liveNodes: sumOf(families, m.liveNodes),
    ranges: sumOf(families, m.ranges),
    rangesUnavailable: sumOf(families, m.rangesUnavailable),
    rangesUnderreplicated: sumOf(families, m.rangesUnderreplicated),
    replicas: sumOf(families, m.replicas),
    replicasLeaders: sumOf(families, m.replicasLeaders),
    replicasLeaseholders: sumOf(families, m.replicasLeaseholders),
    requestsSlowRaft: sumOf(families, m.requestsSlowRaft),
    requestsSlowLease: sumOf(families, m.requestsSlowLease),
    uptimeSeconds: sumOf(families, m.uptimeSeconds),
    metricNames: [...families.keys()].sort(),
  }
}
