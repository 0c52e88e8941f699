package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/httpx"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// staticPrefix is the URL path of the dashboard's own CSS and JS.
const staticPrefix = BasePath + "static/"

// pageNames are the page templates; each is parsed together with
// templates/layout.html and defines "content".
var pageNames = []string{
	"sign_in", "password_reset_request", "password_reset_confirm", "invitation_accept", "error",
	"overview", "chatbots", "chatbot", "origins", "team", "api_keys", "sessions", "security_events",
	"audit", "timeline",
	"assistant", "knowledge", "preview", // issue 4
	"inbox", "conversation", "analytics", "contacts", "contact", // issue 5
}

// staticFile is one embedded CSS or JS file with its content hash, which
// goes in its URL so a new build is never served from an old cache.
type staticFile struct {
	body        []byte
	contentType string
	hash        string
}

type staticFiles struct {
	byName map[string]staticFile
}

func loadStatic() (*staticFiles, error) {
	sf := &staticFiles{byName: map[string]staticFile{}}
	err := fs.WalkDir(staticFS, "static", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(path)
		if err != nil {
			return err
		}
		ct := "text/css; charset=utf-8"
		if strings.HasSuffix(path, ".js") {
			ct = "text/javascript; charset=utf-8"
		}
		sum := sha256.Sum256(body)
		sf.byName[strings.TrimPrefix(path, "static/")] = staticFile{body: body, contentType: ct, hash: hex.EncodeToString(sum[:6])}
		return nil
	})
	return sf, err
}

// url returns the versioned URL of a static file.
func (sf *staticFiles) url(name string) string {
	f, ok := sf.byName[name]
	if !ok {
		panic("dashboard: no static file " + name) // a template names a file that was not embedded
	}
	return staticPrefix + name + "?v=" + f.hash
}

// serveStatic serves an embedded file. Its URL carries the content hash, so
// it may be cached for a year.
func (d *Dashboard) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := d.static.byName[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+f.hash+`"`)
	if r.Header.Get("If-None-Match") == `"`+f.hash+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.body)
	}
}

func parsePages(sf *staticFiles) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"static": sf.url,
		"when":   formatTime,
		"whenp": func(t *time.Time) string {
			if t == nil {
				return "never"
			}
			return formatTime(*t)
		},
		"join": strings.Join,
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// view is what every page template gets: the frame (navigation, who is
// signed in, the organization switcher, a message) and the page's Data.
type view struct {
	Title   string
	Section string // the navigation entry to mark current
	Me      *signedIn
	Notice  notice
	Data    any
}

// signedIn describes the signed-in member for the page frame.
type signedIn struct {
	Email    string
	Name     string
	OrgID    string
	OrgName  string
	Role     string
	Orgs     []orgChoice
	Nav      []navItem
	Switcher bool // more than one membership
}

type orgChoice struct {
	ID, Name string
	Current  bool
}

type navItem struct {
	Section, Label, Path string
}

// notice is a message at the top of a page. Secret is something shown
// once (an API key, an invitation link).
type notice struct {
	Error       string
	Success     string
	Secret      string
	SecretLabel string
}

// errorPage is the Data of the "error" page.
type errorPage struct {
	Heading, Message string
}

// render writes a page with status 200.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, page string, v view) {
	d.renderStatus(w, r, http.StatusOK, page, v)
}

// renderStatus executes the page into a buffer first, so a template failure
// becomes a clean 500 rather than half a page.
func (d *Dashboard) renderStatus(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	t, ok := d.pages[page]
	if !ok {
		httpx.WriteError(w, r, fmt.Errorf("dashboard: no page %q", page))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		httpx.WriteError(w, r, fmt.Errorf("dashboard: render %s: %w", page, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// redirect sends the browser to a dashboard path after a successful post
// (post/redirect/get); done names a fixed success message (see doneMessages).
func redirect(w http.ResponseWriter, r *http.Request, path, done string) {
	if done != "" {
		path += "?done=" + done
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// doneMessages are the success messages a redirect may name. Only these
// fixed texts are ever shown: the query parameter cannot inject text.
var doneMessages = map[string]string{
	"chatbot-created":  "Chatbot created.",
	"chatbot-renamed":  "Chatbot renamed.",
	"chatbot-deleted":  "Chatbot deleted.",
	"appearance-saved": "Appearance saved.",
	"origin-added":     "Origin added.",
	"origin-removed":   "Origin removed.",
	"role-changed":     "Role changed.",
	"member-removed":   "Member removed.",
	"grant-saved":      "Chatbot access saved.",
	"key-revoked":      "API key revoked. It stopped working at once.",
	"session-revoked":  "Session ended.",
	"org-switched":     "Organization switched.",
	"invitation-sent":  "Invitation emailed.",
	"password-reset":   "Your password was changed. Every session was signed out; sign in with the new password.",
	"reset-requested":  "If an account uses that email, a reset link is on its way. Check your inbox.",
	"signed-out":       "You are signed out.",
	// issue 4
	"assistant-saved": "Assistant saved.",
	"source-added":    "Source added. It is imported in the background; progress shows below.",
	"source-reimport": "Re-import queued. The old passages stay searchable until it finishes.",
	"source-deleted":  "Source deleted. Its passages left search at once.",
	// issue 5
	"reply-sent":      "Reply sent. The visitor sees it on every open tab.",
	"note-added":      "Internal note added. The visitor never sees it.",
	"taken-over":      "You took over the conversation. The assistant is silent until you release it.",
	"released":        "Conversation returned to the assistant.",
	"closed":          "Conversation closed.",
	"reopened":        "Conversation reopened.",
	"reassigned":      "Conversation reassigned.",
	"supervisor-in":   "You took over the conversation as supervisor.",
	"contacts-merged": "Contacts merged. The merge can be undone from the history below.",
	"merge-undone":    "Merge undone. Every row is back as it was before it.",
}

// doneNotice returns the notice a redirect asked for.
func doneNotice(r *http.Request) notice {
	return notice{Success: doneMessages[r.URL.Query().Get("done")]}
}
