package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// wellFormed parses doc with encoding/xml and returns its elements' names.
func wellFormed(t *testing.T, doc []byte) map[string]int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	names := map[string]int{}
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 0 && (e.Name.Local != "svg" || e.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root element %v", e.Name)
			}
			names[e.Name.Local]++
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 || names["svg"] != 1 {
		t.Fatalf("depth %d, elements %v", depth, names)
	}
	return names
}

func sampleResult(scale float64) *Result {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(msDuration(scale * float64(i%500+1) / 100))
	}
	rec := newRecorder()
	rec.hist = h
	rec.ok.Store(int64(h.Count()))
	return rec.result(Options{Concurrency: 8}, rec.last)
}

func TestLatencySVGIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	series := []Series{
		SeriesOf("direct <1 keyspace> & \"quotes\"", sampleResult(1)),
		SeriesOf("chorus", sampleResult(30)),
		{Name: "empty"},
	}
	if err := WriteLatencySVG(&b, "latency & <stuff>", series, []RefLine{{Value: 10, Label: "10 ms target"}}); err != nil {
		t.Fatal(err)
	}
	names := wellFormed(t, b.Bytes())
	if names["polyline"] != 2 || names["circle"] != 6 {
		t.Fatalf("elements %v: want 2 curves and 3 marks each", names)
	}
	for _, want := range []string{"direct &lt;1 keyspace&gt; &amp;", "99.9%", "10 ms target", "p99 "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plot lacks %q", want)
		}
	}
	// Nothing to plot still makes an image.
	b.Reset()
	if err := WriteLatencySVG(&b, "nothing", nil, nil); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, b.Bytes())
}

func TestBarSVGIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	bars := []Bar{
		{Label: "direct\n(1 keyspace)", Value: 7834},
		{Label: "Chorus\n3 workers", Value: 279, Ref: 2611, RefLabel: "direct÷3"},
		{Label: "a <b> & c", Value: 0},
	}
	if err := WriteBarSVG(&b, "writes/s", "writes/s", bars); err != nil {
		t.Fatal(err)
	}
	names := wellFormed(t, b.Bytes())
	if names["rect"] < 4 { // background and 3 bars
		t.Fatalf("elements %v", names)
	}
	for _, want := range []string{"7,834/s", "direct÷3", "a &lt;b&gt; &amp; c"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	b.Reset()
	if err := WriteBarSVG(&b, "none", "x", nil); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, b.Bytes())
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestSVGWriteErrors(t *testing.T) {
	if err := WriteLatencySVG(failingWriter{}, "t", []Series{SeriesOf("x", sampleResult(1))}, nil); err == nil {
		t.Fatal("no error from a failing writer")
	}
	if err := WriteBarSVG(failingWriter{}, "t", "u", []Bar{{Label: "x", Value: 1}}); err == nil {
		t.Fatal("no error from a failing writer")
	}
}

func TestTicks(t *testing.T) {
	for _, c := range []struct{ in, floor, step float64 }{
		{0.73, 0.5, 1}, {1, 1, 1}, {3, 2, 5}, {167, 100, 200}, {9999, 5000, 10000},
	} {
		if got := niceFloor(c.in); got != c.floor {
			t.Errorf("niceFloor(%v) = %v, want %v", c.in, got, c.floor)
		}
		if got := niceStep(c.in); got != c.step {
			t.Errorf("niceStep(%v) = %v, want %v", c.in, got, c.step)
		}
	}
	got := logTicks(-0.30103, 2.30103) // 0.5 .. 200
	want := []float64{0.5, 1, 2, 5, 10, 20, 50, 100, 200}
	if len(got) != len(want) {
		t.Fatalf("logTicks = %v, want %v", got, want)
	}
	for i := range want {
		if diff := got[i] - want[i]; diff > 1e-9 || diff < -1e-9 {
			t.Fatalf("logTicks = %v, want %v", got, want)
		}
	}
}
