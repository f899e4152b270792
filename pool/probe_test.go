package pool_test

import (
	"testing"

	"github.com/axiestudio/tenantpool/pool"
)

func TestDecideProbe(t *testing.T) {
	tests := []struct {
		name      string
		ok        bool // GIVEN the probe's outcome
		failures  int  // GIVEN the streak, this probe included
		threshold int  // WHEN deciding with
		then      pool.ProbeAction
	}{
		{"healthy does nothing", true, 0, 3, pool.ProbeNothing},
		{"first failure waits", false, 1, 3, pool.ProbeNothing},
		{"below the threshold waits", false, 2, 3, pool.ProbeNothing},
		{"reaching the threshold re-applies", false, 3, 3, pool.ProbeReapply},
		{"after the re-apply gives it time", false, 4, 3, pool.ProbeNothing},
		{"just before twice the threshold still waits", false, 5, 3, pool.ProbeNothing},
		{"twice the threshold flags", false, 6, 3, pool.ProbeFlag},
		{"beyond twice the threshold flags (the store flags once)", false, 40, 3, pool.ProbeFlag},
		{"threshold 1 re-applies at once", false, 1, 1, pool.ProbeReapply},
		{"threshold 1 flags at the second failure", false, 2, 1, pool.ProbeFlag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pool.DecideProbe(tt.ok, tt.failures, tt.threshold); got != tt.then {
				t.Fatalf("GIVEN ok=%t failures=%d WHEN threshold %d THEN %s, want %s", tt.ok, tt.failures, tt.threshold, got, tt.then)
			}
		})
	}
}
