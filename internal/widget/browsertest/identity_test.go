package browsertest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
	"github.com/porthole-chat/porthole/internal/store"
	"github.com/porthole-chat/porthole/internal/widget/assets"
)

// TestSignedIdentityFromTheHostPage: a business makes an identity secret
// through the API, signs its user on its own page (data-user-id and
// data-user-hash on the install snippet), and the visitor the widget creates
// carries that verified user id. A forged hash leaves the visitor
// anonymous and records a security event.
func TestSignedIdentityFromTheHostPage(t *testing.T) {
	portholeURL, _, business, a := mustRealPortholeApp(t)
	ctx := context.Background()
	tn := a.DB.Tenant(business)
	bots, err := tn.Chatbots(ctx)
	if err != nil || len(bots) == 0 {
		t.Fatalf("demo chatbots: %v %v", bots, err)
	}
	key, prefix, hash := auth.NewAPIKey(business)
	if _, err := tn.CreateAPIKey(ctx, porthole.APIKey{Name: "identity test", Prefix: prefix, Scopes: []string{"chatbots:write"}}, hash); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", portholeURL+"/api/v1/chatbots/"+bots[0].ID+"/identity-secret", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("identity secret = %v, %v", resp, err)
	}
	var made struct {
		IdentitySecret string `json:"identity_secret"`
	}
	json.NewDecoder(resp.Body).Decode(&made)
	resp.Body.Close()
	mac := hmac.New(sha256.New, []byte(made.IdentitySecret))
	mac.Write([]byte("user-42"))
	goodHash := hex.EncodeToString(mac.Sum(nil))

	tests := []struct {
		name, userHash, wantExternal string
	}{
		{"signed", goodHash, "user-42"},
		{"forged", strings.Repeat("0", 64), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.2:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			if _, err := tn.AddOrigin(ctx, "http://"+addr); err != nil {
				t.Fatal(err)
			}
			snippet := strings.Replace(assets.InstallSnippet(portholeURL, business), " async>",
				fmt.Sprintf(` data-user-id="user-42" data-user-hash="%s" async>`, tt.userHash), 1)
			page := mustHostPageOn(t, addr, snippetPage(snippet, "", "<h1>Signed in as user-42</h1>"))
			b := mustBrowser(t) // a fresh profile: a new anonymous session
			tab := b.ctx
			if err := chromedp.Do(tab, chromedp.Navigate(page)); err != nil {
				t.Fatal(err)
			}
			mustClickLauncher(t, tab)
			mustFrameReady(t, tab)
			mustSend(t, tab, "hello, it is me ("+tt.name+")")
			var visitor store.Visitor
			eventually(t, 20*time.Second, "the visitor of this conversation", func() (bool, string) {
				list, err := tn.InboxConversations(ctx, store.Visibility{All: true}, store.InboxFilter{})
				if err != nil {
					return false, err.Error()
				}
				for _, c := range list {
					events, err := tn.EventsAfter(ctx, c.ID, 0, 50)
					if err != nil {
						continue
					}
					for _, ev := range events {
						if strings.Contains(ev.Text, "it is me ("+tt.name+")") {
							visitor, err = tn.Visitor(ctx, c.VisitorID)
							return err == nil, fmt.Sprint(err)
						}
					}
				}
				return false, fmt.Sprintf("%d conversations", len(list))
			})
			if visitor.ExternalID != tt.wantExternal {
				t.Fatalf("visitor external id = %q, want %q", visitor.ExternalID, tt.wantExternal)
			}
		})
	}
}
