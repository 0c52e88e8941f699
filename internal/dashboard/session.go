package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// pageFunc handles a request of a signed-in member.
type pageFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// member wraps a page that needs a signed-in member holding perm ("" needs
// only a session; PermSelf-style checks are the page's own). Without a
// valid session cookie the browser is sent to sign-in; a missing permission
// is 403 and a security event. Only the session cookie is accepted here:
// the dashboard is a browser surface, and an Authorization header would let
// a script-driven request skip the cookie's SameSite protection.
func (d *Dashboard) member(perm string, fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := d.principal(w, r)
		if !ok {
			return
		}
		if perm != "" && !p.Can(perm) {
			d.forbidden(w, r, p, perm)
			return
		}
		// The store records every change in the Wake as made by this member.
		r = r.WithContext(audit.WithActor(r.Context(), auditActor(p), r.Pattern))
		if err := fn(w, r, p); err != nil {
			d.fail(w, r, p, err)
		}
	}
}

// principal authenticates the session cookie. When there is none, or it no
// longer works, it clears the cookie, redirects to sign-in and returns false.
func (d *Dashboard) principal(w http.ResponseWriter, r *http.Request) (auth.Principal, bool) {
	c, err := r.Cookie(d.auth.CookieName())
	if err != nil || c.Value == "" {
		d.toSignIn(w, r)
		return auth.Principal{}, false
	}
	p, err := d.auth.Authenticate(r.Context(), auth.Credentials{Cookie: c.Value})
	if porthole.IsCode(err, porthole.EUNAUTHORIZED) {
		d.clearCookie(w)
		d.toSignIn(w, r)
		return auth.Principal{}, false
	}
	if err != nil {
		d.fail(w, r, auth.Principal{}, err)
		return auth.Principal{}, false
	}
	return p, true
}

// toSignIn redirects to the sign-in page, remembering where the member was
// going when it was a page (GET) of the dashboard.
func (d *Dashboard) toSignIn(w http.ResponseWriter, r *http.Request) {
	target := BasePath + "sign-in"
	if r.Method == http.MethodGet && r.URL.Path != BasePath {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeNext returns a post-sign-in destination: a path of the dashboard, or
// the overview. Anything else (another site, "//evil", a backslash trick)
// falls back, so the parameter cannot be an open redirect.
func safeNext(next string) string {
	if !strings.HasPrefix(next, BasePath) || strings.ContainsAny(next, "\\\r\n\t") || strings.Contains(next, "//") {
		return BasePath
	}
	return next
}

// setSessionCookie gives the browser a new session: HttpOnly, SameSite=Lax,
// Secure (and __Host-) whenever the public URL is https, Path=/, and no
// longer-lived than the session itself.
func (d *Dashboard) setSessionCookie(w http.ResponseWriter, res auth.SessionResult) {
	http.SetCookie(w, &http.Cookie{
		Name: d.auth.CookieName(), Value: res.Token, Path: "/",
		Expires: res.Session.ExpiresAt, HttpOnly: true, Secure: d.auth.SecureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

func (d *Dashboard) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: d.auth.CookieName(), Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, Secure: d.auth.SecureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

// forbidden answers a missing permission with 403, and records it.
func (d *Dashboard) forbidden(w http.ResponseWriter, r *http.Request, p auth.Principal, perm string) {
	d.record(r, porthole.SecAuthorizationFailed, p.Org, p.Actor(), "dashboard action refused: missing permission",
		map[string]any{"permission": perm, "method": r.Method, "path": r.URL.Path, "role": string(p.Role)})
	v := d.frame(r, p, "", "Not allowed")
	v.Data = errorPage{Heading: "Not allowed", Message: "Your role in this organization does not allow this. Ask an owner or admin."}
	d.renderStatus(w, r, http.StatusForbidden, "error", v)
}

// fail renders an error a page could not handle itself: 403 and 404 as
// pages (another organization's ids are 404, like ids that never existed),
// anything unexpected as a logged 500 with no detail.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, p auth.Principal, err error) {
	code := porthole.ErrorCode(err)
	status := httpx.HTTPStatus(code)
	heading, msg := "Something went wrong", "The request failed. Try again; if it keeps failing, tell your operator the time it happened."
	switch code {
	case porthole.EFORBIDDEN:
		d.forbidden(w, r, p, "")
		return
	case porthole.ENOTFOUND:
		heading, msg = "Not found", "There is nothing here, or it is not yours to see."
	case porthole.EUNAUTHORIZED:
		d.clearCookie(w)
		d.toSignIn(w, r)
		return
	case porthole.EINVALID, porthole.ECONFLICT, porthole.ETOOLARGE, porthole.ERATELIMITED:
		heading, msg = "Request not accepted", porthole.ErrorMessage(err)
	default:
		status = http.StatusInternalServerError
		httpx.Logger(r.Context()).Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	v := d.frame(r, p, "", heading)
	v.Data = errorPage{Heading: heading, Message: msg}
	d.renderStatus(w, r, status, "error", v)
}

// formError reports whether err is the member's to fix (bad input, a
// conflict, a limit): such errors are shown on the form they came from.
func formError(err error) bool {
	switch porthole.ErrorCode(err) {
	case porthole.EINVALID, porthole.ECONFLICT, porthole.ETOOLARGE, porthole.ERATELIMITED:
		return true
	}
	return false
}

// frame fills in the page frame for a signed-in member: the navigation
// entries the member's permissions allow, and the organization switcher.
// Lookup failures only thin the frame; the page itself still renders.
func (d *Dashboard) frame(r *http.Request, p auth.Principal, section, title string) view {
	v := view{Title: title, Section: section}
	if !p.IsUser() {
		return v
	}
	ctx := r.Context()
	me := &signedIn{OrgID: p.Org, Role: string(p.Role)}
	if u, _, err := d.db.UserByID(ctx, p.UserID); err == nil {
		me.Email, me.Name = u.Email, u.Name
	}
	me.Orgs = d.orgChoices(ctx, p)
	for _, o := range me.Orgs {
		if o.Current {
			me.OrgName = o.Name
		}
	}
	me.Switcher = len(me.Orgs) > 1
	me.Nav = navFor(p)
	v.Me = me
	return v
}

func (d *Dashboard) orgChoices(ctx context.Context, p auth.Principal) []orgChoice {
	list, err := d.db.UserMemberships(ctx, p.UserID)
	if err != nil {
		return nil
	}
	out := make([]orgChoice, 0, len(list))
	for _, m := range list {
		org, err := d.db.Tenant(m.OrgID).Organization(ctx)
		if err != nil {
			continue
		}
		out = append(out, orgChoice{ID: org.ID, Name: org.Name, Current: org.ID == p.Org})
	}
	return out
}

// navFor lists the sections the principal may open.
func navFor(p auth.Principal) []navItem {
	var nav []navItem
	add := func(perm, section, label, path string) {
		if perm == "" || p.Can(perm) {
			nav = append(nav, navItem{Section: section, Label: label, Path: path})
		}
	}
	if p.Org != "" {
		add("organization:read", "overview", "Overview", BasePath)
		add("chatbots:read", "chatbots", "Chatbots", BasePath+"chatbots")
		add("conversations:read", "inbox", "Inbox", BasePath+"inbox")             // issue 5
		add("conversations:read", "contacts", "Contacts", BasePath+"contacts")    // issue 5
		add("conversations:read", "analytics", "Analytics", BasePath+"analytics") // issue 5
		add("origins:read", "origins", "Allowed origins", BasePath+"origins")
		add("members:read", "team", "Team", BasePath+"team")
		add("api_keys:read", "api-keys", "API keys", BasePath+"api-keys")
		add("security_events:read", "security", "Security events", BasePath+"security-events")
		add("audit:read", "audit", "Audit log", BasePath+"audit")
	}
	add("", "sessions", "My sessions", BasePath+"sessions")
	return nav
}

// formLimited charges an unauthenticated form post against the per-IP form
// limit and reports whether it is over.
func (d *Dashboard) formLimited(r *http.Request) bool {
	if d.limiter == nil {
		return false
	}
	ip := clientIP(r)
	if ip == "" {
		return false
	}
	dec, err := d.limiter.Allow(r.Context(), "dashboard-form-ip:"+ip, formLimitPerIP, 1)
	if err != nil {
		httpx.Logger(r.Context()).Warn("dashboard: form limiter failed", "err", err)
		return false
	}
	if !dec.Allowed {
		d.record(r, porthole.SecRateLimited, "", "", "dashboard form posts over the per-IP limit", map[string]any{"path": r.URL.Path})
	}
	return !dec.Allowed
}

// httpStatus is the status of an error, from the one httpx table.
func httpStatus(err error) int { return httpx.HTTPStatus(porthole.ErrorCode(err)) }
