package secret

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// sealedPrefix starts every value sealed by a Keyring: "k1:<key id>:<base64 nonce ‖ ciphertext>".
// A value without it was sealed before key ids existed (a bare Box); a Keyring opens those with
// each of its keys in turn, and `poold secrets rotate` re-seals them.
const sealedPrefix = "k1:"

// ErrUnknownKey is returned for a value sealed with a key the keyring does not hold.
var ErrUnknownKey = errors.New("secret: wrong key: the value was sealed with a key that is not in the keyring (add that key after the current one)")

// KeyID names a key without revealing it: 8 hex digits of an HMAC of a fixed label under the
// key.
func KeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tenantpool/secret/key-id/v1"))
	return hex.EncodeToString(m.Sum(nil)[:4])
}

// Keyring seals with its current key and opens with any of its keys: the current one and the
// old ones kept for reading while their values are re-sealed (rotation). It is safe for
// concurrent use.
type Keyring struct {
	ids   []string // current first, then the old keys in the order given
	keys  map[string][]byte
	boxes map[string]*Box
}

// NewKeyring returns a keyring sealing with current and opening with current and old. The
// same key given twice is an error.
func NewKeyring(current []byte, old ...[]byte) (*Keyring, error) {
	k := &Keyring{keys: map[string][]byte{}, boxes: map[string]*Box{}}
	for i, key := range append([][]byte{current}, old...) {
		b, err := NewBox(key)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		id := KeyID(key)
		if _, dup := k.boxes[id]; dup {
			return nil, fmt.Errorf("key %d: the same key is listed twice", i+1)
		}
		k.ids = append(k.ids, id)
		k.keys[id], k.boxes[id] = key, b
	}
	return k, nil
}

// CurrentID is the id of the key new values are sealed with.
func (k *Keyring) CurrentID() string { return k.ids[0] }

// IDs are the ids of every key, the current one first.
func (k *Keyring) IDs() []string { return append([]string(nil), k.ids...) }

// CurrentPrefix is how every value sealed with the current key starts (for a store's query of
// the values still to re-seal).
func (k *Keyring) CurrentPrefix() string { return sealedPrefix + k.ids[0] + ":" }

// Oldest is the last key listed: the pool's first key once keys were rotated in the documented
// order (current first, then older ones, newest first). Derived secrets that cannot be
// re-sealed by `poold secrets rotate` (the tenant stacks' Pulumi passphrase) come from it.
func (k *Keyring) Oldest() []byte { return k.keys[k.ids[len(k.ids)-1]] }

// Seal encrypts plaintext bound to aad with the current key and names the key in the result.
func (k *Keyring) Seal(plaintext, aad []byte) string {
	return k.CurrentPrefix() + k.boxes[k.ids[0]].Seal(plaintext, aad)
}

// Open reverses Seal, with the key the value names; a value without a key id (sealed before
// key ids) is tried with every key, the current one first.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	if rest, ok := strings.CutPrefix(sealed, sealedPrefix); ok {
		id, body, ok := strings.Cut(rest, ":")
		if !ok {
			return nil, ErrOpen
		}
		b, known := k.boxes[id]
		if !known {
			return nil, fmt.Errorf("%w: key id %s", ErrUnknownKey, id)
		}
		return b.Open(body, aad)
	}
	for _, id := range k.ids {
		if out, err := k.boxes[id].Open(sealed, aad); err == nil {
			return out, nil
		}
	}
	return nil, ErrOpen
}

// Current reports whether sealed names the current key (nothing to re-seal).
func (k *Keyring) Current(sealed string) bool { return strings.HasPrefix(sealed, k.CurrentPrefix()) }

// ParseKeyring reads keyring text: base64 keys of 32 bytes separated by commas or newlines,
// the current key first, then the old ones kept for reading (newest first). Lines starting
// with # are comments. Errors name a key's position, never its content.
func ParseKeyring(text string) (*Keyring, error) {
	var keys [][]byte
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, f := range strings.Split(line, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			key, err := decodeKey(f)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", len(keys)+1, err)
			}
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no key (generate one with: head -c32 /dev/urandom | base64)")
	}
	return NewKeyring(keys[0], keys[1:]...)
}

// ReadKeyFile reads a keyring file, refusing one readable by group or others.
func ReadKeyFile(path string) (*Keyring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sealing key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("sealing key file %s has mode %v: it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sealing key file: %w", err)
	}
	k, err := ParseKeyring(string(data))
	if err != nil {
		return nil, fmt.Errorf("sealing key file %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateKeyFile reads the keyring file at path, creating it with one fresh random key
// (mode 0600, its directory 0700) when it does not exist: the development default.
func LoadOrCreateKeyFile(path string) (*Keyring, error) {
	k, err := ReadKeyFile(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secret: generate key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sealing key dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) { // another process created it first
			return ReadKeyFile(path)
		}
		return nil, fmt.Errorf("sealing key file: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("sealing key file: %w", err)
	}
	return NewKeyring(key)
}
