package dashboard

import (
	"context"
	"net/http"
	"strings"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// chatbotRow is one chatbot of the list.
type chatbotRow struct {
	ID, Name string
	CanWrite bool
}

// chatbotsPage is the Data of the chatbot list.
type chatbotsPage struct {
	Chatbots  []chatbotRow
	CanCreate bool
	Name      string // the create form's value after an error
}

func (d *Dashboard) chatbots(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return d.showChatbots(w, r, p, http.StatusOK, doneNotice(r), "")
}

func (d *Dashboard) showChatbots(w http.ResponseWriter, r *http.Request, p auth.Principal, status int, n notice, name string) error {
	ctx := r.Context()
	list, err := d.db.Tenant(p.Org).Chatbots(ctx)
	if err != nil {
		return err
	}
	if list, err = d.auth.VisibleChatbots(ctx, p, list); err != nil {
		return err
	}
	page := chatbotsPage{CanCreate: p.Can("chatbots:write"), Name: name}
	for _, c := range list {
		grant, err := d.auth.ChatbotGrant(ctx, p, c.ID)
		if err != nil {
			return err
		}
		page.Chatbots = append(page.Chatbots, chatbotRow{ID: c.ID, Name: c.Name, CanWrite: p.ChatbotAccess("chatbots", grant) >= auth.WriteAccess})
	}
	v := d.frame(r, p, "chatbots", "Chatbots")
	v.Notice, v.Data = n, page
	d.renderStatus(w, r, status, "chatbots", v)
	return nil
}

func (d *Dashboard) createChatbot(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	name := r.PostFormValue("name")
	c, err := d.db.Tenant(p.Org).CreateChatbot(r.Context(), name)
	if formError(err) {
		return d.showChatbots(w, r, p, httpStatus(err), notice{Error: porthole.ErrorMessage(err)}, truncate(name, 200))
	}
	if err != nil {
		return err
	}
	redirect(w, r, BasePath+"chatbots/"+c.ID, "chatbot-created")
	return nil
}

// chatbotFor returns a chatbot of the principal's organization that the
// principal may use at level need. A chatbot it may not even read (another
// organization's, or one an agent was not granted) is ENOTFOUND, so ids of
// others never show they exist; one it may read but not change is
// EFORBIDDEN.
func (d *Dashboard) chatbotFor(ctx context.Context, p auth.Principal, id string, need auth.Access) (porthole.Chatbot, auth.Access, error) {
	c, err := d.db.Tenant(p.Org).Chatbot(ctx, id)
	if err != nil {
		return porthole.Chatbot{}, auth.NoAccess, err
	}
	grant, err := d.auth.ChatbotGrant(ctx, p, c.ID)
	if err != nil {
		return porthole.Chatbot{}, auth.NoAccess, err
	}
	access := p.ChatbotAccess("chatbots", grant)
	if access < auth.ReadAccess {
		return porthole.Chatbot{}, auth.NoAccess, porthole.Errorf(porthole.ENOTFOUND, "chatbot not found")
	}
	if access < need {
		return porthole.Chatbot{}, access, porthole.Errorf(porthole.EFORBIDDEN, "missing write access to the chatbot")
	}
	return c, access, nil
}

// chatbotPage is the Data of one chatbot's page.
type chatbotPage struct {
	Chatbot  porthole.Chatbot
	Settings store.WidgetSettings
	Color    string // the color input's value (never empty)
	Greeting string // shown as text; the widget renders its markdown subset
	CanWrite bool
}

func (d *Dashboard) chatbot(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return d.showChatbot(w, r, p, http.StatusOK, doneNotice(r))
}

func (d *Dashboard) showChatbot(w http.ResponseWriter, r *http.Request, p auth.Principal, status int, n notice) error {
	ctx := r.Context()
	c, access, err := d.chatbotFor(ctx, p, r.PathValue("id"), auth.ReadAccess)
	if err != nil {
		return err
	}
	s, err := d.db.Tenant(p.Org).WidgetSettings(ctx, c.ID)
	if err != nil {
		return err
	}
	color := s.Color
	if color == "" {
		color = "#2563eb"
	}
	v := d.frame(r, p, "chatbots", c.Name)
	v.Notice = n
	v.Data = chatbotPage{Chatbot: c, Settings: s, Color: color, Greeting: s.Greeting, CanWrite: access >= auth.WriteAccess}
	d.renderStatus(w, r, status, "chatbot", v)
	return nil
}

func (d *Dashboard) renameChatbot(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, _, err := d.chatbotFor(r.Context(), p, r.PathValue("id"), auth.WriteAccess)
	if err != nil {
		return err
	}
	_, err = d.db.Tenant(p.Org).RenameChatbot(r.Context(), c.ID, r.PostFormValue("name"))
	if formError(err) {
		return d.showChatbot(w, r, p, httpStatus(err), notice{Error: porthole.ErrorMessage(err)})
	}
	if err != nil {
		return err
	}
	redirect(w, r, BasePath+"chatbots/"+c.ID, "chatbot-renamed")
	return nil
}

// saveAppearance stores the widget's color, position and greeting. The
// greeting is rich text: it is sanitized before it is stored.
func (d *Dashboard) saveAppearance(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	ctx := r.Context()
	c, _, err := d.chatbotFor(ctx, p, r.PathValue("id"), auth.WriteAccess)
	if err != nil {
		return err
	}
	t := d.db.Tenant(p.Org)
	s, err := t.WidgetSettings(ctx, c.ID)
	if err != nil {
		return err
	}
	s.Color = strings.TrimSpace(r.PostFormValue("color"))
	s.Position = r.PostFormValue("position")
	s.Greeting = d.sanitizeRichText(r.PostFormValue("greeting"))
	_, err = t.PutWidgetSettings(ctx, s)
	if formError(err) {
		return d.showChatbot(w, r, p, httpStatus(err), notice{Error: porthole.ErrorMessage(err)})
	}
	if err != nil {
		return err
	}
	redirect(w, r, BasePath+"chatbots/"+c.ID, "appearance-saved")
	return nil
}

func (d *Dashboard) deleteChatbot(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, _, err := d.chatbotFor(r.Context(), p, r.PathValue("id"), auth.WriteAccess)
	if err != nil {
		return err
	}
	if err := d.db.Tenant(p.Org).DeleteChatbot(r.Context(), c.ID); err != nil {
		return err
	}
	redirect(w, r, BasePath+"chatbots", "chatbot-deleted")
	return nil
}
