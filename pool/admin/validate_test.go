package admin_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/store"
)

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
		"": "", "client01": "client01", "https://x.example": "https://x.example", "a=b": "a=b",
	} {
		if got := admin.CSVSafe(in); got != want {
			t.Errorf("CSVSafe(%q) = %q, want %q", in, got, want)
		}
	}
	var b bytes.Buffer
	if err := admin.WriteCSV(&b, []pool.Account{{CustomerUser: "u", CustomerPassword: "=p", URL: "+u", Tier: "basic"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "username,password,url,tier,state\nu,'=p,'+u,basic,reserved\n"; got != want {
		t.Errorf("csv %q, want %q", got, want)
	}
}

func TestValidatorsShareTheCLIRules(t *testing.T) {
	ts := tiers(t)
	err := admin.ValidateBatch(ts, 0, "client", "basic")
	var fe *admin.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("ValidateBatch: %v", err)
	}
	if got := fe.Error(); got != "count 0: must be between 1 and 500" {
		t.Errorf("JSON form %q", got)
	}
	if got := fe.Flag().Error(); got != "--count 0: must be between 1 and 500" {
		t.Errorf("flag form %q", got)
	}
	if err := admin.ValidateBatch(ts, 500, "client", "gold"); !errors.Is(err, pool.ErrUnknownTier) {
		t.Errorf("unknown tier: %v", err)
	}
	if err := admin.ValidateBatch(ts, 500, "client", "basic"); err != nil {
		t.Error(err)
	}
	if n, err := admin.ValidateExport(ts, "", 0, true); n != 0 || err != nil {
		t.Errorf("export of everything = %d, %v, want 0 (the store's every), nil", n, err)
	}
	if n, err := admin.ValidateExport(ts, "basic", 3, false); n != 3 || err != nil {
		t.Errorf("export of 3 = %d, %v", n, err)
	}
	for _, tc := range []struct {
		count      int
		all        bool
		json, flag string
	}{
		{0, false, "count or all: required", "--count or --all: required"},
		{2, true, "count or all: give one, not both", "--count or --all: give one, not both"},
		{-1, false, "count -1: must be ≥ 1", "--count -1: must be ≥ 1"},
	} {
		_, err := admin.ValidateExport(ts, "", tc.count, tc.all)
		if !errors.As(err, &fe) || !strings.HasPrefix(fe.Error(), tc.json) || !strings.HasPrefix(fe.Flag().Error(), tc.flag) {
			t.Errorf("ValidateExport(%d, %v) = %v, want %q (as flags %q)", tc.count, tc.all, err, tc.json, tc.flag)
		}
	}
	// The stored id, manual:<id>, is at most MaxOrderID bytes.
	longest := strings.Repeat("o", admin.MaxOrderID-len(store.ManualOrderPrefix))
	if err := admin.ValidateClaim(ts, longest, "basic"); err != nil {
		t.Errorf("%d-byte order: %v", len(longest), err)
	}
	if err := admin.ValidateClaim(ts, longest+"o", "basic"); err == nil {
		t.Errorf("%d-byte order accepted", len(longest)+1)
	}
	for _, bad := range []string{"cs_test_a1B2", "manual:cs_live_x", "tab\there", "nul\x00"} {
		if err := admin.ValidateClaim(ts, bad, "basic"); err == nil {
			t.Errorf("order %q accepted", bad)
		}
	}
	if id, err := admin.ManualOrderID("manual:acme-1"); err != nil || id != "manual:acme-1" {
		t.Errorf("ManualOrderID(manual:acme-1) = %q, %v", id, err)
	}
	if id, err := admin.ManualOrderID("acme-1"); err != nil || id != "manual:acme-1" {
		t.Errorf("ManualOrderID(acme-1) = %q, %v", id, err)
	}
	if f, err := admin.ValidateList(ts, "basic", "ready", 3); err != nil || f.Tier != "basic" || f.State != pool.StateReady || f.Limit != 3 {
		t.Errorf("ValidateList = %+v, %v", f, err)
	}
	if f, err := admin.ValidateOrderList("delivered", 0); err != nil || f.State != "delivered" {
		t.Errorf("ValidateOrderList = %+v, %v", f, err)
	}
}
