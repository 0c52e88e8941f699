package auth

import (
	"context"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
)

// Mailer sends one plain-text email.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// SMTPMailer sends mail through an SMTP server with net/smtp (STARTTLS when
// the server offers it; credentials are only sent over TLS or to localhost,
// as net/smtp's PlainAuth requires).
type SMTPMailer struct {
	addr string
	auth smtp.Auth
	from string
}

// NewSMTPMailer parses an SMTP URL: smtp://user:password@host:port?from=addr.
// Without from, the sender is porthole@host.
func NewSMTPMailer(rawURL string) (*SMTPMailer, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return nil, fmt.Errorf("auth: SMTP URL must be smtp://[user:password@]host[:port][?from=address]")
	}
	port := u.Port()
	if port == "" {
		port = "587"
	}
	m := &SMTPMailer{addr: net.JoinHostPort(u.Hostname(), port), from: u.Query().Get("from")}
	if m.from == "" {
		m.from = "porthole@" + u.Hostname()
	}
	if _, err := mail.ParseAddress(m.from); err != nil {
		return nil, fmt.Errorf("auth: SMTP URL has an invalid from address")
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		m.auth = smtp.PlainAuth("", u.User.Username(), pw, u.Hostname())
	}
	return m, nil
}

// Send implements Mailer. ctx is not honoured by net/smtp; the service
// sends from its own worker so a slow server never holds a request.
func (m *SMTPMailer) Send(_ context.Context, to, subject, body string) error {
	if _, err := mail.ParseAddress(to); err != nil || strings.ContainsAny(to, "\r\n") || strings.ContainsAny(subject, "\r\n") {
		return fmt.Errorf("auth: refusing to send mail with a bad recipient or subject")
	}
	msg := "From: " + m.from + "\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.ReplaceAll(body, "\n", "\r\n")
	if err := smtp.SendMail(m.addr, m.auth, m.from, []string{to}, []byte(msg)); err != nil {
		return fmt.Errorf("auth: unable to send mail via %s: %w", m.addr, err)
	}
	return nil
}
