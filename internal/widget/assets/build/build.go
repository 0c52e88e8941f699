// Package build turns the widget sources under web/widget into the minified
// files committed in internal/widget/assets/dist. The generator (go
// generate) and the staleness test both call Build, so what is committed is
// exactly what the sources produce. It imports esbuild, so only tools and
// tests may import it, never the server.
package build

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
)

// Outputs lists the built file names, in the order Build returns them.
var Outputs = []string{"loader.js", "frame.js", "frame.css"}

// Build compiles web/widget (webDir) and returns each file of Outputs by
// name: JavaScript minified for ES2020 as one IIFE, CSS minified. The result
// depends only on the sources and the esbuild version in go.mod.
func Build(webDir string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(Outputs))
	for _, name := range Outputs {
		contents, err := buildOne(filepath.Join(webDir, name))
		if err != nil {
			return nil, err
		}
		out[name] = contents
	}
	return out, nil
}

func buildOne(entry string) ([]byte, error) {
	opts := api.BuildOptions{
		EntryPoints:       []string{entry},
		Bundle:            true,
		Write:             false,
		Outdir:            "out",
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		Target:            api.ES2020,
		Charset:           api.CharsetUTF8,
		LegalComments:     api.LegalCommentsNone,
		LogLevel:          api.LogLevelSilent,
		Platform:          api.PlatformBrowser,
	}
	if strings.HasSuffix(entry, ".js") {
		opts.Format = api.FormatIIFE
	}
	result := api.Build(opts)
	if len(result.Errors) > 0 {
		msgs := api.FormatMessages(result.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage})
		return nil, fmt.Errorf("build: unable to build %s: %s", entry, strings.Join(msgs, "\n"))
	}
	if len(result.OutputFiles) != 1 {
		return nil, errors.New("build: expected one output file for " + entry)
	}
	return result.OutputFiles[0].Contents, nil
}
