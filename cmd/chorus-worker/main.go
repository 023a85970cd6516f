// Command chorus-worker runs one Chorus replica. See chorus-worker --help.
package main

import (
	"os"

	"github.com/chorusdb/chorus/worker"
)

func main() { os.Exit(worker.Main(os.Args[1:], os.Stderr)) }
