/**
 * Transfers in flight on each connection when the caller does not say (direct to the database;
 * one via the queue). Import-free, so that the flags (ledger/flags.ts) can state it without
 * loading the workload.
 *
 * Four, sent in batches: the wire connection writes the statements given while earlier ones are
 * unanswered together once those are answered (wire/connection.ts), so the four travel in one write
 * and the answers mostly come back in one read. Node's CPU per round trip on a TLS socket, not
 * the server, bounds the workload on two cores shared with the server: batches of four lifted it
 * from 0.81 to 0.94 of pgbench at 8 clients on 2026-12-02, and at 1 and 4 clients it stays at
 * 1.2 and 0.9 or above (bench/workload/RESULTS.md). Each transfer is still its own transaction,
 * and its run-log attempt line is written before it is sent.
 */
export const DEFAULT_PIPELINE = 4
