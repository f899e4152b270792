package platform

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// DockerAPIVersion is the Engine API version of a host's Docker daemon, "<major>.<minor>" as
// `docker version --format '{{.Server.APIVersion}}'` prints it on that host. The programs adapt
// to it: Docker refuses a request that uses a field newer than its API. Empty means
// MinDockerAPIVersion, so that a host nobody described works on a stock engine.
type DockerAPIVersion string

// MinDockerAPIVersion is the oldest Engine API a host may have: Docker Engine 20.10, Debian 12's
// docker.io. It is also what a host that states no version is assumed to have.
const MinDockerAPIVersion DockerAPIVersion = "1.41"

var dockerAPIVersionRE = regexp.MustCompile(`^[0-9]{1,4}\.[0-9]{1,4}$`)

func (v DockerAPIVersion) parse() (major, minor int, ok bool) {
	if !dockerAPIVersionRE.MatchString(string(v)) {
		return 0, 0, false
	}
	a, b, _ := strings.Cut(string(v), ".")
	major, _ = strconv.Atoi(a)
	minor, _ = strconv.Atoi(b)
	return major, minor, true
}

// OrMin is v, or MinDockerAPIVersion when v is empty.
func (v DockerAPIVersion) OrMin() DockerAPIVersion {
	if v == "" {
		return MinDockerAPIVersion
	}
	return v
}

// AtLeast reports whether v (empty: MinDockerAPIVersion) is w or newer. An unparsable version is
// never at least anything.
func (v DockerAPIVersion) AtLeast(w DockerAPIVersion) bool {
	a, b, ok := v.OrMin().parse()
	c, d, ok2 := w.OrMin().parse()
	return ok && ok2 && (a > c || a == c && b >= d)
}

// Validate accepts "" (MinDockerAPIVersion) and <major>.<minor> versions no older than
// MinDockerAPIVersion.
func (v DockerAPIVersion) Validate() error {
	if _, _, ok := v.parse(); !ok && v != "" {
		return fmt.Errorf("docker API version %q must be <major>.<minor> as `docker version --format '{{.Server.APIVersion}}'` prints it, e.g. %q", string(v), MinDockerAPIVersion)
	}
	if !v.AtLeast(MinDockerAPIVersion) {
		return fmt.Errorf("docker API version %s is older than the minimum %s (Docker Engine 20.10): upgrade the engine", v, MinDockerAPIVersion)
	}
	return nil
}

// UnmarshalJSON accepts a JSON string only. YAML reads an unquoted 1.40 as the number 1.4, which
// would silently name another version, so a number is an error that says to quote it.
func (v *DockerAPIVersion) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("dockerApiVersion %s must be a quoted string such as \"1.41\" (YAML reads an unquoted 1.40 as the number 1.4)", b)
	}
	*v = DockerAPIVersion(s)
	return nil
}
