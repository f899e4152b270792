package orders_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/jobs"
	"github.com/axiestudio/tenantpool/pool/orders"
	"github.com/axiestudio/tenantpool/pool/store"
)

// fakeStore is an in-memory orders.Store for unit tests of the webhook's decisions: it records
// the jobs each write would commit, and holds a number of ready accounts. Methods the tests do
// not reach panic through the nil embedded interface.
type fakeStore struct {
	orders.Store
	ready   int
	seen    map[string]bool
	claimed map[string][]jobs.Job // order → jobs committed with its claim
	pending map[string][]jobs.Job // order → jobs committed with it pending
}

func (f *fakeStore) EventSeen(_ context.Context, id string) (bool, error) { return f.seen[id], nil }

func (f *fakeStore) ClaimOrder(_ context.Context, o store.Order, eventID, _ string, then ...jobs.Job) (store.Order, bool, error) {
	if _, ok := f.claimed[o.ID]; ok {
		return o, false, nil
	}
	if f.ready == 0 {
		return o, false, fmt.Errorf("tier %s: %w", o.Tier, pool.ErrPoolEmpty)
	}
	f.ready--
	f.seen[eventID], f.claimed[o.ID] = true, then
	o.State, o.AccountID = store.OrderClaimed, int64(len(f.claimed))
	return o, true, nil
}

func (f *fakeStore) AddPendingOrder(_ context.Context, o store.Order, eventID, _, _ string, then ...jobs.Job) (bool, error) {
	if _, ok := f.pending[o.ID]; ok {
		return false, nil
	}
	f.seen[eventID], f.pending[o.ID] = true, then
	return true, nil
}

// The webhook's effects are job values handed to the store: a claim commits the order's
// credentials e-mail (and, for a subscription, a sync), an empty pool the pending claim. No
// database, no river.
func TestWebhookHandsJobsToTheStore(t *testing.T) {
	f := &fakeStore{ready: 1, seen: map[string]bool{}, claimed: map[string][]jobs.Job{}, pending: map[string][]jobs.Job{}}
	triggered := 0
	svc, err := orders.New(orders.Config{Store: f, Tiers: testTiers, Mailer: nopMailer{}, Prefix: "client",
		Secrets: []string{secret}, Tenants: newSuspender(), Trigger: func() { triggered++ }, Log: discard(),
		Stripe: stripeClient(mockStripe(t, "price_basic", 2900, 1))})
	if err != nil {
		t.Fatal(err)
	}
	h := svc.Handler()
	for _, ev := range []struct{ id, session string }{{"evt_1", "cs_1"}, {"evt_2", "cs_2"}} {
		payload := paid(ev.id, ev.session)
		if rec := post(h, payload, sign(payload, secret, time.Now())); rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", ev.id, rec.Code, rec.Body)
		}
	}
	got := f.claimed["cs_1"]
	if len(got) == 0 || !reflect.DeepEqual(got[0], jobs.Job{Args: jobs.DeliverArgs{OrderID: "cs_1"}}) {
		t.Fatalf("jobs committed with the claim = %+v, want the credentials e-mail first", got)
	}
	for _, j := range got[1:] {
		if _, ok := j.Args.(jobs.SyncArgs); !ok {
			t.Fatalf("unexpected job with the claim: %+v", j)
		}
	}
	if want := []jobs.Job{{Args: jobs.ClaimPendingArgs{OrderID: "cs_2"}}}; !reflect.DeepEqual(f.pending["cs_2"], want) {
		t.Fatalf("jobs committed with the pending order = %+v, want %+v", f.pending["cs_2"], want)
	}
	if triggered != 2 {
		t.Fatalf("reconciler triggered %d times, want 2 (after the claim, and for the empty pool)", triggered)
	}
	// A replay is answered from the store's record and hands nothing new.
	payload := paid("evt_1", "cs_1")
	if rec := post(h, payload, sign(payload, secret, time.Now())); rec.Code != http.StatusOK || len(f.claimed) != 1 {
		t.Fatalf("replay: %d, %d claims", rec.Code, len(f.claimed))
	}
}
