package pulumiprov

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
)

func h(name string, capacity int) pool.HostCapacity {
	return pool.HostCapacity{Name: name, Capacity: capacity}
}

// GIVEN hosts with some tenants this process placed WHEN many placements race THEN no host goes
// over its capacity, and the rest get ErrNoCapacity. (With a store, Config.Place does this
// across replicas: see store.PlaceAccount and its tests.)
func TestPlaceNeverOverfills(t *testing.T) {
	hosts := []pool.HostCapacity{h("a", 3), h("b", 2), h("c", 0)}
	pl := placer{placed: map[string]string{"old1": "a", "old2": "b"}}
	var mu sync.Mutex
	got := map[string]int{}
	full := 0
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			host, err := pl.place(fmt.Sprintf("new%d", i), "", hosts)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrNoCapacity):
				full++
			case err != nil:
				t.Error(err)
			default:
				got[host]++
			}
		})
	}
	wg.Wait()
	if got["a"] != 2 || got["b"] != 1 || got["c"] != 0 || full != 7 {
		t.Errorf("placed %v, %d refused; want a 2, b 1 (free places only), 7 refused", got, full)
	}
}

func TestPlaceRules(t *testing.T) {
	hosts := []pool.HostCapacity{h("a", 2), h("b", 3)}
	for _, tc := range []struct {
		name, slug, prefer string
		mine               map[string]string
		want               string
	}{
		{name: "most free wins", slug: "x", want: "b"},
		{name: "tie goes to the first host", slug: "x", mine: map[string]string{"s1": "b"}, want: "a"},
		{name: "a retry keeps its host even when full", slug: "x", prefer: "a", mine: map[string]string{"s1": "a", "s2": "a"}, want: "a"},
		{name: "a host that is gone is not kept", slug: "x", prefer: "gone", want: "b"},
		{name: "an earlier placement in this process is kept", slug: "x", mine: map[string]string{"x": "a"}, want: "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := placer{placed: map[string]string{}}
			for k, v := range tc.mine {
				pl.placed[k] = v
			}
			got, err := pl.place(tc.slug, tc.prefer, hosts)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	pl := placer{placed: map[string]string{"y": "a"}}
	if _, err := pl.place("x", "", []pool.HostCapacity{h("a", 1)}); !errors.Is(err, ErrNoCapacity) {
		t.Errorf("full host: %v", err)
	}
	pl.release("y")
	if got, err := pl.place("x", "", []pool.HostCapacity{h("a", 1)}); err != nil || got != "a" {
		t.Errorf("after release: %q, %v; want a", got, err)
	}
}

func TestPassphraseIsDerivedAndStable(t *testing.T) {
	k1, k2 := make([]byte, 32), make([]byte, 32)
	k2[0] = 1
	if passphrase(k1) != passphrase(k1) || passphrase(k1) == passphrase(k2) || len(passphrase(k1)) != 64 {
		t.Error("passphrase must be a stable 64-hex-digit function of the key")
	}
}
