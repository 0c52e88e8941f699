package dashboard

import (
	"net/http"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// count is one figure of the overview, shown only to members who may
// open its page.
type count struct {
	Label, Path string
	N           int
}

// overviewPage is the Data of the overview.
type overviewPage struct {
	OrgName string
	Role    string
	Counts  []count
	NoOrg   bool // the member belongs to no organization (any more)
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	v := d.frame(r, p, "overview", "Overview")
	v.Notice = doneNotice(r)
	if p.Org == "" {
		v.Data = overviewPage{NoOrg: true}
		d.render(w, r, "overview", v)
		return nil
	}
	t := d.db.Tenant(p.Org)
	org, err := t.Organization(ctx)
	if err != nil {
		return err
	}
	page := overviewPage{OrgName: org.Name, Role: string(p.Role)}
	if p.Can("chatbots:read") {
		list, err := t.Chatbots(ctx)
		if err != nil {
			return err
		}
		if list, err = d.auth.VisibleChatbots(ctx, p, list); err != nil {
			return err
		}
		page.Counts = append(page.Counts, count{Label: "Chatbots", Path: BasePath + "chatbots", N: len(list)})
	}
	if p.Can("origins:read") {
		list, err := t.Origins(ctx)
		if err != nil {
			return err
		}
		page.Counts = append(page.Counts, count{Label: "Allowed origins", Path: BasePath + "origins", N: len(list)})
	}
	if p.Can("members:read") {
		list, err := t.Members(ctx)
		if err != nil {
			return err
		}
		page.Counts = append(page.Counts, count{Label: "Members", Path: BasePath + "team", N: len(list)})
	}
	if p.Can("api_keys:read") {
		list, err := t.APIKeys(ctx)
		if err != nil {
			return err
		}
		active := 0
		for _, k := range list {
			if k.RevokedAt == nil {
				active++
			}
		}
		page.Counts = append(page.Counts, count{Label: "Active API keys", Path: BasePath + "api-keys", N: active})
	}
	v.Data = page
	d.render(w, r, "overview", v)
	return nil
}

// securityEventsPage is the Data of the security events page.
type securityEventsPage struct {
	Events []porthole.SecurityEvent
}

// securityEventsShown is how many of the newest events the page lists.
const securityEventsShown = 200

func (d *Dashboard) securityEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	list, err := d.db.Tenant(p.Org).SecurityEvents(r.Context(), securityEventsShown)
	if err != nil {
		return err
	}
	v := d.frame(r, p, "security", "Security events")
	v.Data = securityEventsPage{Events: list}
	d.render(w, r, "security_events", v)
	return nil
}

// sessionsPage is the Data of the member's own sessions page.
type sessionsPage struct {
	Sessions []auth.SessionView
}

func (d *Dashboard) sessions(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	list, err := d.auth.Sessions(r.Context(), p)
	if err != nil {
		return err
	}
	v := d.frame(r, p, "sessions", "My sessions")
	v.Notice = doneNotice(r)
	v.Data = sessionsPage{Sessions: list}
	d.render(w, r, "sessions", v)
	return nil
}

// revokeSession ends one of the member's sessions; ending the current one
// signs this browser out.
func (d *Dashboard) revokeSession(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id := r.PathValue("id")
	if err := d.auth.RevokeSession(r.Context(), p, id); err != nil {
		return err
	}
	if id == p.SessionID {
		d.clearCookie(w)
		redirect(w, r, BasePath+"sign-in", "signed-out")
		return nil
	}
	redirect(w, r, BasePath+"sessions", "session-revoked")
	return nil
}
