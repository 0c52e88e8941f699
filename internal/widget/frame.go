package widget

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"

	"github.com/porthole-chat/porthole/internal/chat"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// FrameConfig is the JSON object the frame script reads from
// <script type="application/json" id="porthole-config">.
type FrameConfig struct {
	V               int           `json:"v"`
	Business        string        `json:"business"`
	Chatbot         string        `json:"chatbot"`
	ParentOrigin    string        `json:"parent_origin"`
	Ticket          string        `json:"ticket"`
	TicketExpiresAt int64         `json:"ticket_expires_at"`
	WSURL           string        `json:"ws_url"`
	ChatbotConfig   ChatbotConfig `json:"chatbot_config"`
}

// ChatbotConfig is the chatbot's look and state as the frame shows it.
type ChatbotConfig struct {
	Name     string `json:"name"`
	Greeting string `json:"greeting"`
	Color    string `json:"color"`
	Position string `json:"position"`
	Language string `json:"language"`
	Online   bool   `json:"online"`
}

// FramePage is what the frame template is executed with.
type FramePage struct {
	Config    FrameConfig
	Lang      string
	AssetBase string
}

var defaultFrameTemplate = template.Must(template.New("frame").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>Chat</title>
<link rel="stylesheet" href="{{.AssetBase}}frame.css">
<script type="application/json" id="porthole-config">{{.Config}}</script>
<script src="{{.AssetBase}}frame.js" defer></script>
</head><body></body></html>
`))

// frameCSP returns the frame document's policy: frame-ancestors lists
// exactly the allowed origins ('none' for none), everything else 'self'.
func (s *Server) frameCSP(allowed []porthole.AllowedOrigin) string {
	ancestors := "'none'"
	if len(allowed) > 0 {
		list := make([]string, len(allowed))
		for i, o := range allowed {
			// Stored origins are normalized (scheme://host[:port] or
			// scheme://*.host), so they cannot break out of the directive.
			list[i] = o.Origin
		}
		ancestors = strings.Join(list, " ")
	}
	wsOrigin := strings.TrimSuffix(s.wsURL, "/widget/ws")
	return "frame-ancestors " + ancestors + "; default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' " +
		wsOrigin + "; img-src 'self' data:; base-uri 'none'; form-action 'none'"
}

// handleFrame serves GET /widget/frame?business=ID&parent=ORIGIN[&chatbot=ID].
func (s *Server) handleFrame(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// frame-ancestors decides who may frame this page; X-Frame-Options
	// (set by the common middleware) would forbid everyone.
	h.Del("X-Frame-Options")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", s.frameCSP(nil))
	ctx := r.Context()
	q := r.URL.Query()
	business := q.Get("business")
	if !porthole.ValidID(business) {
		http.Error(w, "unknown business", http.StatusNotFound)
		return
	}
	tn := s.deps.DB.Tenant(business)
	if _, err := tn.Organization(ctx); err != nil {
		s.frameError(w, r, err, "unknown business")
		return
	}
	allowed, err := tn.Origins(ctx)
	if err != nil {
		s.frameError(w, r, err, "")
		return
	}
	h.Set("Content-Security-Policy", s.frameCSP(allowed))
	parent, pattern, err := porthole.NormalizeOrigin(q.Get("parent"))
	if err != nil || pattern {
		s.refuse(w, r, http.StatusForbidden, business, porthole.SecOriginRefused, "frame requested without a valid parent origin")
		return
	}
	if !originAllowed(allowed, parent) {
		s.refuse(w, r, http.StatusForbidden, business, porthole.SecOriginRefused, "frame requested for a parent origin not on the allowlist: "+parent)
		return
	}
	var bot porthole.Chatbot
	if id := q.Get("chatbot"); id != "" {
		bot, err = tn.Chatbot(ctx, id)
	} else {
		var bots []porthole.Chatbot
		bots, err = tn.Chatbots(ctx)
		if err == nil && len(bots) == 0 {
			err = porthole.Errorf(porthole.ENOTFOUND, "chatbot not found")
		}
		if err == nil {
			bot = bots[0]
		}
	}
	if err != nil {
		s.frameError(w, r, err, "unknown chatbot")
		return
	}
	settings, err := tn.WidgetSettings(ctx, bot.ID)
	if err != nil {
		s.frameError(w, r, err, "")
		return
	}
	ticket, exp := s.tickets.issue(business, bot.ID, parent)
	lang := settings.Language
	if lang == "" {
		lang = "en"
	}
	page := FramePage{Lang: lang, AssetBase: s.assetBase, Config: FrameConfig{V: 1, Business: business, Chatbot: bot.ID,
		ParentOrigin: parent, Ticket: ticket, TicketExpiresAt: exp.UnixMilli(), WSURL: s.wsURL,
		ChatbotConfig: ChatbotConfig{Name: bot.Name, Greeting: settings.Greeting, Color: settings.Color,
			Position: settings.Position, Language: settings.Language, Online: chat.InActiveHours(settings, s.now())}}}
	var buf bytes.Buffer
	if err := s.frame.Execute(&buf, page); err != nil {
		s.logger.Error("widget: frame template failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) frameError(w http.ResponseWriter, r *http.Request, err error, notFound string) {
	if porthole.IsCode(err, porthole.ENOTFOUND) && notFound != "" {
		http.Error(w, notFound, http.StatusNotFound)
		return
	}
	s.logger.Error("widget: frame failed", "err", err, "request_id", httpx.RequestID(r.Context()))
	http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
}

func originAllowed(allowed []porthole.AllowedOrigin, origin string) bool {
	for _, o := range allowed {
		if porthole.OriginMatches(o, origin) {
			return true
		}
	}
	return false
}
