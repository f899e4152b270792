// Command sleeper is the whole of the test image dockertest builds FROM scratch: it waits until
// it is stopped. It stands in for a tenant's process wherever only the container matters.
//
// `sleeper spawn N` is a bounded fork bomb: it starts up to N more sleepers and exits 0 as soon
// as the kernel refuses one (a pids limit biting), or 3 when all N started.
package main

import (
	"errors"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "spawn" {
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			os.Exit(4)
		}
		os.Exit(spawn(n))
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}

func spawn(n int) int {
	for range n {
		_, err := syscall.ForkExec("/sleeper", []string{"/sleeper"}, &syscall.ProcAttr{})
		if errors.Is(err, syscall.EAGAIN) {
			return 0
		}
		if err != nil {
			return 5
		}
	}
	return 3
}
