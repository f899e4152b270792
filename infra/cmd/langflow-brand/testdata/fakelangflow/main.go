// Command fakelangflow stands in for Langflow's command in the image layer's Docker test: it
// reports its pid (1 when the entrypoint exec'd it), its arguments, LANGFLOW_FRONTEND_PATH and
// the title line of the index.html found there, then exits.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	fmt.Printf("pid=%d\nargs=%s\n", os.Getpid(), strings.Join(os.Args[1:], " "))
	dir := os.Getenv("LANGFLOW_FRONTEND_PATH")
	fmt.Printf("frontend=%s\n", dir)
	if dir == "" {
		return
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		fmt.Printf("error=%v\n", err)
		os.Exit(3)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "<title>") || strings.Contains(l, `rel="icon"`) || strings.Contains(l, "--primary") {
			fmt.Printf("index=%s\n", strings.TrimSpace(l))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "assets", "index-fixture.js")); err != nil {
		fmt.Printf("error=%v\n", err)
		os.Exit(3)
	}
}
