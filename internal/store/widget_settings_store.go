package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// ActiveHours is one weekly opening stretch of a chatbot: on each of Days
// (0 = Sunday ... 6 = Saturday), from Start to End ("HH:MM", 24 h, End after
// Start) in the settings' time zone.
type ActiveHours struct {
	Days  []int  `json:"days"`
	Start string `json:"start"`
	End   string `json:"end"`
}

// WidgetSettings are a chatbot's widget settings. No active hours means
// always online; empty CIDR lists allow every address.
type WidgetSettings struct {
	ChatbotID   string        `json:"chatbot_id"`
	OrgID       string        `json:"organization_id"`
	Greeting    string        `json:"greeting"`
	Color       string        `json:"color"`
	Position    string        `json:"position"` // "right" or "left"
	Language    string        `json:"language"`
	TimeZone    string        `json:"time_zone"` // IANA name, "UTC" by default
	ActiveHours []ActiveHours `json:"active_hours"`
	AllowCIDRs  []string      `json:"allow_cidrs"`
	DenyCIDRs   []string      `json:"deny_cidrs"`
	OfflineNote string        `json:"offline_note"`
	// IdentitySecret is the per-chatbot identity secret sealed with the
	// secrets vault (organization id as associated data); nil when unset.
	IdentitySecret []byte `json:"-"`
	// IdentityPublicKey is a PEM RSA public key for RS256 identity tokens.
	IdentityPublicKey string    `json:"identity_public_key,omitempty"`
	UpdatedAt         time.Time `json:"updated_at"`
}

var (
	colorPattern    = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	hhmmPattern     = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$`)
	languagePattern = regexp.MustCompile(`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`)
)

// Validate checks the settings and returns an EINVALID error naming the
// first bad field.
func (s WidgetSettings) Validate() error {
	if len(s.Greeting) > 500 || len(s.OfflineNote) > 500 {
		return porthole.Errorf(porthole.EINVALID, "greeting and offline_note are at most 500 bytes")
	}
	if s.Color != "" && !colorPattern.MatchString(s.Color) {
		return porthole.Errorf(porthole.EINVALID, "color must be #rrggbb")
	}
	if s.Position != "right" && s.Position != "left" {
		return porthole.Errorf(porthole.EINVALID, "position must be right or left")
	}
	if s.Language != "" && !languagePattern.MatchString(s.Language) {
		return porthole.Errorf(porthole.EINVALID, "language must be a BCP 47 tag")
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "" || strings.EqualFold(s.TimeZone, "Local") {
		return porthole.Errorf(porthole.EINVALID, "time_zone %q is not an IANA time zone", s.TimeZone)
	}
	if len(s.ActiveHours) > 50 {
		return porthole.Errorf(porthole.EINVALID, "at most 50 active hour entries")
	}
	for i, h := range s.ActiveHours {
		if len(h.Days) == 0 {
			return porthole.Errorf(porthole.EINVALID, "active_hours[%d] names no day", i)
		}
		for _, d := range h.Days {
			if d < 0 || d > 6 {
				return porthole.Errorf(porthole.EINVALID, "active_hours[%d] day must be 0 (Sunday) to 6", i)
			}
		}
		if !hhmmPattern.MatchString(h.Start) || !hhmmPattern.MatchString(h.End) || h.End <= h.Start {
			return porthole.Errorf(porthole.EINVALID, "active_hours[%d] must be HH:MM with end after start", i)
		}
	}
	for _, list := range [][]string{s.AllowCIDRs, s.DenyCIDRs} {
		if len(list) > 200 {
			return porthole.Errorf(porthole.EINVALID, "at most 200 CIDR entries per list")
		}
		for _, c := range list {
			if _, err := netip.ParsePrefix(c); err != nil {
				return porthole.Errorf(porthole.EINVALID, "%q is not a CIDR prefix", c)
			}
		}
	}
	if len(s.IdentityPublicKey) > 8192 {
		return porthole.Errorf(porthole.EINVALID, "identity_public_key is too long")
	}
	return nil
}

// DefaultWidgetSettings returns the settings of a chatbot nobody configured.
func DefaultWidgetSettings(orgID, chatbotID string) WidgetSettings {
	return WidgetSettings{ChatbotID: chatbotID, OrgID: orgID, Position: "right", TimeZone: "UTC"}
}

// WidgetSettings returns a chatbot's widget settings (the defaults when none
// were saved). An unknown chatbot is ENOTFOUND.
func (t *Tenant) WidgetSettings(ctx context.Context, chatbotID string) (WidgetSettings, error) {
	if !porthole.ValidID(chatbotID) {
		return WidgetSettings{}, notFound("chatbot")
	}
	var s WidgetSettings
	err := t.read(ctx, func(tx *Tx) error {
		var err error
		s, err = t.widgetSettings(ctx, tx, chatbotID)
		return err
	})
	return s, err
}

// MessageRouting returns what routing a visitor's message reads, in one
// read transaction: the chatbot's widget settings (as WidgetSettings) and
// the conversation's handling (as InboxConversation).
func (t *Tenant) MessageRouting(ctx context.Context, chatbotID, conversationID string) (WidgetSettings, InboxConversation, error) {
	if !porthole.ValidID(chatbotID) {
		return WidgetSettings{}, InboxConversation{}, notFound("chatbot")
	}
	if !porthole.ValidID(conversationID) {
		return WidgetSettings{}, InboxConversation{}, notFound("conversation")
	}
	var s WidgetSettings
	var c InboxConversation
	err := t.read(ctx, func(tx *Tx) error {
		var err error
		if s, err = t.widgetSettings(ctx, tx, chatbotID); err != nil {
			return err
		}
		c, err = t.inboxConversation(ctx, tx, conversationID)
		return err
	})
	if err != nil {
		return WidgetSettings{}, InboxConversation{}, err
	}
	return s, c, nil
}

func (t *Tenant) widgetSettings(ctx context.Context, tx *Tx, chatbotID string) (WidgetSettings, error) {
	s := DefaultWidgetSettings(t.orgID, chatbotID)
	var n int
	if err := tx.queryRow(ctx, `SELECT count(*) FROM chatbots WHERE org_id = ? AND id = ?`, t.orgID, chatbotID).Scan(&n); err != nil {
		return s, fmt.Errorf("store: unable to read chatbot: %w", err)
	}
	if n == 0 {
		return s, notFound("chatbot")
	}
	var hours, allow, deny string
	var updated int64
	err := tx.queryRow(ctx, `SELECT greeting, color, position, language, time_zone, active_hours, allow_cidrs, deny_cidrs,
			offline_note, identity_secret, identity_public_key, updated_at
		FROM chatbot_widget_settings WHERE org_id = ? AND chatbot_id = ?`, t.orgID, chatbotID).Scan(
		&s.Greeting, &s.Color, &s.Position, &s.Language, &s.TimeZone, &hours, &allow, &deny,
		&s.OfflineNote, &s.IdentitySecret, &s.IdentityPublicKey, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("store: unable to read widget settings: %w", err)
	}
	s.UpdatedAt = fromMillis(updated)
	if err := json.Unmarshal([]byte(hours), &s.ActiveHours); err != nil {
		return s, fmt.Errorf("store: unable to read widget settings: active_hours: %w", err)
	}
	if err := json.Unmarshal([]byte(allow), &s.AllowCIDRs); err != nil {
		return s, fmt.Errorf("store: unable to read widget settings: allow_cidrs: %w", err)
	}
	if err := json.Unmarshal([]byte(deny), &s.DenyCIDRs); err != nil {
		return s, fmt.Errorf("store: unable to read widget settings: deny_cidrs: %w", err)
	}
	return s, nil
}

// PutWidgetSettings validates and saves a chatbot's widget settings,
// IdentitySecret (already sealed) included.
func (t *Tenant) PutWidgetSettings(ctx context.Context, s WidgetSettings) (WidgetSettings, error) {
	if !porthole.ValidID(s.ChatbotID) {
		return WidgetSettings{}, notFound("chatbot")
	}
	s.OrgID = t.orgID
	if err := s.Validate(); err != nil {
		return WidgetSettings{}, err
	}
	hours, _ := json.Marshal(nonNil(s.ActiveHours))
	allow, _ := json.Marshal(nonNil(s.AllowCIDRs))
	deny, _ := json.Marshal(nonNil(s.DenyCIDRs))
	now := t.db.now()
	s.UpdatedAt = fromMillis(millis(now))
	err := t.tx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM chatbots WHERE org_id = ? AND id = ?`, t.orgID, s.ChatbotID).Scan(&n); err != nil {
			return fmt.Errorf("store: unable to read chatbot: %w", err)
		}
		if n == 0 {
			return notFound("chatbot")
		}
		_, err := tx.exec(ctx, `INSERT INTO chatbot_widget_settings (chatbot_id, org_id, greeting, color, position, language, time_zone,
				active_hours, allow_cidrs, deny_cidrs, offline_note, identity_secret, identity_public_key, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (chatbot_id) DO UPDATE SET greeting = excluded.greeting, color = excluded.color,
				position = excluded.position, language = excluded.language, time_zone = excluded.time_zone,
				active_hours = excluded.active_hours, allow_cidrs = excluded.allow_cidrs, deny_cidrs = excluded.deny_cidrs,
				offline_note = excluded.offline_note, identity_secret = excluded.identity_secret,
				identity_public_key = excluded.identity_public_key, updated_at = excluded.updated_at`,
			s.ChatbotID, t.orgID, s.Greeting, s.Color, s.Position, s.Language, s.TimeZone, string(hours), string(allow), string(deny),
			s.OfflineNote, s.IdentitySecret, s.IdentityPublicKey, millis(now))
		if err != nil {
			return fmt.Errorf("store: unable to save widget settings: %w", err)
		}
		return nil
	})
	return s, err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
