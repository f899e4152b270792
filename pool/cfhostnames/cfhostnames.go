// Package cfhostnames reads the status of Cloudflare for SaaS custom hostnames through
// Cloudflare's API (GET /zones/{zone_id}/custom_hostnames?hostname=…). The tenant program
// creates and deletes them (cloudflare.CustomHostname); this client only reads what
// Cloudflare says of one: its status (pending, active, moved, blocked, pending_deletion, …),
// its certificate's status (initializing, pending_validation, pending_issuance,
// pending_deployment, active, …) and the DNS records the customer must create.
// cfhostnamestest is an HTTP double of those endpoints that follows the same states.
package cfhostnames

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is Cloudflare's API v4.
const DefaultBaseURL = "https://api.cloudflare.com/client/v4"

// Cloudflare's custom hostname statuses (the hostname; its certificate has SSL* below).
const (
	StatusPending         = "pending"
	StatusActive          = "active"
	StatusMoved           = "moved"
	StatusBlocked         = "blocked"
	StatusPendingDeletion = "pending_deletion"
	StatusDeleted         = "deleted"

	SSLInitializing      = "initializing"
	SSLPendingValidation = "pending_validation"
	SSLPendingIssuance   = "pending_issuance"
	SSLPendingDeployment = "pending_deployment"
	SSLActive            = "active"
)

// ErrNotFound: the zone has no custom hostname of that name.
var ErrNotFound = errors.New("custom hostname not found")

// Record is a DNS record the customer creates.
type Record struct {
	Type, Name, Value string
}

// Hostname is what Cloudflare says of one custom hostname.
type Hostname struct {
	ID        string
	Hostname  string
	Status    string
	SSLStatus string
	// Ownership is the TXT record that proves the hostname is the customer's (empty once
	// verified); Certificate are the TXT records of the certificate's domain validation.
	Ownership   *Record
	Certificate []Record
	// Errors are Cloudflare's verification errors, in its words.
	Errors []string
}

// Active reports whether the hostname and its certificate are both active: the tenant may
// serve it.
func (h Hostname) Active() bool { return h.Status == StatusActive && h.SSLStatus == SSLActive }

// Client reads custom hostnames of one zone.
type Client struct {
	base, zone, token string
	http              *http.Client
}

// New returns a client of zone with an API token that may read its custom hostnames; base ""
// is DefaultBaseURL; hc nil is a client with a 30 s timeout.
func New(base, zone, token string, hc *http.Client) (*Client, error) {
	if base == "" {
		base = DefaultBaseURL
	}
	if zone == "" || token == "" {
		return nil, errors.New("cfhostnames: zone id and API token are required")
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("cfhostnames: base URL %q is not an http(s) URL", base)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimSuffix(base, "/"), zone: zone, token: token, http: hc}, nil
}

type apiRecord struct {
	Type     string `json:"type"`
	Name     string `json:"name"`
	Value    string `json:"value"`
	TxtName  string `json:"txt_name"`
	TxtValue string `json:"txt_value"`
}

type apiHostname struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	Status   string `json:"status"`
	SSL      struct {
		Status            string      `json:"status"`
		ValidationRecords []apiRecord `json:"validation_records"`
		ValidationErrors  []struct {
			Message string `json:"message"`
		} `json:"validation_errors"`
	} `json:"ssl"`
	OwnershipVerification *apiRecord `json:"ownership_verification"`
	VerificationErrors    []string   `json:"verification_errors"`
}

type envelope struct {
	Success bool `json:"success"`
	Errors  []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
	Result []apiHostname `json:"result"`
}

// Get reads the custom hostname named hostname; ErrNotFound when the zone has none.
func (c *Client) Get(ctx context.Context, hostname string) (Hostname, error) {
	u := c.base + "/zones/" + url.PathEscape(c.zone) + "/custom_hostnames?" + url.Values{"hostname": {hostname}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Hostname{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return Hostname{}, fmt.Errorf("custom hostname %s: %w", hostname, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Hostname{}, fmt.Errorf("custom hostname %s: %w", hostname, err)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Hostname{}, fmt.Errorf("custom hostname %s: HTTP %d, not Cloudflare's JSON", hostname, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK || !env.Success {
		var msgs []string
		for _, e := range env.Errors {
			msgs = append(msgs, fmt.Sprintf("%d %s", e.Code, e.Message))
		}
		return Hostname{}, fmt.Errorf("custom hostname %s: HTTP %d: %s", hostname, resp.StatusCode, strings.Join(msgs, "; "))
	}
	for _, r := range env.Result {
		if strings.EqualFold(r.Hostname, hostname) {
			return convert(r), nil
		}
	}
	return Hostname{}, fmt.Errorf("%w: %s", ErrNotFound, hostname)
}

func convert(r apiHostname) Hostname {
	h := Hostname{ID: r.ID, Hostname: r.Hostname, Status: r.Status, SSLStatus: r.SSL.Status, Errors: r.VerificationErrors}
	if o := r.OwnershipVerification; o != nil && o.Name != "" {
		h.Ownership = &Record{Type: strings.ToUpper(o.Type), Name: o.Name, Value: o.Value}
	}
	for _, v := range r.SSL.ValidationRecords {
		if v.TxtName != "" {
			h.Certificate = append(h.Certificate, Record{Type: "TXT", Name: v.TxtName, Value: v.TxtValue})
		}
	}
	for _, e := range r.SSL.ValidationErrors {
		h.Errors = append(h.Errors, e.Message)
	}
	return h
}
