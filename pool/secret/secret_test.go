package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpenRoundTripAndBinding(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	box, err := NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := box.Seal([]byte("hunter2-very-secret"), []byte("client07"))
	if strings.Contains(sealed, "hunter2") {
		t.Fatal("sealed text contains the plaintext")
	}
	got, err := box.Open(sealed, []byte("client07"))
	if err != nil || string(got) != "hunter2-very-secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := box.Open(sealed, []byte("client08")); !errors.Is(err, ErrOpen) {
		t.Fatalf("open with another row's aad: err = %v, want ErrOpen", err)
	}
	other, _ := NewBox(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(sealed, []byte("client07")); !errors.Is(err, ErrOpen) {
		t.Fatalf("open with another key: err = %v, want ErrOpen", err)
	}
	if _, err := box.Open("!!not base64", nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("garbage: err = %v", err)
	}
	if box.Seal([]byte("x"), nil) == box.Seal([]byte("x"), nil) {
		t.Fatal("two seals of the same value are equal: nonce reuse")
	}
	if _, err := NewBox([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestLoadKeyCreatesFileOnceWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret.key")
	k1, err := LoadKey("", path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadKey("", path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load = %x, %v; want the same key", k2, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey("", path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: err = %v", err)
	}
}

func TestLoadKeyFromEnv(t *testing.T) {
	want := bytes.Repeat([]byte{3}, KeySize)
	got, err := LoadKey(base64.StdEncoding.EncodeToString(want), "/nonexistent/never/created")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("LoadKey(env) = %x, %v", got, err)
	}
	for _, bad := range []string{"not base64 at all!", base64.StdEncoding.EncodeToString([]byte("too short"))} {
		_, err := LoadKey(bad, "/nonexistent")
		if err == nil || strings.Contains(err.Error(), bad) {
			t.Fatalf("LoadKey(%q) err = %v: want an error that does not echo the value", bad, err)
		}
	}
}

func TestPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p := Password(24)
		if len(p) != 24 {
			t.Fatalf("len = %d", len(p))
		}
		for _, c := range p {
			if !strings.ContainsRune(alphabet, c) {
				t.Fatalf("char %q not in alphabet", c)
			}
		}
		if seen[p] {
			t.Fatal("duplicate password")
		}
		seen[p] = true
	}
	if len(Password(3)) != 24 {
		t.Fatal("short length not raised to 24")
	}
	if len(Token()) != 43 {
		t.Fatalf("token len = %d", len(Token()))
	}
}
