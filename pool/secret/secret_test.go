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

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

func TestKeyFileCreatedOnceWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret.key")
	k1, err := LoadOrCreateKeyFile(path)
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
	k2, err := LoadOrCreateKeyFile(path)
	if err != nil || k2.CurrentID() != k1.CurrentID() {
		t.Fatalf("second load = %v, %v; want the same key", k2, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: err = %v", err)
	}
	if _, err := ReadKeyFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing explicit key file: err = %v, want not exist (never created)", err)
	}
}

func TestParseKeyring(t *testing.T) {
	cur, old := bytes.Repeat([]byte{3}, KeySize), bytes.Repeat([]byte{4}, KeySize)
	k, err := ParseKeyring("# rotated 2026-12\n" + b64(cur) + "\n" + b64(old) + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := k.IDs(); len(got) != 2 || got[0] != KeyID(cur) || got[1] != KeyID(old) || !bytes.Equal(k.Oldest(), old) {
		t.Fatalf("ids %v, oldest %x", got, k.Oldest())
	}
	if k2, err := ParseKeyring(b64(cur) + "," + b64(old)); err != nil || k2.CurrentID() != KeyID(cur) {
		t.Fatalf("comma-separated: %v", err)
	}
	for _, bad := range []string{"", "not base64 at all!", b64([]byte("too short")), b64(cur) + "," + b64(cur)} {
		_, err := ParseKeyring(bad)
		if err == nil || (bad != "" && strings.Contains(err.Error(), bad)) {
			t.Fatalf("ParseKeyring(%q) err = %v: want an error that does not echo the value", bad, err)
		}
	}
}

// Values name their key; old keys still open theirs, and values sealed before key ids (a bare
// Box) open with whichever key sealed them; rotation is visible through Current.
func TestKeyringRotation(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	legacyBox, _ := NewBox(k1)
	legacy := legacyBox.Seal([]byte("from before key ids"), []byte("row1"))
	ring1, err := NewKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	v1 := ring1.Seal([]byte("sealed with k1"), []byte("row1"))
	if !strings.HasPrefix(v1, "k1:"+KeyID(k1)+":") || !ring1.Current(v1) || ring1.Current(legacy) {
		t.Fatalf("sealed %q: want it to name key %s", v1[:12], KeyID(k1))
	}
	ring2, err := NewKeyring(k2, k1) // rotated: k2 seals, k1 still opens
	if err != nil {
		t.Fatal(err)
	}
	for sealed, want := range map[string]string{legacy: "from before key ids", v1: "sealed with k1"} {
		got, err := ring2.Open(sealed, []byte("row1"))
		if err != nil || string(got) != want {
			t.Fatalf("Open after rotation = %q, %v; want %q", got, err, want)
		}
		if ring2.Current(sealed) {
			t.Fatal("a value of the old key counts as current")
		}
	}
	v2 := ring2.Seal([]byte("sealed with k2"), []byte("row1"))
	if !ring2.Current(v2) {
		t.Fatal("a fresh seal is not current")
	}
	if _, err := ring1.Open(v2, []byte("row1")); !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("open with a keyring lacking the key: %v, want ErrUnknownKey", err)
	}
	if _, err := ring2.Open(v2, []byte("row2")); !errors.Is(err, ErrOpen) {
		t.Fatalf("another row's aad: %v, want ErrOpen", err)
	}
	ring3, _ := NewKeyring(k2) // k1 dropped: its legacy value no longer opens
	if _, err := ring3.Open(legacy, []byte("row1")); !errors.Is(err, ErrOpen) {
		t.Fatalf("legacy value without its key: %v", err)
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
