package dashboard

import (
	"html/template"
	"strings"

	"github.com/microcosm-cc/bluemonday"
)

// newRichTextPolicy is the policy of rich text members write (a chatbot's
// greeting): a few inline formatting elements and http(s)/mailto links
// that open apart from the page, nothing else. No attributes but href
// survive, so no style, no event handler, no class.
func newRichTextPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("b", "strong", "i", "em", "u", "br", "p", "ul", "ol", "li", "code")
	p.AllowStandardURLs()
	p.AllowURLSchemes("http", "https", "mailto")
	p.AllowAttrs("href").OnElements("a")
	p.RequireParseableURLs(true)
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}

// sanitizeRichText cleans member-written HTML before it is stored.
func (d *Dashboard) sanitizeRichText(s string) string {
	return strings.TrimSpace(d.richText.Sanitize(s))
}

// richHTML renders stored rich text. It sanitizes again on the way out:
// the same field can be written through the API, which stores it as given.
func (d *Dashboard) richHTML(s string) template.HTML {
	return template.HTML(d.richText.Sanitize(s)) // #nosec: the output of the sanitizer
}
