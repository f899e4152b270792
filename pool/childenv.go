package pool

import "strings"

// childEnvNames are the variables a child process of the daemon (the Pulumi CLI and the
// provider plugins it starts, ssh to a Docker host, `pulumi plugin install`) inherits by name:
// what finds programs and files, temporary directories, locale, proxies and CA certificates,
// and the ssh agent for ssh:// Docker hosts.
var childEnvNames = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true,
	"TMPDIR": true, "TMP": true, "TEMP": true,
	"TZ": true, "LANG": true, "LANGUAGE": true,
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "ALL_PROXY": true,
	"http_proxy": true, "https_proxy": true, "no_proxy": true, "all_proxy": true,
	"SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
	"SSH_AUTH_SOCK":   true,
	"XDG_CONFIG_HOME": true, "XDG_CACHE_HOME": true, "XDG_RUNTIME_DIR": true,
}

// childEnvPrefixes are the families a child inherits whole: locale (LC_), Pulumi's own settings
// (PULUMI_: the access token of Pulumi Cloud, a passphrase for `poold platform`), the Docker
// client's (DOCKER_: certificates, registry auth config), and the credentials of the state
// backends and KMS secrets providers the README lists (AWS_ for s3:// and awskms://, AZURE_ for
// azblob:// and azurekeyvault://, GOOGLE_ and CLOUDSDK_ for gs:// and gcpkms://, VAULT_ for
// hashivault://).
var childEnvPrefixes = []string{"LC_", "PULUMI_", "DOCKER_", "AWS_", "AZURE_", "GOOGLE_", "CLOUDSDK_", "VAULT_"}

// ChildEnv returns the entries of environ (os.Environ()'s form, KEY=value) that a child process
// of the daemon may see: an allow-list (childEnvNames, childEnvPrefixes). Everything else stays
// in the daemon — above all its own settings and secrets (POOL_*: the sealing key, admin tokens,
// Stripe webhook secrets, the SMTP password, the Cloudflare token; TENANTPOOL_*), which a
// provider plugin, or a command an ssh option could name, must never read.
func ChildEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.HasPrefix(k, "POOL_") || strings.HasPrefix(k, "TENANTPOOL_") {
			continue
		}
		if childEnvNames[k] || hasAnyPrefix(k, childEnvPrefixes) {
			out = append(out, kv)
		}
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
