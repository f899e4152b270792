package pool

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// Build is what Provision builds for a tier right now: the tenant program's version, the
// Langflow image and the generation they make together with the tier's container settings.
// A zero Build (no image configured) builds nothing: the ready pool is then never refreshed.
type Build struct {
	Generation string
	Program    string
	Image      string
}

// Generation names what shapes a tier's tenant containers: the tenant program's version, the
// image digest and the tier's container settings (memory, CPUs, limits, branding, custom
// domains — not the pool targets or prices, which shape no container). Two tenants of the same
// generation run the same thing; a change of any part is a new generation. The form is
// "g" and 16 hex digits of a SHA-256 over those parts.
func Generation(program, image string, t Tier) string {
	shape := struct {
		Program       string  `json:"program"`
		Digest        string  `json:"digest"`
		Tier          string  `json:"tier"`
		MemoryMB      int     `json:"memory_mb"`
		CPUs          float64 `json:"cpus"`
		CustomDomains int     `json:"custom_domains"`
		Branding      bool    `json:"branding"`
		Limits        Limits  `json:"limits"`
	}{program, ImageDigest(image), t.Name, t.MemoryMB, t.CPUs, t.CustomDomains, t.Branding, t.Effective()}
	raw, _ := json.Marshal(shape) // a struct of plain fields cannot fail
	sum := sha256.Sum256(raw)
	return "g" + hex.EncodeToString(sum[:8])
}

// ImageDigest is the digest of an image reference pinned by digest (repo[:tag]@sha256:…), or the
// whole reference when it has none.
func ImageDigest(image string) string {
	if i := strings.LastIndex(image, "@"); i >= 0 {
		return image[i+1:]
	}
	return image
}

// GenerationCount is how many accounts of a tier, in one state, run one generation.
type GenerationCount struct {
	Tier       string `json:"tier"`
	Generation string `json:"generation"`
	State      State  `json:"state"`
	Count      int    `json:"count"`
}
