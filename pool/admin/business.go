package admin

import (
	"context"
	"fmt"
	"net/http"

	"github.com/axiestudio/tenantpool/pool/business"
)

// Business gives the business figures (business.Service).
type Business interface {
	Report(ctx context.Context) (business.Report, error)
}

var _ Business = (*business.Service)(nil)

// businessJSON answers GET /admin/v1/business: the business.Report.
func (a *API) businessJSON(w http.ResponseWriter, r *http.Request) error {
	if a.business == nil {
		return fmt.Errorf("%w: business figures are not configured on this daemon", errUnavailable)
	}
	rep, err := a.business.Report(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// businessCSV answers GET /admin/v1/business.csv: the same figures as business.WriteCSV, as a
// download.
func (a *API) businessCSV(w http.ResponseWriter, r *http.Request) error {
	if a.business == nil {
		return fmt.Errorf("%w: business figures are not configured on this daemon", errUnavailable)
	}
	rep, err := a.business.Report(r.Context())
	if err != nil {
		return err
	}
	return business.ServeCSV(w, rep)
}
