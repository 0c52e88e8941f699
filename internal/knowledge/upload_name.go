package knowledge

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/porthole-chat/porthole/internal/store"
)

// UploadName makes an uploaded file's name safe to store and show: the last
// path element only, no control or format characters, at most 200 bytes of
// UTF-8, "upload" when nothing is left. Every upload path (API, dashboard)
// uses it.
func UploadName(raw string) string {
	raw = strings.ReplaceAll(raw, "\\", "/")
	raw = path.Base(raw)
	var b strings.Builder
	for _, r := range raw {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.In(r, unicode.Cf) {
			continue
		}
		b.WriteRune(r)
	}
	name := TruncateUTF8(strings.TrimSpace(b.String()), 200)
	if name == "" || name == "." || name == ".." || name == "/" {
		return "upload"
	}
	return name
}

// UploadKind is the source kind a file name's extension names, or "". The
// content is still sniffed before it is accepted.
func UploadKind(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".txt", ".text":
		return store.KnowledgeText
	case ".md", ".markdown":
		return store.KnowledgeMarkdown
	case ".html", ".htm":
		return store.KnowledgeHTML
	case ".pdf":
		return store.KnowledgePDF
	}
	return ""
}

// TruncateUTF8 cuts s to at most n bytes without splitting a character.
func TruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
