package pool

import (
	"errors"
	"testing"
)

func TestDecideRetire(t *testing.T) {
	for _, tc := range []struct {
		given      State
		force, now bool
		then       RetireHow
		refused    bool
	}{
		{given: StateReady, then: RetireNow},
		{given: StateProvisioning, then: RetireNow},
		{given: StateFailed, then: RetireNow},
		{given: StateReady, force: true, then: RetireNow},
		{given: StateReady, now: true, then: RetireNow},
		{given: StateClaimed, refused: true},
		{given: StateDelivered, refused: true},
		{given: StateSuspended, refused: true},
		{given: StateReserved, refused: true},
		{given: StateDelivered, now: true, refused: true},
		{given: StateDelivered, force: true, then: RetireAfterGrace},
		{given: StateClaimed, force: true, then: RetireAfterGrace},
		{given: StateSuspended, force: true, then: RetireAfterGrace},
		{given: StateReserved, force: true, then: RetireAfterGrace},
		{given: StateDelivered, force: true, now: true, then: RetireNow},
	} {
		got, err := DecideRetire(tc.given, tc.force, tc.now)
		if tc.refused {
			if !errors.Is(err, ErrForceRequired) || got != 0 {
				t.Errorf("GIVEN %s force=%t now=%t THEN %v, %v; want refused with ErrForceRequired", tc.given, tc.force, tc.now, got, err)
			}
			continue
		}
		if err != nil || got != tc.then {
			t.Errorf("GIVEN %s force=%t now=%t THEN %v, %v; want %v", tc.given, tc.force, tc.now, got, err, tc.then)
		}
	}
}
