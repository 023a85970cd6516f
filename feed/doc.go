// Package feed is Chorus's change feed: every committed write, published
// in the global order as JSON for other services on the broker.
//
// # Design
//
// The leader publishes (DESIGN.md). A Publisher runs on every worker and
// works only while its worker leads and is ready; the leader's sequencer
// tells it, through a hook that never blocks, how far the log is
// committed. It reads the ORDER log itself (an ordered consumer, bounded
// and flow-controlled, off the sequencer's goroutine), waits until each
// entry is committed and applied by the leader's own replica, and
// publishes the entry's successful writes. The outcome of each write comes
// from that replica's exactly-once record (Outcomes): a statement's
// outcome is the same on every replica (DESIGN invariant 3), so the
// leader's record is the cluster's. Because the Publisher reads the log
// rather than being handed writes, it can fall behind (a slow or
// unavailable changes stream) and catch up without losing anything, and a
// new leader after a failover simply starts where the feed stands.
//
// Where the feed stands is the last message of the changes stream, the
// JetStream stream CHORUS_<prefix>_CHANGES on <prefix>.changelog.>. Each
// message carries its key <seq>.<index> as Nats-Msg-Id and in the headers
// Chorus-Seq and Chorus-Index, and is appended with an expected last
// stream sequence: two publishers (a deposed leader still running, and
// the new one) cannot interleave, the loser's append fails and it reads
// the position again. Only the last change of each window (at most 256)
// asks for JetStream's acknowledgement: the expected sequences chain the
// window, so that one is stored only if all before it are. The stream republishes every stored message on
// <prefix>.changes.<table> (RePublish), so a plain `nats sub 'db.changes.>'`
// sees exactly what the stream holds, in its order, never a rejected
// append. The log is not trimmed past the first entry the feed still
// needs (Publisher.Needs, consulted by the leader's trimming).
//
// Why a stream of its own rather than a consumer on the ORDER log: the
// log holds writes that failed, entries of deposed leaders and writes not
// yet committed; a subscriber would have to know the outcomes, which only
// the replicas do.
//
// Durability: the stream is not fsynced per message (AsyncPersistMode):
// one message per write, where the log has one fsync per ORDER, halved
// write throughput. The feed is derived from the log, so what a power
// loss takes from the stream's tail is published again, same keys.
//
// Retention: the stream is bounded by bytes (CHORUS_FEED_MAX_BYTES),
// oldest dropped first, and never by age: its newest message is the
// feed's position, which an age limit could expire in a quiet cluster.
//
// Resuming: Start finds, by binary search over the stream (direct gets of
// the Chorus-Seq header), the first message of a given seq or later, and
// an ordered consumer starts there.
package feed
