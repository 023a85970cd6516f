package bench

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Series is one latency distribution of a latency plot.
type Series struct {
	Name   string
	Points []CDFPoint // increasing Q; Q == 1 is the maximum
	Marks  []Mark     // highlighted percentiles, e.g. p50, p90, p99
}

// Mark is a highlighted point of a series.
type Mark struct {
	Q     float64
	Ms    float64
	Label string
}

// RefLine is a horizontal reference line, e.g. a latency target.
type RefLine struct {
	Value float64
	Label string
}

// SeriesOf is the latency series of r: its CDF with p50, p90 and p99 marked.
func SeriesOf(name string, r *Result) Series {
	return Series{Name: name, Points: r.CDF, Marks: []Mark{
		{0.5, r.Latency.P50, "p50"}, {0.9, r.Latency.P90, "p90"}, {0.99, r.Latency.P99, "p99"},
	}}
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// svgWriter collects the first write error.
type svgWriter struct {
	w   *bufio.Writer
	err error
}

func (s *svgWriter) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

func (s *svgWriter) text(x, y float64, anchor, extra, body string) {
	s.printf(`<text x="%s" y="%s" text-anchor="%s"%s>%s</text>`+"\n", f1(x), f1(y), anchor, extra, esc(body))
}

func (s *svgWriter) flush() error {
	if s.err == nil {
		s.err = s.w.Flush()
	}
	return s.err
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func svgHeader(s *svgWriter, w, h int, title string) {
	s.printf(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	s.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	s.printf(`<title>%s</title>`+"\n", esc(title))
	s.printf(`<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	s.text(float64(w)/2, 24, "middle", ` font-size="15" font-weight="bold"`, title)
}

// hdrX is the position of quantile q on a latency plot's horizontal axis:
// log10(1/(1-q)), so 90%, 99%, 99.9% are evenly spaced.
func hdrX(q float64) float64 {
	if q >= 1 {
		return math.Inf(1)
	}
	return -math.Log10(1 - q)
}

// WriteLatencySVG draws the latency distributions of series: latency (log
// scale) against percentile (on the 1/(1-q) scale of HdrHistogram plots),
// with the marked percentiles as dots and refs as dashed lines.
func WriteLatencySVG(out io.Writer, title string, series []Series, refs []RefLine) error {
	const W = 820
	const left, right, top = 70.0, 30.0, 44.0
	bottom := 66.0 + 18*float64(len(series)) // axis, its label, the legend
	H := int(math.Ceil(top + 400 + bottom))
	pw, ph := W-left-right, float64(H)-top-bottom
	s := &svgWriter{w: bufio.NewWriter(out)}
	svgHeader(s, W, H, title)

	// Axes ranges.
	xmax, lo, hi := 2.0, math.Inf(1), math.Inf(-1)
	for _, se := range series {
		for _, p := range se.Points {
			if p.Q < 1 {
				xmax = max(xmax, math.Ceil(hdrX(p.Q)-1e-9))
			}
			if p.Ms > 0 {
				lo, hi = min(lo, p.Ms), max(hi, p.Ms)
			}
		}
	}
	for _, r := range refs {
		if r.Value > 0 {
			lo, hi = min(lo, r.Value), max(hi, r.Value)
		}
	}
	xmax = min(xmax, 5)
	if math.IsInf(lo, 0) {
		lo, hi = 0.1, 10
	}
	ylo, yhi := math.Log10(niceFloor(lo)), math.Log10(niceStep(hi))
	if yhi <= ylo {
		yhi = ylo + 1
	}
	yticks := logTicks(ylo, yhi)
	px := func(q float64) float64 { return left + min(hdrX(q), xmax)/xmax*pw }
	py := func(v float64) float64 {
		v = math.Max(v, math.Pow(10, ylo))
		return top + ph - (math.Log10(v)-ylo)/(yhi-ylo)*ph
	}

	// Grid and ticks.
	s.printf(`<g stroke="#ddd" stroke-width="1">` + "\n")
	for _, v := range yticks {
		s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", f1(left), f1(py(v)), f1(left+pw), f1(py(v)))
	}
	xticks := []struct {
		q     float64
		label string
	}{{0, "0%"}, {0.5, "50%"}, {0.9, "90%"}, {0.99, "99%"}, {0.999, "99.9%"}, {0.9999, "99.99%"}, {0.99999, "99.999%"}}
	for _, t := range xticks {
		if hdrX(t.q) <= xmax+1e-9 {
			s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", f1(px(t.q)), f1(top), f1(px(t.q)), f1(top+ph))
		}
	}
	s.printf("</g>\n")
	for _, v := range yticks {
		s.text(left-6, py(v)+4, "end", "", trimFloat(v))
	}
	for _, t := range xticks {
		if hdrX(t.q) <= xmax+1e-9 {
			s.text(px(t.q), top+ph+18, "middle", "", t.label)
		}
	}
	s.text(left+pw/2, top+ph+40, "middle", "", "percentile (of successful operations)")
	s.text(18, top+ph/2, "middle", fmt.Sprintf(` transform="rotate(-90 18 %s)"`, f1(top+ph/2)), "latency (ms, log scale)")
	s.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#444"/>`+"\n", f1(left), f1(top), f1(pw), f1(ph))

	for _, r := range refs {
		s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#555" stroke-dasharray="6 4"/>`+"\n", f1(left), f1(py(r.Value)), f1(left+pw), f1(py(r.Value)))
		s.text(left+pw-4, py(r.Value)-4, "end", ` fill="#555"`, r.Label)
	}

	// Curves, dots, legend.
	for i, se := range series {
		color := palette[i%len(palette)]
		var pts []string
		for _, p := range se.Points {
			pts = append(pts, f1(px(p.Q))+","+f1(py(p.Ms)))
		}
		if len(pts) > 0 {
			s.printf(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		}
		for _, m := range se.Marks {
			if m.Ms > 0 {
				s.printf(`<circle cx="%s" cy="%s" r="3.5" fill="%s"><title>%s</title></circle>`+"\n",
					f1(px(m.Q)), f1(py(m.Ms)), color, esc(se.Name+" "+m.Label+" "+FormatMs(m.Ms)))
			}
		}
		ly := top + ph + 64 + float64(i)*18
		s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="3"/>`+"\n", f1(left+10), f1(ly-4), f1(left+32), f1(ly-4), color)
		legend := se.Name
		var marks []string
		for _, m := range se.Marks {
			marks = append(marks, m.Label+" "+FormatMs(m.Ms))
		}
		if len(marks) > 0 {
			legend += ": " + strings.Join(marks, ", ")
		}
		s.text(left+38, ly, "start", "", legend)
	}
	s.printf("</svg>\n")
	return s.flush()
}

// Bar is one bar of a bar chart, with an optional reference mark (e.g. the
// bound the value is measured against).
type Bar struct {
	Label    string // "\n" separates lines
	Value    float64
	Ref      float64 // 0: none
	RefLabel string
}

// WriteBarSVG draws a bar chart of values in unit, with each bar's value
// above it and its reference as a dashed mark.
func WriteBarSVG(out io.Writer, title, unit string, bars []Bar) error {
	const H = 440
	const left, right, top, bottom = 80.0, 20.0, 44.0, 70.0
	W := max(820, 100+90*len(bars)) // room for each bar's two-line label
	pw, ph := float64(W)-left-right, H-top-bottom
	s := &svgWriter{w: bufio.NewWriter(out)}
	svgHeader(s, W, H, title)

	vmax := 0.0
	for _, b := range bars {
		vmax = max(vmax, b.Value, b.Ref)
	}
	step := niceStep(vmax * 1.1 / 5)
	ymax := math.Ceil(vmax*1.1/step) * step
	if ymax <= 0 {
		ymax, step = 1, 0.2
	}
	py := func(v float64) float64 { return top + ph - v/ymax*ph }
	for v := 0.0; v <= ymax+step/2; v += step {
		s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#ddd"/>`+"\n", f1(left), f1(py(v)), f1(left+pw), f1(py(v)))
		s.text(left-6, py(v)+4, "end", "", thousands(int64(math.Round(v))))
	}
	s.text(18, top+ph/2, "middle", fmt.Sprintf(` transform="rotate(-90 18 %s)"`, f1(top+ph/2)), unit)

	n := float64(max(len(bars), 1))
	slot := pw / n
	bw := math.Min(slot*0.6, 90)
	for i, b := range bars {
		cx := left + slot*(float64(i)+0.5)
		color := palette[i%len(palette)]
		s.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`+"\n",
			f1(cx-bw/2), f1(py(b.Value)), f1(bw), f1(top+ph-py(b.Value)), color, esc(strings.ReplaceAll(b.Label, "\n", " ")+": "+FormatRate(b.Value)))
		s.text(cx, py(b.Value)-5, "middle", ` paint-order="stroke" stroke="white" stroke-width="4"`, FormatRate(b.Value))
		if b.Ref > 0 {
			s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black" stroke-width="2" stroke-dasharray="5 3"/>`+"\n",
				f1(cx-bw/2-6), f1(py(b.Ref)), f1(cx+bw/2+6), f1(py(b.Ref)))
			s.text(cx+bw/2+8, py(b.Ref)+4, "start", ` font-size="10"`, b.RefLabel)
		}
		for j, line := range strings.Split(b.Label, "\n") {
			s.text(cx, top+ph+18+float64(j)*15, "middle", "", line)
		}
	}
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#444"/>`+"\n", f1(left), f1(top+ph), f1(left+pw), f1(top+ph))
	s.printf("</svg>\n")
	return s.flush()
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

// niceFloor rounds v > 0 down to 1, 2 or 5 times a power of ten.
func niceFloor(v float64) float64 {
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{5, 2, 1} {
		if m*e <= v*(1+1e-9) {
			return m * e
		}
	}
	return e
}

// logTicks are the values 1, 2 and 5 times a power of ten between 10^lo
// and 10^hi.
func logTicks(lo, hi float64) []float64 {
	var ticks []float64
	for e := math.Floor(lo); e <= math.Ceil(hi); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if l := math.Log10(v); l >= lo-1e-9 && l <= hi+1e-9 {
				ticks = append(ticks, v)
			}
		}
	}
	return ticks
}

func trimFloat(v float64) string {
	if v >= 1 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
