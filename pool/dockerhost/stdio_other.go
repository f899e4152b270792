//go:build !linux

package dockerhost

import "os/exec"

// startDyingWithParent starts cmd and returns cmd.Wait's result on done. Only Linux has a
// parent-death signal; elsewhere a command may outlive a process that is killed.
func startDyingWithParent(cmd *exec.Cmd) (done <-chan error, err error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	return waited, nil
}
