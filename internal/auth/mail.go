package auth

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"
)

// Mailer sends one plain-text email.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// SMTPMailer sends mail through an SMTP server with net/smtp (STARTTLS when
// the server offers it; credentials are only sent over TLS or to localhost,
// as net/smtp's PlainAuth requires).
type SMTPMailer struct {
	addr     string
	host     string
	implicit bool // smtps: TLS from the first byte
	auth     smtp.Auth
	from     string
}

// NewSMTPMailer parses an SMTP URL: smtp://user:password@host:port?from=addr
// (STARTTLS, default port 587) or smtps://... (TLS from the start, default
// port 465). Without from, the sender is porthole@host.
func NewSMTPMailer(rawURL string) (*SMTPMailer, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("auth: SMTP URL must be smtp[s]://[user:password@]host[:port][?from=address]")
	}
	port := u.Port()
	switch {
	case port != "":
	case u.Scheme == "smtps":
		port = "465"
	default:
		port = "587"
	}
	m := &SMTPMailer{addr: net.JoinHostPort(u.Hostname(), port), host: u.Hostname(), implicit: u.Scheme == "smtps", from: u.Query().Get("from")}
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
	var err error
	if m.implicit {
		err = m.sendTLS(to, []byte(msg))
	} else {
		err = smtp.SendMail(m.addr, m.auth, m.from, []string{to}, []byte(msg))
	}
	if err != nil {
		return fmt.Errorf("auth: unable to send mail via %s: %w", m.addr, err)
	}
	return nil
}

// sendTLS sends over a connection that is TLS from the start (smtps).
func (m *SMTPMailer) sendTLS(to string, msg []byte) error {
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", m.addr, &tls.Config{ServerName: m.host, MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if m.auth != nil {
		if err := c.Auth(m.auth); err != nil {
			return err
		}
	}
	if err := c.Mail(m.from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
