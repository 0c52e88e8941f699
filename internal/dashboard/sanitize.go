package dashboard

import (
	"html"
	"strings"

	"github.com/microcosm-cc/bluemonday"
)

// newRichTextPolicy is the policy of the text members write for visitors (a
// chatbot's greeting). That text has one format everywhere: plain text with
// the widget's small markdown subset (**bold**, *italic*, lists, http(s)
// links), which the widget builds as DOM nodes. So every HTML tag is
// stripped before storage; a member who types <b> gets text, not markup.
func newRichTextPolicy() *bluemonday.Policy {
	return bluemonday.StrictPolicy()
}

// sanitizeRichText strips all HTML from member-written text before it is
// stored, keeping the characters as typed (& stays &, not &amp;).
func (d *Dashboard) sanitizeRichText(s string) string {
	return strings.TrimSpace(html.UnescapeString(d.richText.Sanitize(s)))
}
