package knowledge

import (
	"bytes"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Document is extracted plain text with where it came from. Paragraphs are
// separated by blank lines.
type Document struct {
	Title string
	URL   string
	Text  string
}

// errUnsupported is the caller-safe refusal of content that is not what it claims.
func errUnsupported(format string, args ...any) error {
	return porthole.Errorf(porthole.EINVALID, format, args...)
}

// sniffKind returns the source kind the bytes really are: pdf, html or text.
// Anything else (executables, images, archives, office files) is refused.
func sniffKind(data []byte) (string, error) {
	m := mimetype.Detect(data)
	switch {
	case m.Is("application/pdf"):
		return store.KnowledgePDF, nil
	case m.Is("text/html"), m.Is("application/xhtml+xml"):
		return store.KnowledgeHTML, nil
	}
	for p := m; p != nil; p = p.Parent() {
		if p.Is("text/plain") {
			if !utf8.Valid(data) {
				return "", errUnsupported("the text is not valid UTF-8")
			}
			// A text file may still be HTML without a doctype.
			if looksLikeHTML(data) {
				return store.KnowledgeHTML, nil
			}
			return store.KnowledgeText, nil
		}
	}
	return "", errUnsupported("content of type %s is not supported", m.String())
}

func looksLikeHTML(data []byte) bool {
	head := bytes.ToLower(data[:min(len(data), 1024)])
	return bytes.Contains(head, []byte("<html")) || bytes.Contains(head, []byte("<body")) || bytes.Contains(head, []byte("<p>"))
}

// checkDeclared refuses an upload whose bytes are not of the declared kind:
// a "PDF" that is really HTML or an executable, HTML that is binary, and so on.
func checkDeclared(kind string, data []byte) error {
	got, err := sniffKind(data)
	if err != nil {
		return err
	}
	switch kind {
	case store.KnowledgePDF:
		if got != store.KnowledgePDF {
			return errUnsupported("the file is not a PDF")
		}
	case store.KnowledgeHTML, store.KnowledgeText, store.KnowledgeMarkdown:
		if got == store.KnowledgePDF {
			return errUnsupported("the file is a PDF, not text")
		}
	default:
		return errUnsupported("unknown upload kind %q", kind)
	}
	return nil
}

// extract turns data of the given kind into documents.
func extract(kind, name, url string, data []byte) (Document, error) {
	switch kind {
	case store.KnowledgeHTML:
		title, text := htmlText(data)
		if title == "" {
			title = name
		}
		return Document{Title: title, URL: url, Text: text}, nil
	case store.KnowledgeMarkdown:
		title, text := markdownText(string(data))
		if title == "" {
			title = name
		}
		return Document{Title: title, URL: url, Text: text}, nil
	case store.KnowledgeText:
		return Document{Title: name, URL: url, Text: normalizeParagraphs(string(data))}, nil
	case store.KnowledgePDF:
		text, err := pdfText(data)
		if err != nil {
			return Document{}, err
		}
		return Document{Title: name, URL: url, Text: normalizeParagraphs(text)}, nil
	}
	return Document{}, errUnsupported("unknown source kind %q", kind)
}

// skippedElements are dropped with everything inside them: code, styling,
// navigation and other chrome that is not the page's content.
var skippedElements = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Nav: true, atom.Noscript: true, atom.Template: true,
	atom.Svg: true, atom.Iframe: true, atom.Object: true, atom.Head: true, atom.Button: true,
	atom.Select: true, atom.Form: true,
}

// blockElements end a paragraph.
var blockElements = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Br: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true,
	atom.H5: true, atom.H6: true, atom.Li: true, atom.Ul: true, atom.Ol: true, atom.Tr: true, atom.Table: true,
	atom.Section: true, atom.Article: true, atom.Main: true, atom.Header: true, atom.Footer: true,
	atom.Blockquote: true, atom.Pre: true, atom.Hr: true, atom.Dt: true, atom.Dd: true, atom.Aside: true,
}

// htmlText extracts the title and the visible text of an HTML document with
// the x/net/html tokenizer, one paragraph per block element.
func htmlText(data []byte) (title, text string) {
	z := html.NewTokenizer(bytes.NewReader(data))
	var b strings.Builder
	skipDepth := 0
	inTitle, inH1 := false, false
	var h1 strings.Builder
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if title == "" {
				title = strings.TrimSpace(collapseSpaces(h1.String()))
			}
			return title, normalizeParagraphs(b.String())
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if a == atom.Title {
				inTitle = tt == html.StartTagToken
				continue
			}
			if skippedElements[a] && tt == html.StartTagToken {
				skipDepth++
				continue
			}
			if a == atom.H1 {
				inH1 = true
			}
			if blockElements[a] {
				b.WriteString("\n\n")
			} else if a == atom.Td || a == atom.Th {
				b.WriteString(" ")
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if a == atom.Title {
				inTitle = false
				continue
			}
			if skippedElements[a] {
				if skipDepth > 0 {
					skipDepth--
				}
				continue
			}
			if a == atom.H1 {
				inH1 = false
			}
			if blockElements[a] {
				b.WriteString("\n\n")
			}
		case html.TextToken:
			t := string(z.Text())
			if inTitle {
				if title == "" {
					title = strings.TrimSpace(collapseSpaces(t))
				}
				continue
			}
			if skipDepth > 0 {
				continue
			}
			if inH1 && h1.Len() < 200 {
				h1.WriteString(t)
			}
			b.WriteString(t)
		}
	}
}

var (
	mdImage     = regexp.MustCompile(`!\[([^\]]*)\]\([^)]*\)`)
	mdLink      = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	mdEmphasis  = regexp.MustCompile("(\\*\\*|__|\\*|`)")
	mdListMark  = regexp.MustCompile(`^\s*([-*+]|\d+[.)])\s+`)
	mdHeading   = regexp.MustCompile(`^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	mdTableRule = regexp.MustCompile(`^\s*\|?\s*:?-{3,}`)
)

// markdownText reads Markdown as text: headings, list items and table rows
// become paragraphs, link and emphasis syntax is dropped, code is kept.
func markdownText(src string) (title, text string) {
	var b strings.Builder
	for line := range strings.Lines(src) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(strings.TrimSpace(line), "```") || mdTableRule.MatchString(line) {
			b.WriteString("\n")
			continue
		}
		if m := mdHeading.FindStringSubmatch(line); m != nil {
			if title == "" && len(m[1]) == 1 {
				title = m[2]
			}
			b.WriteString("\n\n" + m[2] + "\n\n")
			continue
		}
		isItem := mdListMark.MatchString(line)
		line = mdListMark.ReplaceAllString(line, "")
		line = mdImage.ReplaceAllString(line, "$1")
		line = mdLink.ReplaceAllString(line, "$1")
		line = mdEmphasis.ReplaceAllString(line, "")
		line = strings.TrimPrefix(strings.TrimSpace(line), ">")
		if strings.Contains(line, "|") {
			line = strings.Trim(strings.ReplaceAll(line, "|", " "), " ")
			isItem = true
		}
		if isItem {
			b.WriteString("\n\n")
		}
		b.WriteString(line + "\n")
	}
	return strings.TrimSpace(mdEmphasis.ReplaceAllString(title, "")), normalizeParagraphs(b.String())
}

// normalizeParagraphs collapses runs of spaces within paragraphs and keeps
// one blank line between paragraphs.
func normalizeParagraphs(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var paras []string
	for p := range strings.SplitSeq(s, "\n\n") {
		p = strings.TrimSpace(collapseSpaces(p))
		if p != "" {
			paras = append(paras, p)
		}
	}
	return strings.Join(paras, "\n\n")
}

func collapseSpaces(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
