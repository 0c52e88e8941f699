// Package api is the /api/v1 JSON surface: one route table (routes.go) where
// every route declares the permission it needs, thin handlers (decode,
// validate, call one method, encode), and the OpenAPI 3.1 document that a
// test keeps in step with the table.
//
// Handlers reach tenant data only through the store handle bound to the
// caller's organization, so another tenant's ids answer 404. The package
// never writes SQL.
package api
