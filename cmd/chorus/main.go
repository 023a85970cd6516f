// Command chorus sends CQL statements to a Chorus cluster over NATS and
// shows the replies. Run "chorus help" for usage.
package main

import (
	"os"

	"github.com/chorusdb/chorus/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
