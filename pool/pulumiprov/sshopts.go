package pulumiprov

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ssh options of a host (platform.Host.SSHOpts) are handed to ssh on this machine by the Docker
// provider, which runs here, beside the daemon. They come from the platform stack's outputs or
// the config file, and an option such as ProxyCommand or LocalCommand runs any command on the
// daemon's machine. So only an allow-list of -o options with plain values is accepted.

var (
	sshPathRE  = regexp.MustCompile(`^(/|~/)[A-Za-z0-9._/%+-]*$`)
	sshUserRE  = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)
	sshAlgosRE = regexp.MustCompile(`^[+^-]?[A-Za-z0-9@.+-]+(,[A-Za-z0-9@.+-]+)*$`)
	sshAliasRE = regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}$`)
	sshDurRE   = regexp.MustCompile(`^[0-9]{1,6}[smhdwSMHDW]?$`)
)

func oneOf(vals ...string) func(string) bool {
	return func(v string) bool {
		for _, x := range vals {
			if strings.EqualFold(v, x) {
				return true
			}
		}
		return false
	}
}

func intIn(lo, hi int) func(string) bool {
	return func(v string) bool {
		n, err := strconv.Atoi(v)
		return err == nil && n >= lo && n <= hi
	}
}

func sshPath(v string) bool { return sshPathRE.MatchString(v) && !strings.Contains(v, "..") }

// sshAllowed are the ssh options a host may carry, with the values each accepts. Keys are
// lowercase (ssh's option names are case-insensitive).
var sshAllowed = map[string]struct {
	name  string
	valid func(string) bool
	want  string
}{
	"stricthostkeychecking":    {"StrictHostKeyChecking", oneOf("yes", "accept-new"), "yes or accept-new"},
	"userknownhostsfile":       {"UserKnownHostsFile", sshPath, "an absolute or ~/ path"},
	"globalknownhostsfile":     {"GlobalKnownHostsFile", sshPath, "an absolute or ~/ path"},
	"identityfile":             {"IdentityFile", sshPath, "an absolute or ~/ path"},
	"certificatefile":          {"CertificateFile", sshPath, "an absolute or ~/ path"},
	"identitiesonly":           {"IdentitiesOnly", oneOf("yes", "no"), "yes or no"},
	"port":                     {"Port", intIn(1, 65535), "a port number"},
	"user":                     {"User", sshUserRE.MatchString, "a user name"},
	"connecttimeout":           {"ConnectTimeout", intIn(1, 3600), "seconds (1-3600)"},
	"connectionattempts":       {"ConnectionAttempts", intIn(1, 10), "1-10"},
	"serveraliveinterval":      {"ServerAliveInterval", intIn(0, 3600), "seconds (0-3600)"},
	"serveralivecountmax":      {"ServerAliveCountMax", intIn(0, 100), "0-100"},
	"tcpkeepalive":             {"TCPKeepAlive", oneOf("yes", "no"), "yes or no"},
	"compression":              {"Compression", oneOf("yes", "no"), "yes or no"},
	"batchmode":                {"BatchMode", oneOf("yes"), "yes"},
	"checkhostip":              {"CheckHostIP", oneOf("yes", "no"), "yes or no"},
	"addressfamily":            {"AddressFamily", oneOf("any", "inet", "inet6"), "any, inet or inet6"},
	"loglevel":                 {"LogLevel", oneOf("quiet", "fatal", "error", "info", "verbose", "debug", "debug1", "debug2", "debug3"), "an ssh log level"},
	"hostkeyalias":             {"HostKeyAlias", sshAliasRE.MatchString, "a host name"},
	"hostkeyalgorithms":        {"HostKeyAlgorithms", sshAlgosRE.MatchString, "a comma-separated algorithm list"},
	"pubkeyacceptedalgorithms": {"PubkeyAcceptedAlgorithms", sshAlgosRE.MatchString, "a comma-separated algorithm list"},
	"controlmaster":            {"ControlMaster", oneOf("auto", "no"), "auto or no"},
	"controlpath":              {"ControlPath", func(v string) bool { return strings.EqualFold(v, "none") || sshPath(v) }, "none or an absolute or ~/ path"},
	"controlpersist":           {"ControlPersist", func(v string) bool { return oneOf("yes", "no")(v) || sshDurRE.MatchString(v) }, "yes, no or a duration"},
}

// sshRefused names the options refused for what they do (every other option not allowed is
// refused too, as not on the list).
var sshRefused = map[string]string{
	"proxycommand":        "runs a command on the daemon's machine",
	"localcommand":        "runs a command on the daemon's machine",
	"permitlocalcommand":  "lets ssh run a local command",
	"knownhostscommand":   "runs a command on the daemon's machine",
	"remotecommand":       "replaces the command run on the host",
	"proxyjump":           "routes through another ssh hop whose own configuration applies: configure a bastion in the daemon user's ssh_config instead",
	"include":             "reads further configuration files",
	"match":               "runs commands (Match exec) and switches configuration",
	"pkcs11provider":      "loads a shared library into ssh",
	"securitykeyprovider": "loads a shared library into ssh",
	"sendenv":             "sends the daemon's environment to the host",
	"setenv":              "sets environment on the host",
	"localforward":        "opens a port",
	"remoteforward":       "opens a port",
	"dynamicforward":      "opens a port",
	"forwardagent":        "exposes the daemon's ssh agent to the host",
	"tunnel":              "opens a tunnel device",
}

// ValidateSSHOpts checks a host's ssh options: only -o options ("-o", "Key=Value" or
// "-oKey=Value") of the allow-list, each with a plain value of its kind. A refused option is an
// error naming it and why; every problem is reported at once.
func ValidateSSHOpts(opts []string) error {
	var errs []error
	for i := 0; i < len(opts); i++ {
		arg := opts[i]
		var kv string
		switch {
		case arg == "-o":
			if i+1 >= len(opts) {
				errs = append(errs, errors.New(`ssh option "-o" without a value`))
				continue
			}
			i++
			kv = opts[i]
		case strings.HasPrefix(arg, "-o"):
			kv = arg[2:]
		default:
			errs = append(errs, fmt.Errorf("ssh argument %q refused: only -o Key=Value options are accepted (use -o IdentityFile=…, -o Port=…, -o User=…)", arg))
			continue
		}
		if err := checkSSHOption(kv); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkSSHOption(kv string) error {
	key, val, ok := strings.Cut(kv, "=")
	if !ok {
		key, val, ok = strings.Cut(kv, " ")
	}
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	lk := strings.ToLower(key)
	if why, refused := sshRefused[lk]; refused {
		return fmt.Errorf("ssh option %s refused: it %s", key, why)
	}
	allowed, known := sshAllowed[lk]
	switch {
	case key == "":
		return fmt.Errorf("ssh option %q: no option name", kv)
	case !known:
		return fmt.Errorf("ssh option %s refused: not among the allowed options (%s)", key, sshAllowedNames())
	case !ok || val == "":
		return fmt.Errorf("ssh option %s: no value", allowed.name)
	case !allowed.valid(val):
		return fmt.Errorf("ssh option %s=%q refused: want %s", allowed.name, val, allowed.want)
	}
	return nil
}

func sshAllowedNames() string {
	names := make([]string, 0, len(sshAllowed))
	for _, o := range sshAllowed {
		names = append(names, o.name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
