package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/secret"
	"github.com/axiestudio/tenantpool/pool/store"
	"github.com/axiestudio/tenantpool/pool/store/storetest"
)

func ring(t *testing.T, keys ...[]byte) *secret.Keyring {
	t.Helper()
	k, err := secret.NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sealedColumn(t *testing.T, s *store.Store) map[int64]string {
	t.Helper()
	rows, err := s.DB().Query(`SELECT id, secrets FROM accounts`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		out[id] = v
	}
	return out
}

func secretsOf(t *testing.T, s *store.Store) map[int64][3]string {
	t.Helper()
	as, err := s.List(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64][3]string{}
	for _, a := range as {
		out[a.ID] = [3]string{a.OperatorPassword, a.SecretKey, a.CustomerPassword}
	}
	return out
}

// Rotation on a real store: values sealed before key ids and values of the old key open with
// the new keyring; `secrets rotate` re-seals every one with the new key in batches, resumes
// after an interruption, touches nothing on a second pass, reports values no key opens, and
// afterwards the old key is no longer needed.
func TestResealSecretsRotatesEveryValue(t *testing.T) {
	k1, k2, k3 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	storetest.EachReopen(t, func(t *testing.T, open func(store.Options) *store.Store) {
		ctx := context.Background()
		s := open(store.Options{Keyring: ring(t, k1)})
		as, err := s.CreateAccounts(ctx, "basic", "client", 450)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != 450 {
			t.Fatalf("%d accounts", len(as))
		}
		// Ten values as they were sealed before key ids: a bare box of k1.
		legacy, _ := secret.NewBox(k1)
		for _, a := range as[:10] {
			plain, _ := json.Marshal(map[string]string{"op": a.OperatorPassword, "sk": a.SecretKey, "cp": a.CustomerPassword})
			v := legacy.Seal(plain, []byte("account:"+strconv.FormatInt(a.ID, 10)))
			if _, err := setSealed(t, s, v, a.ID); err != nil {
				t.Fatal(err)
			}
		}
		want := secretsOf(t, s)
		// Three customer passwords of deliveries in flight, sealed with k1 too.
		var delivered []string
		for i, a := range as[:3] {
			pw, err := s.DeliveryPassword(ctx, "cs_rotate#"+strconv.Itoa(i), "cs_rotate", a.ID)
			if err != nil {
				t.Fatal(err)
			}
			delivered = append(delivered, pw)
		}
		s.Close()

		// Rotated: k2 seals, k1 still opens everything.
		s = open(store.Options{Keyring: ring(t, k2, k1)})
		if got := secretsOf(t, s); !maps.Equal(got, want) {
			t.Fatal("the rotated keyring does not open the old values")
		}
		// Interrupted after its first batch...
		cctx, cancel := context.WithCancel(ctx)
		var reports []store.ResealReport
		r, err := s.ResealSecrets(cctx, func(r store.ResealReport) { reports = append(reports, r); cancel() })
		if !errors.Is(err, context.Canceled) || r.Total != 450 || r.Current != 0 || r.Resealed != 200 || len(reports) != 1 {
			t.Fatalf("interrupted pass: %+v, %v (reports %d)", r, err, len(reports))
		}
		// ...and resumed.
		reports = nil
		r, err = s.ResealSecrets(ctx, func(r store.ResealReport) { reports = append(reports, r) })
		if err != nil || r.Total != 450 || r.Current != 200 || r.Resealed != 250 || r.Changed != 0 || len(r.Failed) != 0 || r.Pending() != 0 {
			t.Fatalf("resumed pass: %+v, %v", r, err)
		}
		if len(reports) != 3 || reports[0].Resealed != 200 || reports[1].Resealed != 250 {
			t.Fatalf("progress reports: %+v", reports)
		}
		if d := r.Deliveries; d.Total != 3 || d.Current != 0 || d.Resealed != 3 || d.Changed != 0 || len(r.DeliveryFailed) != 0 {
			t.Fatalf("delivery passwords: %+v, failed %v", d, r.DeliveryFailed)
		}
		for id, v := range sealedColumn(t, s) {
			if !strings.HasPrefix(v, "k1:"+secret.KeyID(k2)+":") {
				t.Fatalf("account %d still sealed as %.12s…", id, v)
			}
		}
		// Idempotent.
		before := sealedColumn(t, s)
		if r, err := s.ResealSecrets(ctx, nil); err != nil || r.Resealed != 0 || r.Current != 450 || r.Deliveries.Resealed != 0 || r.Deliveries.Current != 3 {
			t.Fatalf("second pass: %+v, %v", r, err)
		}
		if !maps.Equal(sealedColumn(t, s), before) {
			t.Fatal("a pass with nothing to do rewrote values")
		}
		s.Close()

		// The old key is no longer needed; a value of a key nobody has is reported, not lost.
		s = open(store.Options{Keyring: ring(t, k2)})
		if got := secretsOf(t, s); !maps.Equal(got, want) {
			t.Fatal("after rotation the new key alone does not open every value")
		}
		for i, a := range as[:3] {
			if pw, err := s.DeliveryPassword(ctx, "cs_rotate#"+strconv.Itoa(i), "cs_rotate", a.ID); err != nil || pw != delivered[i] {
				t.Fatalf("delivery password %d after rotation: %q, %v; want the one made before", i, pw, err)
			}
		}
		stranger := ring(t, k3).Seal([]byte(`{}`), []byte("account:"+strconv.FormatInt(as[7].ID, 10)))
		if _, err := setSealed(t, s, stranger, as[7].ID); err != nil {
			t.Fatal(err)
		}
		r, err = s.ResealSecrets(ctx, nil)
		if err != nil || !slices.Equal(r.Failed, []int64{as[7].ID}) || r.Resealed != 0 {
			t.Fatalf("a value of an unknown key: %+v, %v", r, err)
		}
		if sealedColumn(t, s)[as[7].ID] != stranger {
			t.Fatal("a value that does not open was changed")
		}
	})
}

// setSealed writes a sealed value as it is (what another key or an older poold wrote).
func setSealed(t *testing.T, s *store.Store, v string, id int64) (sql.Result, error) {
	t.Helper()
	q := `UPDATE accounts SET secrets = ? WHERE id = ?`
	if s.Postgres() {
		q = `UPDATE accounts SET secrets = $1 WHERE id = $2`
	}
	return s.DB().Exec(q, v, id)
}
