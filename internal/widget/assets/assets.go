package assets

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"net/http"
	"strings"
	"sync"
)

// AssetBase is the URL path under which Static serves every widget file.
const AssetBase = "/widget/v1/"

// LoaderPath is the URL path of the loader, the file the install snippet
// names. Its bytes must not change while hosts pin them by SRI: a change of
// the loader ships under a new version path.
const LoaderPath = AssetBase + "loader.js"

// ImmutableCacheControl is the Cache-Control of every file Static serves:
// the loader is versioned by path and the frame files by content hash.
const ImmutableCacheControl = "public, max-age=31536000, immutable"

//go:embed dist/loader.js dist/frame.js dist/frame.css
var dist embed.FS

//go:embed frame.html.tmpl
var frameTemplateText string

// file is one servable asset, precompressed once.
type file struct {
	name        string // name under AssetBase
	body        []byte
	gzipped     []byte
	contentType string
	etag        string
	// crossOrigin marks the loader: host pages fetch it in CORS mode
	// (crossorigin="anonymous", needed for SRI), so it carries
	// Access-Control-Allow-Origin: * and CORP cross-origin.
	crossOrigin bool
}

// bundle is the set of embedded files, keyed by the name they are served as.
type bundle struct {
	loader, frameScript, frameStyle *file
	byName                          map[string]*file
}

// loadBundle reads dist once; the embedded files never change while the
// process runs, so hashing them on first use is safe to share.
var loadBundle = sync.OnceValue(func() *bundle {
	b := &bundle{byName: map[string]*file{}}
	b.loader = newFile("loader.js", "loader.js", "text/javascript; charset=utf-8", true)
	b.frameScript = newFile("frame.js", "", "text/javascript; charset=utf-8", false)
	b.frameStyle = newFile("frame.css", "", "text/css; charset=utf-8", false)
	for _, f := range []*file{b.loader, b.frameScript, b.frameStyle} {
		b.byName[f.name] = f
	}
	return b
})

// newFile loads dist/src. With an empty served name the file is served as
// stem.<hash>.ext, so a new build gets a new URL and old caches never serve
// stale code to a new frame page.
func newFile(src, served, contentType string, crossOrigin bool) *file {
	body, err := dist.ReadFile("dist/" + src)
	if err != nil {
		panic("assets: embedded file missing: " + src) // a build defect, caught by every test
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:8])
	if served == "" {
		dot := strings.LastIndexByte(src, '.')
		served = src[:dot] + "." + hash + src[dot:]
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	return &file{
		name:        served,
		body:        body,
		gzipped:     gz.Bytes(),
		contentType: contentType,
		etag:        `"` + hash + `"`,
		crossOrigin: crossOrigin,
	}
}

// Static returns the handler for GET and HEAD under AssetBase (route it as
// "GET /widget/v1/{file...}"): the loader at LoaderPath and the frame's
// script and stylesheet at their content-hashed names. Every file is served
// immutable with nosniff; unknown names get 404.
func Static() http.Handler {
	b := loadBundle()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		f, ok := b.byName[strings.TrimPrefix(r.URL.Path, AssetBase)]
		if !ok || !strings.HasPrefix(r.URL.Path, AssetBase) {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", ImmutableCacheControl)
		h.Set("ETag", f.etag)
		h.Set("Vary", "Accept-Encoding")
		if f.crossOrigin {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Cross-Origin-Resource-Policy", "cross-origin")
		} else {
			h.Set("Cross-Origin-Resource-Policy", "same-origin")
		}
		if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, f.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		body := f.body
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			body = f.gzipped
		}
		h.Set("Content-Length", itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(body)
	})
}

// acceptsGzip reports whether an Accept-Encoding value lists gzip without
// refusing it (q=0).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(buf[i:])
		}
	}
}

// FrameScriptName is the content-hashed name of the frame script under
// AssetBase, for example "frame.0123456789abcdef.js".
func FrameScriptName() string { return loadBundle().frameScript.name }

// FrameStyleName is the content-hashed name of the frame stylesheet under
// AssetBase.
func FrameStyleName() string { return loadBundle().frameStyle.name }

// FrameTemplate returns a new parse of the frame document template. It is
// executed with a value that has the fields Config (the JSON object of
// docs/widget-protocol.md, rendered inside <script type="application/json"
// id="porthole-config"> where html/template JSON-escapes it), Lang (the
// <html lang> tag) and AssetBase (normally AssetBase). The page has no
// inline script or style: its CSP can be script-src 'self'; style-src 'self'.
func FrameTemplate() *template.Template {
	b := loadBundle()
	return template.Must(template.New("frame.html").Funcs(template.FuncMap{
		"frameScript": func() string { return b.frameScript.name },
		"frameStyle":  func() string { return b.frameStyle.name },
	}).Parse(frameTemplateText))
}

// LoaderSRI returns the Subresource Integrity value of the loader's bytes:
// "sha384-" and the base64 SHA-384 digest.
func LoaderSRI() string {
	sum := sha512.Sum384(loadBundle().loader.body)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// InstallSnippet returns the one line a business pastes into its site:
//
//	<script src="https://HOST/widget/v1/loader.js" integrity="sha384-..." crossorigin="anonymous" data-business="BUSINESS_ID" async></script>
//
// publicURL is Porthole's public URL (a trailing slash or path is dropped
// down to scheme and host); both values are HTML-attribute escaped.
func InstallSnippet(publicURL, businessID string) string {
	origin := strings.TrimRight(publicURL, "/")
	if scheme, rest, ok := strings.Cut(origin, "://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		origin = scheme + "://" + host
	}
	return `<script src="` + template.HTMLEscapeString(origin+LoaderPath) +
		`" integrity="` + LoaderSRI() +
		`" crossorigin="anonymous" data-business="` + template.HTMLEscapeString(businessID) +
		`" async></script>`
}
