package admin

import (
	"encoding/csv"
	"io"
	"strings"

	"github.com/axiestudio/tenantpool/pool"
)

// CSVHeader is the first row of an export.
var CSVHeader = []string{"username", "password", "url", "tier", "state"}

// CSVSafe neutralises a cell a spreadsheet would run as a formula (one starting with =, +, -,
// @, tab or carriage return) by prefixing it with a single quote.
func CSVSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV writes the export of reserved accounts: CSVHeader, then one row per account with
// every cell passed through CSVSafe. The accounts are listed as reserved, which is what the
// export makes them.
func WriteCSV(w io.Writer, as []pool.Account) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, a := range as {
		cw.Write([]string{CSVSafe(a.CustomerUser), CSVSafe(a.CustomerPassword), CSVSafe(a.URL), CSVSafe(a.Tier), string(pool.StateReserved)})
	}
	cw.Flush()
	return cw.Error()
}
