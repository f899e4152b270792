package pool_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
)

type described struct{ words string }

func (d described) Error() string    { return "tenant said: " + d.words }
func (d described) Describe() string { return "HTTP 500" }

func TestDescribeNeverReturnsTheErrorsText(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "no error"},
		{fmt.Errorf("reapply client01: %w", described{"click https://evil.example"}), "HTTP 500"},
		{fmt.Errorf("place: %w", pool.ErrNoCapacity), pool.ErrNoCapacity.Error()},
		{errors.New("click https://evil.example"), "unclassified failure (the daemon's log has the details)"},
	} {
		if got := pool.Describe(c.err); got != c.want {
			t.Errorf("Describe(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
