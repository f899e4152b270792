// Command sleeper is the whole of the test image dockertest builds FROM scratch: it waits until
// it is stopped. It stands in for a tenant's process wherever only the container matters.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
