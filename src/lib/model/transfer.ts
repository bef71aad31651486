/**
 * The transfer as it crosses every boundary: the workload's request, the SQS message body and
 * the audit record's core. A leaf: the ledger, the queue and the audit log all import it, and
 * it imports nothing.
 */
export interface TransferRequest {
  /** integer minor units, > 0 */
  amount: number
  from: number
  /** client-chosen idempotency key (UUID) */
  id: string
  /** the region the request entered the system in */
  originRegion: string
  to: number
}
