package pool

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Brand is an account's white-label settings (premium and up): the product name, logo and
// primary colour its customer sees in the studio (tab title, favicon, login page, header). The
// zero Brand is "no branding": the studio looks like stock Langflow.
type Brand struct {
	// Name replaces "Langflow" (at most MaxBrandName printable characters).
	Name string `json:"name"`
	// Logo is an https URL, or a small data URL (data:image/…;base64,…) of at most
	// MaxBrandLogoBytes decoded bytes, so a logo needs no hosting.
	Logo string `json:"logo"`
	// Color is the primary colour, #rrggbb.
	Color string `json:"color"`
}

// Brand limits.
const (
	MaxBrandName = 64
	// MaxBrandLogoBytes bounds a data URL logo's decoded size: it travels in the container's
	// environment and in every page of the studio.
	MaxBrandLogoBytes = 16 << 10
	// MaxBrandLogoURL bounds an https logo URL.
	MaxBrandLogoURL = 2048
)

// ErrInvalidBrand marks brand settings that are refused (nothing is saved).
var ErrInvalidBrand = errors.New("invalid brand")

// BrandLogoTypes are the image types a data URL logo may have.
var BrandLogoTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml", "image/x-icon"}

var brandColorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// IsZero reports whether no branding is set.
func (b Brand) IsZero() bool { return b == Brand{} }

// Normalized trims surrounding space and lowercases the colour.
func (b Brand) Normalized() Brand {
	return Brand{Name: strings.TrimSpace(b.Name), Logo: strings.TrimSpace(b.Logo), Color: strings.ToLower(strings.TrimSpace(b.Color))}
}

// Validate reports every problem, wrapped in ErrInvalidBrand. Each field may be empty.
func (b Brand) Validate() error {
	var errs []error
	if utf8.RuneCountInString(b.Name) > MaxBrandName || !utf8.ValidString(b.Name) ||
		strings.IndexFunc(b.Name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		errs = append(errs, fmt.Errorf("name must be at most %d printable characters", MaxBrandName))
	}
	if b.Logo != "" {
		if err := validateLogo(b.Logo); err != nil {
			errs = append(errs, err)
		}
	}
	if b.Color != "" && !brandColorRE.MatchString(b.Color) {
		errs = append(errs, fmt.Errorf("colour %q must be #rrggbb", trunc(b.Color, 20)))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidBrand, errors.Join(errs...))
}

func validateLogo(s string) error {
	if rest, ok := strings.CutPrefix(s, "data:"); ok {
		typ, data, ok := strings.Cut(rest, ";base64,")
		if !ok {
			return errors.New("logo: a data URL must be data:image/<type>;base64,<data>")
		}
		known := false
		for _, t := range BrandLogoTypes {
			known = known || t == typ
		}
		if !known {
			return fmt.Errorf("logo: type %q is not one of %s", trunc(typ, 40), strings.Join(BrandLogoTypes, ", "))
		}
		if base64.StdEncoding.DecodedLen(len(data)) > MaxBrandLogoBytes+3 {
			return fmt.Errorf("logo: larger than %d KiB; host it and give its https URL", MaxBrandLogoBytes>>10)
		}
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return errors.New("logo: the data URL is not valid base64")
		}
		if len(raw) > MaxBrandLogoBytes {
			return fmt.Errorf("logo: larger than %d KiB; host it and give its https URL", MaxBrandLogoBytes>>10)
		}
		if !logoMatches(typ, raw) {
			return fmt.Errorf("logo: the data is not a %s image", typ)
		}
		return nil
	}
	if len(s) > MaxBrandLogoURL {
		return fmt.Errorf("logo: URL longer than %d characters", MaxBrandLogoURL)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(s, " \"'<>\\`()") {
		return fmt.Errorf("logo %q must be an https URL or a data:image/…;base64 URL", trunc(s, 60))
	}
	return nil
}

// logoMatches checks a data URL's bytes against its declared type.
func logoMatches(typ string, raw []byte) bool {
	switch typ {
	case "image/svg+xml":
		return utf8.Valid(raw) && bytes.Contains(raw, []byte("<svg"))
	case "image/x-icon":
		return len(raw) > 4 && bytes.Equal(raw[:4], []byte{0, 0, 1, 0})
	}
	return http.DetectContentType(raw) == typ
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// CheckBrandTier refuses non-zero brand settings for a tier without branding.
func CheckBrandTier(b Brand, t Tier) error {
	if !b.IsZero() && !t.Branding {
		return fmt.Errorf("%w: tier %s does not include branding (premium and up)", ErrInvalidBrand, t.Name)
	}
	return nil
}
