package admin

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// FailureLimit bounds failed authentications per source address: each source has a token
// bucket of Burst failures refilled at Rate; a source whose bucket is empty gets 429 with
// Retry-After on every request (its tokens are not even compared) until a failure is allowed
// again. Successful requests never count. At most Sources addresses are tracked; the least
// recently failing one is forgotten first.
type FailureLimit struct {
	Rate    rate.Limit
	Burst   int
	Sources int
}

// DefaultFailureLimit: 10 failures at once, then one every 6 seconds (10 a minute), from each
// of at most 10,000 addresses.
var DefaultFailureLimit = FailureLimit{Rate: rate.Every(6 * time.Second), Burst: 10, Sources: 10_000}

// failures tracks the sources' buckets.
type failures struct {
	limit FailureLimit
	now   func() time.Time
	mu    sync.Mutex
	srcs  *lru.Cache[string, *rate.Limiter]
}

func newFailures(l FailureLimit, now func() time.Time) *failures {
	d := DefaultFailureLimit
	if l.Rate > 0 {
		d.Rate = l.Rate
	}
	if l.Burst > 0 {
		d.Burst = l.Burst
	}
	if l.Sources > 0 {
		d.Sources = l.Sources
	}
	if now == nil {
		now = time.Now
	}
	c, err := lru.New[string, *rate.Limiter](d.Sources)
	if err != nil {
		panic(err) // only for a size ≤ 0, excluded above
	}
	return &failures{limit: d, now: now, srcs: c}
}

// source is the address a request comes from (its TCP peer; the admin listener is not behind
// a proxy).
func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// blocked returns how long src must wait before its next attempt is judged; 0 when it may try.
func (f *failures) blocked(src string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.srcs.Peek(src)
	if !ok {
		return 0
	}
	tokens := l.TokensAt(f.now())
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(f.limit.Rate) * float64(time.Second))
}

// fail counts one failed attempt of src.
func (f *failures) fail(src string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.srcs.Get(src)
	if !ok {
		l = rate.NewLimiter(f.limit.Rate, f.limit.Burst)
		f.srcs.Add(src, l)
	}
	l.AllowN(f.now(), 1)
}

// retryAfter is the Retry-After value of a wait: whole seconds, at least 1.
func retryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}
