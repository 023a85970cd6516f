package shell

import "testing"

func TestCreateTable(t *testing.T) {
	got := CreateTable("reading", []Column{
		{"v", "double", "regular", -1, "none"},
		{"day", "date", "partition_key", 1, "none"},
		{"sensor", "text", "partition_key", 0, "none"},
		{"at", "timestamp", "clustering", 0, "desc"},
		{"Unit", "text", "static", -1, "none"},
		{"n", "int", "clustering", 1, "asc"},
	})
	want := `CREATE TABLE reading (
    sensor text,
    day date,
    at timestamp,
    n int,
    "Unit" text STATIC,
    v double,
    PRIMARY KEY ((sensor, day), at, n)
) WITH CLUSTERING ORDER BY (at DESC, n ASC);`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got = CreateTable("grade", []Column{{"id", "int", "partition_key", 0, "none"}, {"events", "list<int>", "regular", -1, "none"}})
	want = "CREATE TABLE grade (\n    id int,\n    events list<int>,\n    PRIMARY KEY (id)\n);"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
