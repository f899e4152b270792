// Package secret seals account secrets at rest (AES-256-GCM), loads or creates the key, and
// generates passwords. Nothing here logs; errors never carry secret material.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

// ErrOpen is returned when a sealed value cannot be opened (wrong key, tampered, or moved to
// another row).
var ErrOpen = errors.New("secret: cannot open sealed value (wrong key or tampered data)")

// Box seals and opens values with one AES-256-GCM key.
type Box struct{ aead cipher.AEAD }

// NewBox returns a Box for a 32-byte key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext bound to aad (e.g. the row's identity, so a sealed value copied to
// another row does not open) and returns base64 text: nonce ‖ ciphertext.
func (b *Box) Seal(plaintext, aad []byte) string {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("secret: crypto/rand failed: " + err.Error()) // never happens on Linux ≥ 3.17
	}
	return base64.RawStdEncoding.EncodeToString(b.aead.Seal(nonce, nonce, plaintext, aad))
}

// Open reverses Seal.
func (b *Box) Open(sealed string, aad []byte) ([]byte, error) {
	raw, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return nil, ErrOpen
	}
	n := b.aead.NonceSize()
	out, err := b.aead.Open(nil, raw[:n], raw[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// LoadKey returns the sealing key: from envValue (base64 of 32 bytes, e.g. POOL_SECRET_KEY)
// when set, else from path, creating that file with a fresh random key and mode 0600 on first
// run. A key file readable by group or others is refused.
func LoadKey(envValue, path string) ([]byte, error) {
	if envValue != "" {
		key, err := decodeKey(envValue)
		if err != nil {
			return nil, fmt.Errorf("POOL_SECRET_KEY: %w", err)
		}
		return key, nil
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("secret key file: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("secret key file %s has mode %v: it must not be readable by group or others (chmod 600)", path, fi.Mode().Perm())
		}
		key, err := decodeKey(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("secret key file %s: %w", path, err)
		}
		return key, nil
	case errors.Is(err, os.ErrNotExist):
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("secret: generate key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("secret key dir: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if errors.Is(err, os.ErrExist) { // another process created it first
				return LoadKey("", path)
			}
			return nil, fmt.Errorf("secret key file: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("secret key file: %w", err)
		}
		return key, nil
	default:
		return nil, fmt.Errorf("secret key file: %w", err)
	}
}

func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not valid base64 (generate one with: head -c32 /dev/urandom | base64)")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("decodes to %d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789" // no look-alikes

// Password returns n characters (n ≥ 24) drawn uniformly from crypto/rand.
func Password(n int) string {
	if n < 24 {
		n = 24
	}
	return randomString(n)
}

func randomString(n int) string {
	out := make([]byte, n)
	buf := make([]byte, 1)
	for i := 0; i < n; {
		if _, err := rand.Read(buf); err != nil {
			panic("secret: crypto/rand failed: " + err.Error())
		}
		// rejection sampling keeps the draw uniform over the alphabet
		if int(buf[0]) >= 256-256%len(alphabet) {
			continue
		}
		out[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return string(out)
}

// Token returns a random 32-byte value, base64url without padding (for LANGFLOW_SECRET_KEY and
// the like).
func Token() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
