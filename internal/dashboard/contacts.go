package dashboard

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// The contacts pages (issue 5): the organization's contacts, one contact
// with its conversations and merge history, and the supervisor's merge and
// undo forms. Like the API's contact handlers, every read and change goes
// through the chat service, which applies the chatbot grants and sharing
// policy, refuses merges without supervision:write and records another
// organization's ids as security events; this file decodes and renders.

// contactsPageSize is how many contacts one page of the list shows.
const contactsPageSize = 100

// contactRow is one contact in the list.
type contactRow struct {
	Name, Phone, Email string
	EmailVerified      bool
	Updated            string
	Path               string
}

// contactsPage is the Data of the contact list.
type contactsPage struct {
	Query     string
	Rows      []contactRow
	OlderPath string // the next page; "" on the last
	FirstPage bool
}

// contactConversationRow is one conversation of a contact.
type contactConversationRow struct {
	Chatbot, State, StateLabel, Updated, Path string
}

// mergeRow is one merge in a contact's history.
type mergeRow struct {
	ID, Time, Match, Actor string
	Survivor, Merged       contactLink
	Undone                 string // when and by whom; "" while in force
}

// contactLink names a contact and links to its page.
type contactLink struct {
	Label, Path string
}

// contactPage is the Data of one contact.
type contactPage struct {
	ID, Name, Phone, Email, ExternalID, Channel string
	EmailVerified                               bool
	Created, Updated                            string
	Conversations                               []contactConversationRow
	Merged                                      []contactLink
	Merges                                      []mergeRow
	CanMerge                                    bool
	From, Reason                                string // kept after a refused merge
}

// contactLabel names a contact for a page: its name, email or phone, or
// the start of its id.
func contactLabel(c store.Contact) string {
	for _, s := range []string{c.Name, c.Email, c.Phone} {
		if s != "" {
			return visible(s)
		}
	}
	return "Visitor " + truncate(c.ID, 8)
}

func contactPath(id string) string { return BasePath + "contacts/" + id }

// contactsList lists the organization's contacts p may see, newest first,
// a page at a time (?before= unix milliseconds, as the API pages).
func (d *Dashboard) contactsList(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.ContactFilter{Query: strings.TrimSpace(q.Get("q")), Limit: contactsPageSize}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return porthole.Errorf(porthole.EINVALID, "before must be unix milliseconds")
		}
		f.Before = n
	}
	list, err := d.chat.Contacts(r.Context(), p, f)
	if err != nil {
		return err
	}
	page := contactsPage{Query: f.Query, FirstPage: f.Before == 0}
	for _, c := range list {
		page.Rows = append(page.Rows, contactRow{Name: visible(c.Name), Phone: visible(c.Phone), Email: visible(c.Email),
			EmailVerified: c.EmailVerified, Updated: formatTime(c.UpdatedAt), Path: contactPath(c.ID)})
	}
	if len(list) == contactsPageSize {
		next := url.Values{"before": {strconv.FormatInt(list[len(list)-1].UpdatedAt.UnixMilli(), 10)}}
		if f.Query != "" {
			next.Set("q", f.Query)
		}
		page.OlderPath = BasePath + "contacts?" + next.Encode()
	}
	v := d.frame(r, p, "contacts", "Contacts")
	v.Data = page
	d.render(w, r, "contacts", v)
	return nil
}

func (d *Dashboard) contactPage(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return d.showContact(w, r, p, http.StatusOK, doneNotice(r), contactPage{})
}

// showContact renders one contact; form carries what a refused merge held.
// Another organization's id is ENOTFOUND from the service (and recorded).
func (d *Dashboard) showContact(w http.ResponseWriter, r *http.Request, p auth.Principal, status int, n notice, form contactPage) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	ctx := r.Context()
	c, err := d.chat.Contact(ctx, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	_, bots, err := d.visibleChatbots(ctx, p)
	if err != nil {
		return err
	}
	people, _ := d.memberNames(ctx, p)
	page := form
	page.ID, page.Name, page.Phone, page.Email = c.ID, visible(c.Name), visible(c.Phone), visible(c.Email)
	page.EmailVerified, page.ExternalID, page.Channel = c.EmailVerified, visible(c.ExternalID), visible(c.Channel)
	page.Created, page.Updated = formatTime(c.CreatedAt), formatTime(c.UpdatedAt)
	page.CanMerge = p.Can("supervision:write")
	for _, conv := range c.Conversations {
		page.Conversations = append(page.Conversations, contactConversationRow{Chatbot: visible(bots[conv.ChatbotID]),
			State: conv.State, StateLabel: stateLabels[conv.State], Updated: formatTime(conv.UpdatedAt), Path: BasePath + "inbox/" + conv.ID})
	}
	for _, m := range c.Merged {
		page.Merged = append(page.Merged, contactLink{Label: contactLabel(m), Path: contactPath(m.ID)})
	}
	for _, m := range c.Merges {
		page.Merges = append(page.Merges, mergeHistoryRow(c, m, people))
	}
	v := d.frame(r, p, "contacts", "Contact · "+contactLabel(c.Contact))
	v.Notice, v.Data = n, page
	d.renderStatus(w, r, status, "contact", v)
	return nil
}

// mergeHistoryRow describes one merge of c's history.
func mergeHistoryRow(c chat.ContactDetail, m store.ContactMerge, people map[string]string) mergeRow {
	row := mergeRow{ID: m.ID, Time: formatTime(m.CreatedAt), Match: visible(m.Match), Actor: actorName(m.Actor, people),
		Survivor: contactLink{Label: "Contact " + m.SurvivorID, Path: contactPath(m.SurvivorID)},
		Merged:   contactLink{Label: "Contact " + m.MergedID, Path: contactPath(m.MergedID)}}
	if m.SurvivorID == c.ID {
		row.Survivor.Label = "this contact"
	}
	for _, merged := range c.Merged {
		if merged.ID == m.MergedID {
			row.Merged.Label = contactLabel(merged)
		}
	}
	if m.MergedID == c.ID {
		row.Merged.Label = "this contact"
	}
	if m.UndoneAt != nil {
		row.Undone = formatTime(*m.UndoneAt) + " by " + actorName(m.UndoneBy, people)
	}
	return row
}

// actorName shows a stored "kind:id" actor, with a member's name when it
// is one of the organization's users.
func actorName(actor string, people map[string]string) string {
	if kind, id, ok := strings.Cut(actor, ":"); ok && kind == "user" && people[id] != "" {
		return visible(people[id])
	}
	return visible(actor)
}

// contactFormError shows a refused merge or undo on the contact page;
// other errors (another organization's ids among them) go to fail.
func (d *Dashboard) contactFormError(w http.ResponseWriter, r *http.Request, p auth.Principal, err error, form contactPage) error {
	if !formError(err) {
		return err
	}
	return d.showContact(w, r, p, httpStatus(err), notice{Error: porthole.ErrorMessage(err)}, form)
}

// mergeContact merges the contact named in the form into the page's one.
func (d *Dashboard) mergeContact(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	into, from := r.PathValue("id"), strings.TrimSpace(r.PostFormValue("from"))
	if !porthole.ValidID(into) {
		return porthole.Errorf(porthole.ENOTFOUND, "contact not found")
	}
	in, err := actionInput(r)
	form := contactPage{From: truncate(from, 100), Reason: truncate(in.Reason, 4*maxReasonRunes)}
	if err == nil && from == "" {
		err = porthole.Errorf(porthole.EINVALID, "give the id of the contact to merge into this one")
	}
	if err != nil {
		return d.contactFormError(w, r, p, err, form)
	}
	if _, err := d.chat.MergeContacts(r.Context(), p, into, from, in.Reason); err != nil {
		return d.contactFormError(w, r, p, err, form)
	}
	redirect(w, r, contactPath(into), "contacts-merged")
	return nil
}

// undoContactMerge undoes a merge shown in the page's history.
func (d *Dashboard) undoContactMerge(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.requireChat(); err != nil {
		return err
	}
	id := r.PathValue("id")
	if !porthole.ValidID(id) {
		return porthole.Errorf(porthole.ENOTFOUND, "contact not found")
	}
	in, err := actionInput(r)
	if err != nil {
		return d.contactFormError(w, r, p, err, contactPage{})
	}
	if _, err := d.chat.UndoContactMerge(r.Context(), p, r.PathValue("merge_id"), in.Reason); err != nil {
		return d.contactFormError(w, r, p, err, contactPage{})
	}
	redirect(w, r, contactPath(id), "merge-undone")
	return nil
}
