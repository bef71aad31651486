/**
 * Transfers in flight on each connection when the caller does not say (direct to the database;
 * one via the queue). Import-free, so that the flags (ledger/flags.ts) can state it without
 * loading the workload.
 *
 * Four, sent in batches: the wire connection writes the statements given while earlier ones are
 * unanswered together once those are answered (wire/connection.ts), so the four travel in one write
 * and the answers mostly come back in one read. Node's CPU per round trip on a TLS socket is a
 * large part of the client's cost, and on two cores shared with the server the client's CPU bounds
 * the workload: batches of four against the old default (two, each written at once) gave 0.94
 * against 0.81 and 0.96 against 0.86 of pgbench at 8 clients on 2026-12-02; the official bench
 * gave 1.06 / 0.98 / 0.98 at 1 / 4 / 8 clients (0.82 at 8 in a slower sitting;
 * bench/workload/RESULTS.md). Each transfer is still its own transaction, and its run-log attempt
 * line is written before it is sent.
 */
export const DEFAULT_PIPELINE = 4
