package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueOnce(t *testing.T) {
	// Consecutive buckets are contiguous, and every value's bucket contains it.
	next := int64(0)
	for i := 0; i < 40*subHalf; i++ {
		lo, hi := bucketRange(i)
		if lo != next || hi < lo {
			t.Fatalf("bucket %d is [%d, %d], want it to start at %d", i, lo, hi, next)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/subHalf+1e-12 {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its start", i, lo, hi, subHalf)
		}
		next = hi + 1
	}
}

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Count() != 0 || h.Quantile(0.5) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatalf("empty histogram: n=%d p50=%v min=%v max=%v mean=%v", h.Count(), h.Quantile(0.5), h.Min(), h.Max(), h.Mean())
	}
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	var h Histogram
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.01, 1}, {0.5, 50}, {0.9, 90}, {0.99, 99}, {0.995, 100}, {1, 100}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %d, want %d", c.q, got, c.want)
		}
	}
	if h.Mean() != 50 { // 50.5 truncated to whole nanoseconds
		t.Errorf("mean %v", h.Mean())
	}
}

// exactQuantile is the sample of rank ceil(q·n) of sorted.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestHistogramQuantilesMatchSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var samples []time.Duration
	var sum float64
	for range 200000 {
		// Log-uniform from 10µs to 10s, like latencies.
		v := time.Duration(math.Pow(10, 4+rng.Float64()*6))
		h.Record(v)
		samples = append(samples, v)
		sum += float64(v)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.001, 0.1, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999} {
		want, got := exactQuantile(samples, q), h.Quantile(q)
		if got < want || float64(got-want) > float64(want)/subHalf {
			t.Errorf("Quantile(%v) = %v, exact %v: want at most 1/%d above", q, got, want, subHalf)
		}
	}
	if h.Min() != samples[0] || h.Max() != samples[len(samples)-1] {
		t.Errorf("min %v max %v, want %v %v", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
	}
	if mean := time.Duration(sum / float64(len(samples))); h.Mean()-mean > 1 || mean-h.Mean() > 1 {
		t.Errorf("mean %v, want %v", h.Mean(), mean)
	}
	if h.Count() != uint64(len(samples)) {
		t.Errorf("count %d", h.Count())
	}
	if n, need := len(h.counts), bucketOf(int64(h.Max()))+1; n > 2*need {
		t.Errorf("%d counters for values up to 10s, which need %d", n, need)
	}
}

func TestHistogramMergeIsRecordingBoth(t *testing.T) {
	var a, b, all Histogram
	for i := range 5000 {
		v := time.Duration(i*i) * time.Microsecond / 7
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	var empty Histogram
	a.Merge(&empty)
	empty.Merge(&a)
	empty.Merge(&b)
	for _, q := range []float64{0, 0.3, 0.5, 0.9, 0.99, 1} {
		if empty.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged Quantile(%v) = %v, want %v", q, empty.Quantile(q), all.Quantile(q))
		}
	}
	if empty.Count() != all.Count() || empty.Min() != all.Min() || empty.Max() != all.Max() || empty.Mean() != all.Mean() {
		t.Errorf("merged %d %v %v %v, want %d %v %v %v", empty.Count(), empty.Min(), empty.Max(), empty.Mean(),
			all.Count(), all.Min(), all.Max(), all.Mean())
	}
}

func TestHistogramNegativeIsZero(t *testing.T) {
	var h Histogram
	h.Record(-time.Second)
	if h.Max() != 0 || h.Quantile(1) != 0 || h.Count() != 1 {
		t.Fatalf("max %v count %d", h.Max(), h.Count())
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	for i := range b.N {
		h.Record(time.Duration(i%100000) * time.Microsecond)
	}
}

func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
