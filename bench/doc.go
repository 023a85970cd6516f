// Package bench measures Chorus: it drives a workload of CQL writes through
// a Chorus cluster over NATS (or, for the baseline, directly into Cassandra
// with gocql) and reports throughput, latency percentiles and errors.
//
// The workload mixes list-append updates on a fixed set of keys
//
//	UPDATE bench_list SET events = events + [S] WHERE id = K
//
// with plain INSERTs into a wide table; every value is a literal generated
// client-side from the operation's index, so a statement is deterministic
// (no now(), no uuid()) and the same index always yields the same statement.
//
// Two ways to offer load:
//   - closed loop (Options.Rate == 0): Concurrency goroutines, each sending
//     its next statement as soon as the previous one was answered. This finds
//     the peak throughput; latency is measured from the send.
//   - open loop (Options.Rate > 0): statements are sent at fixed scheduled
//     times whether or not earlier ones were answered, with at most
//     MaxInFlight outstanding (beyond that they are dropped and counted).
//     Latency is measured from the scheduled time, so a stalled system shows
//     up in the latency instead of silently slowing the generator down
//     (no coordinated omission).
//
// Latencies go into a log-bucketed histogram (HDR-like: under 0.8% relative
// error, bounded memory). Results marshal to JSON; WriteLatencySVG and
// WriteBarSVG draw them without dependencies; WriteMarkdown writes the
// BENCHMARKS.md of `make bench`.
//
// Performance is measured by running a benchmark (`chorus bench`,
// `make bench`), never asserted in a timed test.
package bench
