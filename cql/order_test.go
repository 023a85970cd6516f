package cql

import "testing"

func TestOrderOf(t *testing.T) {
	free := ApplyOrder{Free: true}
	row := func(table, r string) ApplyOrder { return ApplyOrder{Table: table, Row: r} }
	tbl := func(table string) ApplyOrder { return ApplyOrder{Table: table} }
	for _, tc := range []struct {
		stmt string
		want ApplyOrder
	}{
		{"INSERT INTO t (id, v) VALUES (1, 'x')", free},
		{"UPDATE t SET a = 1, b = 'x', c = 1.5 WHERE id = 7", free},
		{"UPDATE t USING TTL 5 SET a = 1 WHERE id = 7;", free},
		{"DELETE FROM t WHERE id = 7", free},
		{"UPDATE t SET s = {1, 2} WHERE id = 7", free},
		{"UPDATE t SET m = {'a': 1} WHERE id = 7", row("t", "id=i7")}, // ':' is refused wholesale
		{"UPDATE t SET l = null WHERE id = 7", free},
		// Anything that may write list cells keeps its order.
		{"UPDATE t SET events = events + [3] WHERE id = 7", row("t", "id=i7")},
		{"UPDATE t SET events = [3] + events WHERE id = 7", row("t", "id=i7")},
		{"UPDATE ks.T SET events = events + [3] WHERE \"id\" = 007", row("t", "id=i7")},
		{"UPDATE t SET l[0] = 1 WHERE b = 0xAB AND a = 1", row("t", "a=i1\x00b=x0xab")},
		{"DELETE l[1] FROM t WHERE u = 5B6962DD-3F90-4C93-8F61-EABFA4A803E2", row("t", "u=u5b6962dd-3f90-4c93-8f61-eabfa4a803e2")},
		{"UPDATE \"T\" SET l = l + [1] WHERE ok = true", row("T", "ok=btrue")},
		{"UPDATE t SET n = n + 1 WHERE id = 1", row("t", "id=i1")}, // a counter: not free either
		{"UPDATE t SET a = -1 WHERE id = 1", row("t", "id=i1")},
		// Rows this check cannot name exactly: the whole table.
		{"UPDATE t SET l = l + [1] WHERE id = 'a'", tbl("t")},              // 'a' and $$a$$ are one value; '2024-01-01' and '2024-01-01 00:00Z' too
		{"UPDATE t SET l = l + [1] WHERE id = 1.0", tbl("t")},              // 1.0 = 1 for a double
		{"UPDATE t SET l = l + [1] WHERE id = 9007199254740993", tbl("t")}, // = 2^53 as a double
		{"UPDATE t SET l = l + [1] WHERE id = -1", tbl("t")},
		{"UPDATE t SET l = l + [1] WHERE id IN (1, 2)", tbl("t")},
		{"UPDATE t SET l = l + [1] WHERE id = 1 AND id = 2", tbl("t")},
		{"UPDATE t SET l = l + [1] WHERE (a, b) = (1, 2)", tbl("t")},
		{"UPDATE t SET l = l + [1] WHERE id = ?", tbl("t")},
		{"INSERT INTO t (id, l) VALUES (1, [1])", tbl("t")},
		{"INSERT INTO t JSON '{\"id\": 1, \"l\": [1]}'", tbl("t")},
		{"INSERT INTO t (id, l) VALUES (1, fromJson('[1]'))", tbl("t")},
		{"INSERT INTO t (id, tu) VALUES (1, (1, 2))", tbl("t")},
		{"UPDATE t SET l = myfunc(1) WHERE id = 1", row("t", "id=i1")}, // a function's list cells are that row's
		{"BEGIN BATCH UPDATE t SET a = 1 WHERE id = 1; APPLY BATCH", ApplyOrder{Any: true}},
		{"TRUNCATE t", ApplyOrder{Any: true}},
		{"UPDATE t SET a = 'unterminated", ApplyOrder{Any: true}},
	} {
		if got := OrderOf(tc.stmt); got != tc.want {
			t.Errorf("OrderOf(%q) = %+v; want %+v", tc.stmt, got, tc.want)
		}
	}
}
