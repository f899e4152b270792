package admin

import (
	"bytes"
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
	var body bytes.Buffer
	if err := business.WriteCSV(&body, rep); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="poold-business-`+rep.At.Format("2006-01-02")+`.csv"`)
	w.WriteHeader(http.StatusOK)
	w.Write(body.Bytes())
	return nil
}
