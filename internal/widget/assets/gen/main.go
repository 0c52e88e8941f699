// Command gen rebuilds the widget's dist files from web/widget. Run it with
// `go generate ./internal/widget/assets` after changing a source, and commit
// the result: the assets tests fail while dist is stale.
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/porthole-chat/porthole/internal/widget/assets/build"
)

func main() {
	web := flag.String("web", "../../../web/widget", "widget source directory")
	dist := flag.String("dist", "dist", "output directory")
	flag.Parse()
	files, err := build.Build(*web)
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range build.Outputs {
		if err := os.WriteFile(filepath.Join(*dist, name), files[name], 0o644); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s (%d bytes)", filepath.Join(*dist, name), len(files[name]))
	}
}
