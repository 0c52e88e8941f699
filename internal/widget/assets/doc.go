// Package assets holds the widget's front-end as the server ships it: the
// built loader and frame files (dist, made by `go generate` from web/widget
// and embedded), the frame page template, and the handler that serves them
// with immutable caching under /widget/v1/.
//
// It owns the loader's bytes, hence its SRI hash and the install snippet.
// It must never import esbuild (only the build subpackage, for tools and
// tests, does) and never render untrusted data outside html/template.
package assets

//go:generate go run ./gen -web ../../../web/widget -dist dist
