// Package dashboard is the members' web interface under /app/: server-rendered
// pages (html/template, embedded templates and static files) for signing in,
// the organization, its chatbots, allowed origins, team, API keys, sessions
// and security events.
//
// It is a transport: it decodes forms, checks permissions with the auth
// service's RBAC on the server for every page and action, calls the auth
// service or a tenant-bound store handle, and renders. It never writes SQL,
// never trusts a hidden field for authorization, and never emits inline
// script, inline style or style attributes: every page is served under
// httpx.DashboardCSP and can never be framed. State-changing requests are
// POST forms behind net/http.CrossOriginProtection.
package dashboard
