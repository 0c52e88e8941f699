package dashboard

import (
	"net/http"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// apiKeysPage is the Data of the API keys page.
type apiKeysPage struct {
	Keys     []porthole.APIKey
	Scopes   []string // the scopes the member may give a key: those it holds
	CanWrite bool
	Name     string
}

func (d *Dashboard) apiKeys(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return d.showAPIKeys(w, r, p, http.StatusOK, doneNotice(r), "")
}

func (d *Dashboard) showAPIKeys(w http.ResponseWriter, r *http.Request, p auth.Principal, status int, n notice, name string) error {
	keys, err := d.auth.APIKeys(r.Context(), p)
	if err != nil {
		return err
	}
	page := apiKeysPage{Keys: keys, CanWrite: p.Can("api_keys:write"), Name: name}
	for _, perm := range auth.AllPermissions() {
		if p.Can(perm) {
			page.Scopes = append(page.Scopes, perm)
		}
	}
	v := d.frame(r, p, "api-keys", "API keys")
	v.Notice, v.Data = n, page
	d.renderStatus(w, r, status, "api_keys", v)
	return nil
}

// createAPIKey makes a key and shows it once; only its hash is kept.
func (d *Dashboard) createAPIKey(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := r.ParseForm(); err != nil {
		return porthole.Errorf(porthole.EINVALID, "the form could not be read")
	}
	name := r.PostForm.Get("name")
	res, err := d.auth.CreateAPIKey(r.Context(), p, name, r.PostForm["scope"])
	if formError(err) {
		return d.showAPIKeys(w, r, p, httpStatus(err), notice{Error: porthole.ErrorMessage(err)}, truncate(name, 200))
	}
	if err != nil {
		return err
	}
	return d.showAPIKeys(w, r, p, http.StatusOK, notice{
		Success:     "API key created. Copy it now: it is shown only this once.",
		Secret:      res.Key,
		SecretLabel: "API key " + res.APIKey.Name,
	}, "")
}

func (d *Dashboard) revokeAPIKey(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.auth.RevokeAPIKey(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	redirect(w, r, BasePath+"api-keys", "key-revoked")
	return nil
}
