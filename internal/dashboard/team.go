package dashboard

import (
	"net/http"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// allRoles in the order they are offered.
var allRoles = []porthole.Role{porthole.RoleOwner, porthole.RoleAdmin, porthole.RoleAgent, porthole.RoleViewer}

// memberRow is one member of the team page.
type memberRow struct {
	store.MemberProfile
	Self      bool
	CanManage bool // the viewer of the page may change this member
	Narrowed  bool // agents and viewers: grants decide which chatbots they see
	Grants    []grantRow
}

// grantRow is a member's access to one chatbot.
type grantRow struct {
	ChatbotID, ChatbotName, Access string
}

// teamPage is the Data of the team page.
type teamPage struct {
	Members     []memberRow
	Invitations []store.Invitation
	Chatbots    []porthole.Chatbot
	Roles       []porthole.Role // the roles the viewer may give
	CanWrite    bool
	InviteEmail string
}

func (d *Dashboard) team(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return d.showTeam(w, r, p, http.StatusOK, doneNotice(r), "")
}

func (d *Dashboard) showTeam(w http.ResponseWriter, r *http.Request, p auth.Principal, status int, n notice, email string) error {
	ctx := r.Context()
	t := d.db.Tenant(p.Org)
	members, err := d.auth.Members(ctx, p)
	if err != nil {
		return err
	}
	page := teamPage{CanWrite: p.Can("members:write"), InviteEmail: email}
	if page.CanWrite {
		for _, role := range allRoles {
			if auth.CanAssignRole(p.Role, role) {
				page.Roles = append(page.Roles, role)
			}
		}
		if page.Invitations, err = d.auth.Invitations(ctx, p); err != nil {
			return err
		}
	}
	if page.Chatbots, err = t.Chatbots(ctx); err != nil {
		return err
	}
	names := map[string]string{}
	for _, c := range page.Chatbots {
		names[c.ID] = c.Name
	}
	for _, m := range members {
		row := memberRow{MemberProfile: m, Self: m.UserID == p.UserID,
			CanManage: page.CanWrite && auth.CanAssignRole(p.Role, m.Role),
			Narrowed:  m.Role == porthole.RoleAgent || m.Role == porthole.RoleViewer}
		if row.Narrowed {
			grants, err := t.UserChatbotGrants(ctx, m.UserID)
			if err != nil {
				return err
			}
			for _, c := range page.Chatbots {
				if a, ok := grants[c.ID]; ok {
					row.Grants = append(row.Grants, grantRow{ChatbotID: c.ID, ChatbotName: names[c.ID], Access: a})
				}
			}
		}
		page.Members = append(page.Members, row)
	}
	v := d.frame(r, p, "team", "Team")
	v.Notice, v.Data = n, page
	d.renderStatus(w, r, status, "team", v)
	return nil
}

// invite creates an invitation. Without SMTP the single-use link is shown
// to the inviter, once, to pass on.
func (d *Dashboard) invite(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	email := r.PostFormValue("email")
	res, err := d.auth.Invite(r.Context(), p, email, porthole.Role(r.PostFormValue("role")))
	if formError(err) {
		return d.showTeam(w, r, p, httpStatus(err), notice{Error: porthole.ErrorMessage(err)}, truncate(email, 254))
	}
	if err != nil {
		return err
	}
	if res.Link != "" {
		return d.showTeam(w, r, p, http.StatusOK, notice{
			Success:     "Invitation created. No mail server is configured, so send this link yourself. It works once and is not shown again.",
			Secret:      res.Link,
			SecretLabel: "Invitation link for " + res.Invitation.Email,
		}, "")
	}
	redirect(w, r, BasePath+"team", "invitation-sent")
	return nil
}

func (d *Dashboard) changeRole(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	_, err := d.auth.SetMemberRole(r.Context(), p, r.PathValue("id"), porthole.Role(r.PostFormValue("role")))
	if formError(err) {
		return d.showTeam(w, r, p, httpStatus(err), notice{Error: porthole.ErrorMessage(err)}, "")
	}
	if err != nil {
		return err
	}
	redirect(w, r, BasePath+"team", "role-changed")
	return nil
}

func (d *Dashboard) removeMember(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	err := d.auth.RemoveMember(r.Context(), p, r.PathValue("id"))
	if formError(err) {
		return d.showTeam(w, r, p, httpStatus(err), notice{Error: porthole.ErrorMessage(err)}, "")
	}
	if err != nil {
		return err
	}
	redirect(w, r, BasePath+"team", "member-removed")
	return nil
}

// setGrant gives a member read or write access to one chatbot, or takes
// it away.
func (d *Dashboard) setGrant(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	access, ok := auth.ParseAccess(r.PostFormValue("access"))
	if !ok {
		return d.showTeam(w, r, p, http.StatusBadRequest, notice{Error: "access must be none, read or write"}, "")
	}
	err := d.auth.SetChatbotGrant(r.Context(), p, r.PostFormValue("chatbot_id"), r.PathValue("id"), access)
	if formError(err) {
		return d.showTeam(w, r, p, httpStatus(err), notice{Error: porthole.ErrorMessage(err)}, "")
	}
	if err != nil {
		return err
	}
	redirect(w, r, BasePath+"team", "grant-saved")
	return nil
}
