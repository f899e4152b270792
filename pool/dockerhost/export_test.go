package dockerhost

// Test-only access to the ssh transport's pieces.
var (
	SSHArgs          = sshArgs
	NewCommandClient = newCommandClient
)
