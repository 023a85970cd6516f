package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: values below 2^subBits are kept
// exactly, larger ones in buckets of relative width at most 2^-(subBits-1)
// (0.8%); a percentile reports its bucket's upper bound, less than 0.8% above
// the exact sample. Memory: 128 counters per power of two reached.
const (
	subBits  = 8
	subCount = 1 << subBits // 256
	subHalf  = subCount / 2 // 128
)

// Histogram counts durations in log-linear buckets (the HdrHistogram
// layout): bounded memory whatever the number of samples, exact min, max and
// mean. The zero value is empty and ready to use. Not safe for concurrent
// use.
type Histogram struct {
	counts []uint64
	n      uint64
	min    time.Duration
	max    time.Duration
	sum    float64 // nanoseconds
}

// maxBuckets is the number of buckets up to the largest duration.
var maxBuckets = bucketOf(math.MaxInt64) + 1

// bucketOf is the index of the bucket holding v (v >= 0).
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits
	return shift*subHalf + int(v>>shift)
}

// bucketRange is the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	shift := (i - subHalf) / subHalf
	m := int64(i - shift*subHalf)
	return m << shift, (m+1)<<shift - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := bucketOf(int64(d))
	if i >= len(h.counts) {
		n := min(max(2*len(h.counts), i+1, subCount), maxBuckets)
		grown := make([]uint64, n)
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// Merge adds every sample of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		grown := make([]uint64, len(o.counts))
		copy(grown, h.counts)
		h.counts = grown
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Min is the smallest sample (0 when empty).
func (h *Histogram) Min() time.Duration { return h.min }

// Max is the largest sample (0 when empty).
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average sample (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile is the sample of rank ceil(q·n) (q in [0, 1]; 0.99 is p99), to the
// histogram's precision: the upper bound of its bucket, clamped to the exact
// min and max. 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if math.IsNaN(q) || q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(max(time.Duration(hi), h.min), h.max)
		}
	}
	return h.max
}
