// Command kitaru runs durable LLM flows declared in YAML.
package main

import (
	"os"

	"github.com/kitaruhq/kitaru/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
