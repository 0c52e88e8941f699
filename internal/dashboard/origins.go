package dashboard

import (
	"net/http"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/widget/assets"
)

// originsPage is the Data of the allowed origins page.
type originsPage struct {
	Origins  []porthole.AllowedOrigin
	CanWrite bool
	Origin   string // the add form's value after an error
	// Snippet is the install snippet (its SRI hash included), shown as text.
	Snippet string
	// ScriptSrc and FrameSrc are the directives a host page with its own
	// Content-Security-Policy must add for the widget to load.
	ScriptSrc, FrameSrc string
}

func (d *Dashboard) origins(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return d.showOrigins(w, r, p, http.StatusOK, doneNotice(r), "")
}

func (d *Dashboard) showOrigins(w http.ResponseWriter, r *http.Request, p auth.Principal, status int, n notice, origin string) error {
	list, err := d.db.Tenant(p.Org).Origins(r.Context())
	if err != nil {
		return err
	}
	v := d.frame(r, p, "origins", "Allowed origins")
	v.Notice = n
	v.Data = originsPage{
		Origins: list, CanWrite: p.Can("origins:write"), Origin: origin,
		Snippet:   assets.InstallSnippet(d.publicURL, p.Org),
		ScriptSrc: "script-src " + d.publicURL, FrameSrc: "frame-src " + d.publicURL,
	}
	d.renderStatus(w, r, status, "origins", v)
	return nil
}

func (d *Dashboard) addOrigin(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	origin := r.PostFormValue("origin")
	_, err := d.db.Tenant(p.Org).AddOrigin(r.Context(), origin)
	if formError(err) {
		return d.showOrigins(w, r, p, httpStatus(err), notice{Error: porthole.ErrorMessage(err)}, truncate(origin, 300))
	}
	if err != nil {
		return err
	}
	redirect(w, r, BasePath+"origins", "origin-added")
	return nil
}

func (d *Dashboard) removeOrigin(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.db.Tenant(p.Org).RemoveOrigin(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	redirect(w, r, BasePath+"origins", "origin-removed")
	return nil
}
