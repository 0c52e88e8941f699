package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/httpx"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/widget/assets"
)

// demoState is what --demo seeded, kept in the data dir so a restart reuses it.
type demoState struct {
	OrganizationID string `json:"organization_id"`
	ChatbotID      string `json:"chatbot_id"`
	OwnerEmail     string `json:"owner_email"`
}

const demoOwnerEmail = "demo@porthole.test"

// StartDemo seeds the demo business (once per data dir), starts the demo
// host page on the demo address, and prints the URLs to open.
func (a *App) StartDemo(ctx context.Context, out io.Writer) error {
	st, password, err := a.seedDemo(ctx)
	if err != nil {
		return fmt.Errorf("demo: %v", err)
	}
	ln, err := net.Listen("tcp", a.Config.DemoAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on demo-addr %s: %v", a.Config.DemoAddr, err)
	}
	srv := httpx.NewServer(ln.Addr().String(), a.demoHostPage(st), httpx.ServerOptions{Logger: a.Logger})
	a.AddService(ServiceFunc(func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			_ = srv.Close()
		}()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}))
	fmt.Fprintf(out, "Porthole demo\n")
	fmt.Fprintf(out, "  demo host page (another origin, with the install snippet): http://%s/\n", ln.Addr())
	fmt.Fprintf(out, "  Porthole:                                                http://%s/  (public URL %s)\n", a.Config.Addr, a.Config.PublicURL)
	fmt.Fprintf(out, "  business id: %s\n", st.OrganizationID)
	if password != "" {
		fmt.Fprintf(out, "  dashboard sign-in: %s / %s   (shown once)\n", st.OwnerEmail, password)
	} else {
		fmt.Fprintf(out, "  dashboard sign-in: %s (password shown at first start; reset with porthole admin reset-password)\n", st.OwnerEmail)
	}
	return nil
}

// seedDemo creates the demo business on first use and returns it, with the
// owner's password when it was just made.
func (a *App) seedDemo(ctx context.Context) (demoState, string, error) {
	path := filepath.Join(a.Config.DataDir, "demo.json")
	var st demoState
	if raw, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(raw, &st); err == nil {
			if _, err := a.DB.Tenant(st.OrganizationID).Organization(ctx); err == nil {
				return st, "", a.ensureDemoOrigins(ctx, st.OrganizationID)
			}
		}
	}
	org, err := a.DB.CreateOrganization(ctx, "Smile Clinic (demo)")
	if err != nil {
		return st, "", err
	}
	tn := a.DB.Tenant(org.ID)
	bot, err := tn.CreateChatbot(ctx, "Front desk")
	if err != nil {
		return st, "", err
	}
	if err := a.ensureDemoOrigins(ctx, org.ID); err != nil {
		return st, "", err
	}
	// assistant (issue 4): the demo clinic's knowledge; see demo_knowledge.go.
	if err := a.seedDemoKnowledge(ctx, org.ID, bot.ID); err != nil {
		return st, "", err
	}
	var pw [15]byte
	_, _ = rand.Read(pw[:])
	password := base64.RawURLEncoding.EncodeToString(pw[:])
	hash, err := auth.HashPassword(password)
	if err != nil {
		return st, "", err
	}
	st = demoState{OrganizationID: org.ID, ChatbotID: bot.ID, OwnerEmail: demoOwnerEmail}
	user, _, err := a.DB.UserByEmail(ctx, demoOwnerEmail)
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		user, err = a.DB.CreateUser(ctx, demoOwnerEmail, "Demo owner", hash)
	} else if err == nil {
		err = a.DB.SetPasswordHash(ctx, user.ID, hash)
	}
	if err != nil {
		return st, "", err
	}
	if _, err := tn.AddMember(ctx, user.ID, porthole.RoleOwner); err != nil {
		return st, "", err
	}
	raw, _ := json.Marshal(st)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return st, "", fmt.Errorf("cannot write %s: %v", path, err)
	}
	return st, password, nil
}

// ensureDemoOrigins allows the demo host page's origin and its localhost twin.
func (a *App) ensureDemoOrigins(ctx context.Context, orgID string) error {
	host, port, err := net.SplitHostPort(a.Config.DemoAddr)
	if err != nil {
		return err
	}
	origins := []string{"http://" + net.JoinHostPort(host, port)}
	if host == "127.0.0.1" {
		origins = append(origins, "http://localhost:"+port)
	}
	for _, o := range origins {
		if _, err := a.DB.Tenant(orgID).AddOrigin(ctx, o); err != nil && !porthole.IsCode(err, porthole.ECONFLICT) {
			return err
		}
	}
	return nil
}

var demoPage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Smile Clinic — a demo host page</title>
<link rel="stylesheet" href="/demo.css">
</head>
<body>
<header><h1>Smile Clinic</h1><p>Family dentistry since 1998.</p></header>
<main>
<p>This page stands for a business's own website, on another origin than Porthole. It is served with a
strict Content-Security-Policy: scripts and frames only from Porthole's origin, no inline scripts or styles.</p>
<p>The chat launcher in the corner comes from this one line:</p>
<pre><code>{{.Snippet}}</code></pre>
</main>
{{.SnippetHTML}}
</body>
</html>
`))

const demoCSS = `body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1f2933}
header{border-bottom:1px solid #d9e2ec;margin-bottom:1rem}pre{white-space:pre-wrap;word-break:break-all;background:#f0f4f8;padding:1rem;border-radius:6px}`

func (a *App) demoHostPage(st demoState) http.Handler {
	snippet := assets.InstallSnippet(a.Config.PublicURL, st.OrganizationID)
	porthole := strings.TrimSuffix(a.Config.PublicURL, "/")
	csp := "default-src 'none'; script-src " + porthole + "; frame-src " + porthole + "; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = demoPage.Execute(w, map[string]any{"Snippet": snippet, "SnippetHTML": template.HTML(snippet)})
	})
	mux.HandleFunc("GET /demo.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		_, _ = io.WriteString(w, demoCSS)
	})
	return mux
}
