package shop_test

import (
	"strings"
	"testing"

	"github.com/axiestudio/tenantpool/pool/shop"
)

func TestValidateAPIKey(t *testing.T) {
	for _, ok := range []string{"sk_test_abc", "sk_live_abc", "rk_test_abc", "rk_live_abc"} {
		if err := shop.ValidateAPIKey(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "sk_test_", "pk_test_abc", "whsec_abc", "sk_test_a b", "abc"} {
		err := shop.ValidateAPIKey(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if len(bad) > 8 && strings.Contains(err.Error(), bad) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
}

func TestParsePublicURL(t *testing.T) {
	if got, err := shop.ParsePublicURL("https://shop.example.test/store/"); err != nil || got != "https://shop.example.test/store" {
		t.Fatalf("%q %v", got, err)
	}
	for _, bad := range []string{"", "shop.example.test", "ftp://shop.example.test", "https://shop.example.test/?a=1", "https://u:p@shop.example.test", "https:///x"} {
		if _, err := shop.ParsePublicURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
