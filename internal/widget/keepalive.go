package widget

import (
	"context"
	"math/rand/v2"
	"time"
)

// The keepalive loop replaces two tickers and a goroutine per socket (a
// measured share of the memory of an idle socket, docs/benchmarks.md): one
// loop per server visits the live sockets, and each due ping or ticket push
// runs on a short-lived goroutine that ends with its socket.

// keepAliveTick is how often the loop looks for due sockets: a tenth of the
// shorter period, between 10 ms and 1 s, so a ping is at most that late.
func (l Limits) keepAliveTick() time.Duration {
	return min(max(min(l.PingInterval, l.TicketRefresh)/10, 10*time.Millisecond), time.Second)
}

// startKeepAlive enrolls a socket that has been welcomed. Helpers it starts
// are counted in c.helpers, which the socket waits for; c.end closes the
// socket.
func (s *Server) startKeepAlive(c *socketSession) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// The first ping and ticket push come up to a quarter early, at random:
	// sockets that connected together (every visitor reconnecting after a
	// restart) would otherwise be pinged in the same tick, forever after,
	// and the burst delays whatever else the server is doing then (streamed
	// tokens among it). Early is always safe for a ticket.
	c.nextPing = now.Add(s.limits.PingInterval - rand.N(s.limits.PingInterval/4+1))
	c.nextTicket = now.Add(s.limits.TicketRefresh - rand.N(s.limits.TicketRefresh/4+1))
	s.live[c] = struct{}{}
	if !s.keepAliveRunning && !s.closing {
		s.keepAliveRunning = true
		s.wg.Add(1)
		go s.keepAliveLoop()
	}
}

// stopKeepAlive withdraws a socket before it waits for its helpers, so no
// helper starts after that wait began.
func (s *Server) stopKeepAlive(c *socketSession) {
	s.mu.Lock()
	delete(s.live, c)
	s.mu.Unlock()
}

// keepAliveLoop runs until Shutdown starts; it is counted in s.wg.
func (s *Server) keepAliveLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.limits.keepAliveTick())
	defer t.Stop()
	for {
		select {
		case <-s.closingCh:
			return
		case <-t.C:
			s.keepAliveDue(s.now())
		}
	}
}

// keepAliveDue starts the pings and ticket pushes that are due at now.
func (s *Server) keepAliveDue(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	for c := range s.live {
		if !now.Before(c.nextPing) {
			c.nextPing = now.Add(s.limits.PingInterval + s.limits.PongTimeout)
			c.helpers.Add(1)
			go c.ping(now)
		}
		if !now.Before(c.nextTicket) {
			c.nextTicket = now.Add(s.limits.TicketRefresh)
			c.helpers.Add(1)
			go c.pushTicket()
		}
	}
}

// ping checks the peer answers within the pong timeout; the next ping is
// due one interval after this one was sent.
func (c *socketSession) ping(sent time.Time) {
	defer c.helpers.Done()
	s := c.srv
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), s.limits.PongTimeout) // see writeRaw
	err := c.conn.Ping(ctx)
	cancel()
	if err != nil {
		c.end(0, "")
		return
	}
	s.mu.Lock()
	c.nextPing = sent.Add(s.limits.PingInterval)
	s.mu.Unlock()
}

// pushTicket sends a fresh ticket for the next reconnect.
func (c *socketSession) pushTicket() {
	defer c.helpers.Done()
	t, exp := c.srv.tickets.issue(c.claims.Business, c.claims.Chatbot, c.claims.Parent)
	if c.write(c.ctx, ticketFrame{Type: "ticket", Ticket: t, TicketExpiresAt: exp.UnixMilli()}) != nil {
		c.end(0, "")
	}
}
