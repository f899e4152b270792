// Command sleeper is the whole of the test image dockertest builds FROM scratch: it waits until
// it is stopped. It stands in for a tenant's process wherever only the container matters.
//
// `sleeper spawn N` is a bounded fork bomb: it starts up to N more sleepers and exits 0 as soon
// as the kernel refuses one (a pids limit biting), or 3 when all N started.
//
// `sleeper bind ADDR` asks whether it may listen on the TCP address: exit 0 when the kernel
// allows it (bound, or the port already in use: the permission check comes first), 13 when it
// refuses permission (a privileged port without CAP_NET_BIND_SERVICE).
package main

import (
	"errors"
	"net"
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
	if len(os.Args) == 3 && os.Args[1] == "bind" {
		os.Exit(bind(os.Args[2]))
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

func bind(addr string) int {
	l, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		l.Close()
		return 0
	case errors.Is(err, syscall.EADDRINUSE):
		return 0
	case errors.Is(err, syscall.EACCES):
		return 13
	}
	return 5
}
