package chat

import (
	"context"
	"strings"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
)

// inhumanRate is faster than a person types: more messages than this in
// its window mark the visitor as automated (the widget's own limit of 20
// a minute still refuses the excess).
var inhumanRate = porthole.Limit{N: 6, Window: 5 * time.Second}

// botUserAgentMarks are substrings of the User-Agents of well-known
// crawlers, monitors and automation tools, matched case-insensitively.
var botUserAgentMarks = []string{
	"bot", "crawler", "spider", "slurp", "headlesschrome", "phantomjs", "puppeteer", "playwright",
	"selenium", "python-requests", "curl/", "wget/", "go-http-client", "httpclient", "lighthouse",
	"pingdom", "uptimerobot", "facebookexternalhit", "preview",
}

// IsBotUserAgent reports whether a User-Agent names a known bot, crawler or
// automation tool (a small list; see docs/conversations.md).
func IsBotUserAgent(ua string) bool {
	ua = strings.ToLower(ua)
	if strings.TrimSpace(ua) == "" {
		return true // every browser sends one
	}
	for _, m := range botUserAgentMarks {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return false
}

// ObserveClient marks the session's visitor as automated traffic when its
// User-Agent is a known bot's or the widget reported headless signals
// (navigator.webdriver and the like). The widget server calls it after
// Join; a marked visitor still chats, and is left out of analytics.
func (s *Service) ObserveClient(ctx context.Context, sess *Session, userAgent string, headless bool) error {
	switch {
	case headless:
		return s.db.Tenant(sess.OrgID).MarkVisitorAutomated(ctx, sess.Visitor.ID, store.AutomatedHeadless)
	case IsBotUserAgent(userAgent):
		return s.db.Tenant(sess.OrgID).MarkVisitorAutomated(ctx, sess.Visitor.ID, store.AutomatedBotUserAgent)
	}
	return nil
}

// observeRate marks a visitor who sends messages at an inhuman rate. A
// limiter failure only costs the mark.
func (s *Service) observeRate(ctx context.Context, sess *Session) {
	if s.limiter == nil {
		return
	}
	d, err := s.limiter.Allow(ctx, "chat:human-rate:"+sess.OrgID+":"+sess.Visitor.ID, inhumanRate, 1)
	if err != nil || d.Allowed {
		return
	}
	if err := s.db.Tenant(sess.OrgID).MarkVisitorAutomated(ctx, sess.Visitor.ID, store.AutomatedInhumanRate); err != nil {
		s.logger.Warn("chat: unable to mark visitor automated", "visitor", sess.Visitor.ID, "err", err)
	}
}
