//go:build linux

package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/coder/quartz"
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// DefaultInterval is how often Run applies the policy again.
const DefaultInterval = 30 * time.Second

func (p Policy) nftTable() *nftables.Table {
	return &nftables.Table{Name: p.table(), Family: nftables.TableFamilyINet}
}

// Apply writes the policy's table, replacing the one there (if any) in one transaction. It needs
// CAP_NET_ADMIN in the host's network namespace.
func Apply(p Policy) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("egress policy: %w", err)
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("egress policy: netlink: %w", err)
	}
	t := p.nftTable()
	// add + delete + add: the delete cannot fail for a missing table, and the whole batch is one
	// transaction, so the old rules are replaced without a gap.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	chains := map[string]*nftables.Chain{}
	// In a fixed order: nft lists chains in the order they were made, as Ruleset does.
	for _, ch := range []struct {
		name string
		hook *nftables.ChainHook
	}{{ChainInput, nftables.ChainHookInput}, {ChainForward, nftables.ChainHookForward}} {
		chains[ch.name] = c.AddChain(&nftables.Chain{Name: ch.name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: ch.hook, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	}
	for _, r := range Rules(p) {
		c.AddRule(&nftables.Rule{Table: t, Chain: chains[r.Chain], Exprs: r.exprs(p.Bridge),
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.Comment)})
	}
	for _, ch := range []struct {
		name string
		hook *nftables.ChainHook
	}{{ChainPrerouting, nftables.ChainHookPrerouting}, {ChainOutput, nftables.ChainHookOutput}} {
		if len(p.Redirects) == 0 {
			break
		}
		nat := c.AddChain(&nftables.Chain{Name: ch.name, Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: ch.hook, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
		for _, r := range p.Redirects {
			c.AddRule(&nftables.Rule{Table: t, Chain: nat, Exprs: r.exprs(p.Bridge),
				UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment())})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("egress policy: write table inet %s: %w", p.table(), err)
	}
	return nil
}

// Remove deletes the policy's table; a missing table is no error.
func Remove(p Policy) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("egress policy: netlink: %w", err)
	}
	t := p.nftTable()
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("egress policy: delete table inet %s: %w", p.table(), err)
	}
	return nil
}

// Installed reports whether the host has the policy's table with p's number of rules in each
// chain: false after a flush of the ruleset or a deletion of the table or of any rule.
func Installed(p Policy) (bool, error) {
	c, err := nftables.New()
	if err != nil {
		return false, fmt.Errorf("egress policy: netlink: %w", err)
	}
	t, err := c.ListTableOfFamily(p.table(), nftables.TableFamilyINet)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("egress policy: list table: %w", err)
	}
	want := map[string]int{}
	for _, r := range Rules(p) {
		want[r.Chain]++
	}
	if len(p.Redirects) > 0 {
		want[ChainPrerouting] = len(p.Redirects)
		want[ChainOutput] = len(p.Redirects)
	}
	for chain, n := range want {
		rules, err := c.GetRules(t, &nftables.Chain{Name: chain, Table: t})
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("egress policy: list chain %s: %w", chain, err)
		}
		if len(rules) != n {
			return false, nil
		}
	}
	return true, nil
}

// Run applies the policy at once — a failure there is returned — and again every interval on clk
// until ctx ends, logging a table it found missing or changed (a flushed ruleset) and any failure
// to apply (the next tick retries).
func Run(ctx context.Context, clk quartz.Clock, every time.Duration, p Policy, log *slog.Logger) error {
	if err := Apply(p); err != nil {
		return err
	}
	log.Info("egress policy applied", "bridge", p.Bridge, "table", "inet "+p.table(), "rules", len(Rules(p)), "every", every.String())
	tick := clk.NewTicker(every, "egress")
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		ok, err := Installed(p)
		if err != nil {
			log.Error("egress policy: check", "bridge", p.Bridge, "err", err)
		} else if !ok {
			log.Warn("egress policy was missing or changed: applying it again", "bridge", p.Bridge)
		}
		if err := Apply(p); err != nil {
			log.Error("egress policy: apply", "bridge", p.Bridge, "err", err)
		}
	}
}

// The registers and protocol numbers the expressions use.
const reg = 1

func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// exprs is the rule as nftables expressions.
func (r Rule) exprs(bridge string) []expr.Any {
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: ifname(bridge)},
	}
	if r.Replies {
		e = append(e,
			&expr.Ct{Register: reg, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
				Xor:  binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: binaryutil.NativeEndian.PutUint32(0)},
		)
	}
	if r.Daddr.IsValid() {
		proto, offset := byte(unix.NFPROTO_IPV4), uint32(16) // IPv4 header: destination at 16
		if r.Daddr.Addr().Is6() {
			proto, offset = unix.NFPROTO_IPV6, 24 // IPv6 header: destination at 24
		}
		addr := r.Daddr.Masked().Addr().AsSlice()
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{proto}},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: uint32(len(addr))},
		)
		if !r.Daddr.IsSingleIP() {
			e = append(e, &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: uint32(len(addr)),
				Mask: prefixMask(r.Daddr.Bits(), len(addr)), Xor: make([]byte, len(addr))})
		}
		e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: addr})
	}
	if r.Proto != "" {
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{l4proto(r.Proto)}},
		)
		switch {
		case r.Proto == "icmpv6" && r.ICMPv6Type != 0:
			e = append(e,
				&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{r.ICMPv6Type}},
			)
		case r.Dport != 0:
			e = append(e,
				&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.BigEndian.PutUint16(r.Dport)},
			)
		}
	}
	kind := expr.VerdictDrop
	if r.Verdict == Accept {
		kind = expr.VerdictAccept
	}
	return append(e, &expr.Verdict{Kind: kind})
}

// exprs is the redirect as nftables expressions: not from the bridge, to a local address, TCP
// to port From, redirected to port To.
func (r Redirect) exprs(bridge string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: ifname(bridge)},
		&expr.Fib{Register: reg, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.BigEndian.PutUint16(r.From)},
		&expr.Immediate{Register: reg, Data: binaryutil.BigEndian.PutUint16(r.To)},
		&expr.Redir{RegisterProtoMin: reg},
	}
}

func l4proto(name string) byte {
	switch name {
	case "tcp":
		return unix.IPPROTO_TCP
	case "udp":
		return unix.IPPROTO_UDP
	case "icmpv6":
		return unix.IPPROTO_ICMPV6
	}
	panic("egress: unknown protocol " + name)
}

// prefixMask is the network mask of bits ones in size bytes.
func prefixMask(bits, size int) []byte {
	m := make([]byte, size)
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return m
}
