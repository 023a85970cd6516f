package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chorusdb/chorus/client"
	"github.com/chorusdb/chorus/messages"
)

// These examples need a running Chorus cluster (NATS and chorus-worker
// processes), so they are compiled but not run by go test.

// Connect, create a table, write and read it back.
func Example() {
	c, err := client.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	if _, err := c.Exec(ctx, "CREATE TABLE IF NOT EXISTS grade (id int PRIMARY KEY, events list<int>)"); err != nil {
		log.Fatal(err)
	}
	res, err := c.Exec(ctx, "UPDATE grade SET events = events + [1] WHERE id = 7")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("applied at seq %d by every live replica\n", res.Seq)

	rows, err := c.Query(ctx, "SELECT id, events FROM grade WHERE id = 7")
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rows.Rows {
		fmt.Println(r["id"], r["events"])
	}
}

// A write, its outcome, and how to tell a final error from an unknown
// outcome.
func ExampleClient_Exec() {
	c, err := client.Connect("nats://127.0.0.1:4222", client.WithPrefix("db"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	res, err := c.Exec(context.Background(), "INSERT INTO grade (id, events) VALUES (8, [3, 4])",
		client.WithTimeout(10*time.Second))
	var ce *client.Error
	switch {
	case err == nil:
		fmt.Printf("SUCCESS seq=%d server=%s\n", res.Seq, res.Server)
	case errors.As(err, &ce):
		// A final outcome: the statement failed the same way on every replica.
		fmt.Printf("rejected (%s): %s\n", ce.Code, ce.Message)
	case errors.Is(err, client.ErrTimeout):
		// Unknown outcome: retry later with the same request id.
		fmt.Printf("unknown outcome, retry with request id %s\n", res.RequestID)
	default:
		log.Fatal(err)
	}
}

// Retry a write whose outcome is unknown with its request id: Chorus
// applies it at most once, and the retry gets the original outcome.
func ExampleWithRequestID() {
	c, err := client.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	const stmt = "UPDATE grade SET events = events + [5] WHERE id = 7"
	id := "order-2024-000123" // a key of your own, stored with the job
	res, err := c.Exec(ctx, stmt, client.WithRequestID(id))
	for try := 1; try < 5 && errors.Is(err, client.ErrTimeout); try++ {
		// Sending it again cannot append 5 twice.
		res, err = c.Exec(ctx, stmt, client.WithRequestID(id))
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("applied once, at seq", res.Seq)
}

// A read from one named replica; numbers are json.Number, exact at any size.
func ExampleClient_Query() {
	c, err := client.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	rows, err := c.Query(context.Background(), "SELECT id, events FROM grade", client.WithServer("server2"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rows.Columns)
	for _, r := range rows.Rows {
		for _, col := range rows.Columns {
			fmt.Print(r[col], " ")
		}
		fmt.Println()
	}
	fmt.Printf("(%d rows, %s)\n", len(rows.Rows), rows.Server)
}

// A write acknowledged once the leader's replica has applied it.
func ExampleWithConsistency() {
	c, err := client.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, err = c.Exec(context.Background(), "INSERT INTO grade (id, events) VALUES (9, [])",
		client.WithConsistency(messages.ConsistencyOne))
	if err != nil {
		log.Fatal(err)
	}
}

// Reads as fresh as they need to be: linearizable sees every write
// acknowledged before it; min_seq reads your own write through any worker.
func ExampleWithReadConsistency() {
	c, err := client.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	rows, err := c.Query(ctx, "SELECT id, events FROM grade WHERE id = 7",
		client.WithReadConsistency(messages.ReadConsistency{Level: messages.ReadLinearizable}))
	if err != nil {
		log.Fatal(err) // UNAVAILABLE if no fresh answer in time: never stale rows
	}
	fmt.Printf("%d rows as of seq %d\n", len(rows.Rows), rows.Seq)

	res, err := c.Exec(ctx, "UPDATE grade SET events = events + [2] WHERE id = 7")
	if err != nil {
		log.Fatal(err)
	}
	mine, err := messages.ParseReadConsistency(fmt.Sprintf("min_seq:%d", res.Seq))
	if err != nil {
		log.Fatal(err)
	}
	rows, err = c.Query(ctx, "SELECT events FROM grade WHERE id = 7", client.WithServer("server2"), client.WithReadConsistency(mine))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rows.Rows[0]["events"]) // holds the 2 just appended
}

// The leader's view of the cluster.
func ExampleClient_Status() {
	c, err := client.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	st, err := c.Status(context.Background())
	if errors.Is(err, client.ErrNoLeader) {
		fmt.Println("no leader right now")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("leader %s epoch %d committed %d\n", st.Leader, st.Epoch, st.Committed)
	for _, w := range st.Workers {
		fmt.Printf("%s live=%v applied=%d lag=%d\n", w.ID, w.Live, w.Applied, w.Lag)
	}
}

// Every member with its state (joining, live, out, removed) and progress.
func ExampleClient_Members() {
	c, err := client.Connect("nats://127.0.0.1:4222")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	members, err := c.Members(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range members {
		fmt.Printf("%s %s applied=%d lag=%d\n", m.ID, m.State, m.Applied, m.Lag)
		if r := m.Restoring; r != nil {
			fmt.Printf("  restoring snapshot %d: %d of %d bytes, %d rows\n", r.Seq, r.Bytes, r.Total, r.Rows)
		}
	}
}

// Take a member out for good, with the admin role's credentials.
func ExampleClient_Remove() {
	c, err := client.Connect("nats://127.0.0.1:4222",
		client.WithNATSOptions(nats.UserInfo("admin", "secret"))) // or nats.NkeyOptionFromSeed, nats.UserCredentials
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	seq, err := c.Remove(context.Background(), "server3")
	var ce *client.Error
	switch {
	case err == nil:
		fmt.Printf("removed server3 at seq %d\n", seq)
	case errors.As(err, &ce):
		// Refused by the leader: an unknown id, or the last live member.
		fmt.Println("refused:", ce.Message)
	case errors.Is(err, client.ErrPermission):
		fmt.Println("these credentials are not the admin role's")
	default:
		log.Fatal(err)
	}
}

// Take a snapshot now and wait until it is stored.
func ExampleClient_Snapshot() {
	c, err := client.Connect("nats://127.0.0.1:4222",
		client.WithNATSOptions(nats.UserInfo("admin", "secret")))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	seq, by, err := c.Snapshot(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("snapshot at seq %d stored by %s\n", seq, by)
}

// Follow the change feed: every committed write, in the global order,
// each once. Resuming after a restart: pass the seq of the last change
// handled and skip the keys up to it (the feed is at least once; the key
// <seq>.<index> is the dedup key). Needs the feed role's credentials on a
// broker with roles (locally: .data/creds/feed.nk).
func ExampleClient_Watch() {
	c, err := client.Connect("nats://127.0.0.1:4222",
		client.WithNATSOptions(nats.UserCredentials("feed.creds")))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	var last messages.ChangeKey // load it from where you keep your progress
	err = c.Watch(context.Background(), "grade", last.Seq, func(ch client.Change) error {
		if !last.Less(ch.Key()) {
			return nil // handled before the restart
		}
		fmt.Printf("%s %s: %s\n", ch.Key(), ch.Table, ch.Stmt)
		last = ch.Key() // and store it, with what the change did
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}
