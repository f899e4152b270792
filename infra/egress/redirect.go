package egress

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The NAT chains of the table that hold the port redirects (only when the policy has any):
// prerouting for connections from other machines, output for the host's own (a local platform's
// browser, a process in the host's network namespace).
const (
	ChainPrerouting = "prerouting"
	ChainOutput     = "output"
)

// Redirect sends TCP connections to one of the host's own addresses on port From to port To of
// the host: the edge listens on unprivileged ports as a user without capabilities, and the
// public ports 80 and 443 reach it through the redirect. It applies to traffic that comes in
// from any interface but the tenants' bridge (a tenant's connection to the host keeps its port
// and is dropped by the input chain, which sees every port after the redirect) and to the
// host's own addresses only (nothing forwarded is rewritten), and to the connections the host
// opens to itself (the output chain: no input interface there).
type Redirect struct {
	From, To uint16
}

func (r Redirect) String() string { return fmt.Sprintf("%d:%d", r.From, r.To) }

// ParseRedirect parses FROM:TO, two TCP ports.
func ParseRedirect(s string) (Redirect, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Redirect{}, fmt.Errorf("redirect %q: want FROM:TO, two ports", s)
	}
	port := func(v string) (uint16, error) {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("redirect %q: %q is not a port (1–65535)", s, v)
		}
		return uint16(n), nil
	}
	f, err1 := port(from)
	t, err2 := port(to)
	if err := errors.Join(err1, err2); err != nil {
		return Redirect{}, err
	}
	return Redirect{From: f, To: t}, nil
}

// ParseRedirects parses a list of FROM:TO.
func ParseRedirects(list []string) ([]Redirect, error) {
	var out []Redirect
	var errs []error
	for _, s := range list {
		r, err := ParseRedirect(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// validateRedirects reports every problem with a policy's redirects: a port of zero, a port
// redirected to itself, a port redirected twice, or a target that is itself redirected.
func validateRedirects(rs []Redirect) []error {
	var errs []error
	from := map[uint16]bool{}
	for _, r := range rs {
		if r.From == 0 || r.To == 0 {
			errs = append(errs, fmt.Errorf("redirect %s: ports are 1–65535", r))
		}
		if r.From == r.To {
			errs = append(errs, fmt.Errorf("redirect %s: a port redirected to itself", r))
		}
		if from[r.From] {
			errs = append(errs, fmt.Errorf("redirect %s: port %d redirected twice", r, r.From))
		}
		from[r.From] = true
	}
	for _, r := range rs {
		if from[r.To] {
			errs = append(errs, fmt.Errorf("redirect %s: port %d is redirected itself", r, r.To))
		}
	}
	return errs
}

// Text renders the redirect in a policy on bridge as nft(8) lists it (without handles).
func (r Redirect) Text(bridge string) string {
	return fmt.Sprintf("iifname != %q fib daddr type local tcp dport %d redirect to :%d comment %q", bridge, r.From, r.To, r.comment())
}

func (r Redirect) comment() string {
	return fmt.Sprintf("edge: the host's port %d is served on %d", r.From, r.To)
}
