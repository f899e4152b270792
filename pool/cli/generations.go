package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/axiestudio/tenantpool/pool"
	"github.com/axiestudio/tenantpool/pool/admin"
	"github.com/axiestudio/tenantpool/pool/store"
)

// printGenerations is the generations part of `poold status`: how many live accounts run each
// generation of each tier, by state.
func printGenerations(ctx context.Context, e *Env, s *store.Store) error {
	counts, err := s.GenerationCounts(ctx)
	if err != nil {
		return err
	}
	rows := admin.GenerationRows(counts, nil)
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(e.Stdout)
	w := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TIER\tGENERATION\tACCOUNTS\tBY STATE")
	for _, r := range rows {
		gen := r.Generation
		if gen == "" {
			gen = "(none)"
		}
		var parts []string
		for _, st := range pool.States {
			if n := r.Counts[string(st)]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", st, n))
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", r.Tier, gen, r.Total, strings.Join(parts, ", "))
	}
	return w.Flush()
}
