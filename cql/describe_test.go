package cql

import (
	"slices"
	"testing"
)

func TestParseDescribe(t *testing.T) {
	tests := []struct {
		in, table string
		names     []string
	}{
		{"DESCRIBE TABLES", "", nil},
		{"desc tables;", "", nil},
		{"DESCRIBE COLUMNFAMILIES", "", nil},
		{"DESCRIBE TABLE grade", "grade", []string{"grade"}},
		{"describe table Grade ;", "grade", []string{"grade"}},
		{`DESC TABLE "Grade"`, "Grade", []string{"Grade"}},
		{"DESCRIBE COLUMNFAMILY grade", "grade", []string{"grade"}},
		{"DESCRIBE TABLE server0.grade", "grade", []string{"grade"}},
		{"/* why */ DESCRIBE TABLE grade -- the columns", "grade", []string{"grade"}},
	}
	for _, tt := range tests {
		st, err := Parse(tt.in, ks)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if st.Kind != KindDescribe || st.DescribeTable != tt.table || !slices.Equal(st.Names, tt.names) {
			t.Errorf("Parse(%q) = kind %v, table %q, names %q; want DESCRIBE, %q, %q", tt.in, st.Kind, st.DescribeTable, st.Names, tt.table, tt.names)
		}
		if st.Kind.IsWrite() {
			t.Errorf("Parse(%q): a DESCRIBE must never be ordered as a write", tt.in)
		}
	}
}
