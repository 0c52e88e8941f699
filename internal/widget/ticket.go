package widget

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// MinTicketKeyBytes is the shortest ticket key accepted.
const MinTicketKeyBytes = 32

// ticketClaims is what a ticket binds: business, chatbot, the parent origin
// the frame was served for, an expiry (unix ms) and a nonce.
type ticketClaims struct {
	Business  string `json:"b"`
	Chatbot   string `json:"c"`
	Parent    string `json:"p"`
	ExpiresMS int64  `json:"e"`
	Nonce     string `json:"n"`
}

// tickets issues and checks tickets: base64url(JSON claims) "." base64url(HMAC-SHA256).
type tickets struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

var errBadTicket = errors.New("ticket is malformed or its signature does not match")

func (t tickets) sign(payload string) string {
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte("porthole-widget-ticket-v1\x00"))
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// issue returns a new ticket and its expiry.
func (t tickets) issue(business, chatbot, parent string) (string, time.Time) {
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	exp := t.now().Add(t.ttl)
	b, _ := json.Marshal(ticketClaims{Business: business, Chatbot: chatbot, Parent: parent, ExpiresMS: exp.UnixMilli(),
		Nonce: hex.EncodeToString(nonce[:])})
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + t.sign(payload), exp
}

// verify checks the signature (in constant time) before reading anything,
// then the expiry.
func (t tickets) verify(ticket string) (ticketClaims, error) {
	var c ticketClaims
	if len(ticket) == 0 || len(ticket) > 1024 {
		return c, errBadTicket
	}
	payload, sig, ok := strings.Cut(ticket, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(t.sign(payload))) {
		return c, errBadTicket
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Business == "" || c.Chatbot == "" || c.Parent == "" {
		return ticketClaims{}, errBadTicket
	}
	if t.now().UnixMilli() >= c.ExpiresMS {
		return ticketClaims{}, errors.New("ticket expired")
	}
	return c, nil
}
