package chat

import (
	"context"
	"strings"

	"github.com/porthole-chat/porthole/internal/audit"
	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// Contacts (issue 5). A visitor row becomes a contact in place when the
// visitor leaves its details (the contact form, or a signed identity with
// an email); when another contact of the organization has the same E.164
// phone, or the same email verified on both rows, the newer row is merged
// into the older one server-side (store.Tenant.UpgradeContact).
//
// A merge links rows for the team only. A typed phone number proves
// nothing: the widget session of a visitor who typed somebody else's
// number still joins its own visitor row and its own conversations
// (Join, History), never the contact it was merged into.
//
// The team's side: listing and reading contacts needs conversations:read
// and shows only contacts with a conversation the caller may see (unless
// the caller sees all); merging two contacts and undoing a merge need
// supervision:write (owners and admins). An id of another organization is
// ENOTFOUND, recorded as an authorization_failed security event.

// ContactDetail is a contact with the conversations the caller may see,
// the rows merged into it and the merges it took part in.
type ContactDetail struct {
	store.Contact
	Conversations []store.InboxConversation `json:"conversations"`
	Merged        []store.Contact           `json:"merged"`
	Merges        []store.ContactMerge      `json:"merges"`
}

// ContactDetails are contact details a visitor left. Phone must be E.164
// already (porthole.NormalizePhone). EmailVerified is true only for an
// email from a signed identity; a typed email is unverified.
type ContactDetails struct {
	Name          string
	Email         string
	EmailVerified bool
	Phone         string
}

// SaveContactDetails upgrades the session's visitor row in place with d
// and merges it into an existing contact with the same phone or verified
// email (recorded as contact.merge with the visitor as actor). The session
// itself is unchanged: it keeps seeing only its own conversation.
func (s *Service) SaveContactDetails(ctx context.Context, sess *Session, d ContactDetails) (store.Contact, *store.ContactMerge, error) {
	return s.saveContactDetails(ctx, sess.OrgID, sess.Visitor.ID, d)
}

func (s *Service) saveContactDetails(ctx context.Context, orgID, visitorID string, d ContactDetails) (store.Contact, *store.ContactMerge, error) {
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorVisitor, ID: visitorID},
		"the visitor's contact details match an existing contact of the organization")
	c, m, err := s.db.Tenant(orgID).UpgradeContact(ctx, store.ContactUpgrade{VisitorID: visitorID, Name: d.Name,
		Email: d.Email, EmailVerified: d.EmailVerified, Phone: d.Phone})
	if err != nil {
		return store.Contact{}, nil, err
	}
	if m != nil {
		s.logger.Info("chat: contacts merged", "org", orgID, "merge", m.ID, "survivor", m.SurvivorID, "merged", m.MergedID, "match", m.Match)
	}
	return c, m, nil
}

// phoneCountry is the country whose numbering applies to a phone number
// typed without a country code in the chatbot's widget: the assistant
// configuration's default country, "" when none is set.
func (s *Service) phoneCountry(ctx context.Context, orgID, chatbotID string) string {
	cfg, err := s.db.Tenant(orgID).AssistantConfig(ctx, chatbotID)
	if err != nil {
		return ""
	}
	return cfg.DefaultCountry
}

// Contacts lists the contacts p may see.
func (s *Service) Contacts(ctx context.Context, p auth.Principal, f store.ContactFilter) ([]store.Contact, error) {
	vis, err := s.Visibility(ctx, p)
	if err != nil {
		return nil, err
	}
	return s.db.Tenant(p.Org).Contacts(ctx, vis, f)
}

// Contact returns one contact with the conversations p may see. A contact
// p may not see (no visible conversation, unless p sees all) is ENOTFOUND,
// recorded as a security event like another organization's.
func (s *Service) Contact(ctx context.Context, p auth.Principal, id string) (ContactDetail, error) {
	vis, err := s.Visibility(ctx, p)
	if err != nil {
		return ContactDetail{}, err
	}
	tn := s.db.Tenant(p.Org)
	c, err := tn.Contact(ctx, id)
	if err != nil {
		return ContactDetail{}, s.contactRefused(ctx, p, err, "contact "+id+" is not in the organization")
	}
	convs, err := tn.ContactConversations(ctx, vis, c.ID)
	if err != nil {
		return ContactDetail{}, err
	}
	if !vis.All && len(convs) == 0 {
		s.refused(ctx, p, "contact "+id+" has no conversation within the caller's chatbot grants or sharing policy")
		return ContactDetail{}, porthole.Errorf(porthole.ENOTFOUND, "contact not found")
	}
	merged, err := tn.MergedContacts(ctx, c.ID)
	if err != nil {
		return ContactDetail{}, err
	}
	merges, err := tn.ContactMerges(ctx, c.ID)
	if err != nil {
		return ContactDetail{}, err
	}
	return ContactDetail{Contact: c, Conversations: nonNilSlice(convs), Merged: nonNilSlice(merged), Merges: nonNilSlice(merges)}, nil
}

// MergeContacts merges contact fromID into intoID by hand. Both must be
// contacts of p's organization that stand on their own; supervisors only.
// Recorded as contact.merge with p as actor.
func (s *Service) MergeContacts(ctx context.Context, p auth.Principal, intoID, fromID, reason string) (store.ContactMerge, error) {
	if err := requireSupervisor(p); err != nil {
		return store.ContactMerge{}, err
	}
	if strings.TrimSpace(reason) == "" {
		reason = "an admin merged two contacts"
	}
	ctx = audit.WithActor(ctx, actorOf(p), reason)
	m, err := s.db.Tenant(p.Org).MergeContacts(ctx, intoID, fromID)
	if err != nil {
		return store.ContactMerge{}, s.contactRefused(ctx, p, err, "contact merge named a contact outside the organization ("+
			truncateID(intoID)+", "+truncateID(fromID)+")")
	}
	return m, nil
}

// UndoContactMerge undoes a merge: the rows and the conversations' contacts
// are put back exactly as before it. Supervisors only; recorded as
// contact.merge_undo with p as actor.
func (s *Service) UndoContactMerge(ctx context.Context, p auth.Principal, mergeID, reason string) (store.ContactMerge, error) {
	if err := requireSupervisor(p); err != nil {
		return store.ContactMerge{}, err
	}
	if strings.TrimSpace(reason) == "" {
		reason = "an admin undid a contact merge"
	}
	ctx = audit.WithActor(ctx, actorOf(p), reason)
	m, err := s.db.Tenant(p.Org).UndoContactMerge(ctx, mergeID)
	if err != nil {
		return store.ContactMerge{}, s.contactRefused(ctx, p, err, "contact merge undo named a merge outside the organization ("+
			truncateID(mergeID)+")")
	}
	return m, nil
}

// contactRefused records a security event when err is ENOTFOUND (an id of
// another organization looks exactly like one that does not exist) and
// returns err.
func (s *Service) contactRefused(ctx context.Context, p auth.Principal, err error, detail string) error {
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		s.refused(ctx, p, detail)
	}
	return err
}

// truncateID keeps a caller-given id short in a security event's detail.
func truncateID(id string) string {
	if len(id) > 64 {
		return strings.ToValidUTF8(id[:64], "") + "..."
	}
	return id
}
