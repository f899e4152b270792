// Package domainpage is the customer's own page for custom domains on the public listener:
// reached from a signed, expiring link in the credentials e-mail (Premium and up), it lists the
// account's domains with their state and the DNS records to create, and lets the customer ask
// for a domain (the same checks as the operator's attach) or remove one. The link is the only
// credential: an HMAC-SHA256 of the account id and the expiry, with a key derived from the
// sealing key, so it cannot be forged or stretched, and it names no secret.
package domainpage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/url"
	"strings"
	"time"
)

// LinkTTL is how long a link is good for.
const LinkTTL = 30 * 24 * time.Hour

// Path is the page's path on the public listener.
const Path = "/domains"

// ErrBadLink: the link is malformed, forged or expired.
var ErrBadLink = errors.New("this link is invalid or has expired: use the latest link from your e-mail, or ask support for a new one")

// Signer makes and checks the page's links.
type Signer struct{ key []byte }

// NewSigner derives the link key from the sealing key (never the sealing key itself).
func NewSigner(sealingKey []byte) *Signer {
	m := hmac.New(sha256.New, sealingKey)
	m.Write([]byte("tenantpool custom-domain page links v1"))
	return &Signer{key: m.Sum(nil)}
}

func (s *Signer) mac(msg []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(msg)
	return m.Sum(nil)[:16]
}

// Token is the signed token of account id, good until expires.
func (s *Signer) Token(id int64, expires time.Time) string {
	msg := make([]byte, 16)
	binary.BigEndian.PutUint64(msg, uint64(id))
	binary.BigEndian.PutUint64(msg[8:], uint64(expires.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(msg, s.mac(msg)...))
}

// Link is the page's URL under base (the public URL) for account id, from now.
func (s *Signer) Link(base string, id int64, now time.Time) string {
	return strings.TrimSuffix(base, "/") + Path + "?" + url.Values{"t": {s.Token(id, now.Add(LinkTTL))}}.Encode()
}

// Verify returns the account id of a token good at now.
func (s *Signer) Verify(token string, now time.Time) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 32 {
		return 0, ErrBadLink
	}
	if !hmac.Equal(b[16:], s.mac(b[:16])) {
		return 0, ErrBadLink
	}
	if now.Unix() > int64(binary.BigEndian.Uint64(b[8:16])) {
		return 0, ErrBadLink
	}
	return int64(binary.BigEndian.Uint64(b[:8])), nil
}
