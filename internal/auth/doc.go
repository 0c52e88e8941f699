// Package auth owns identity and access: password hashing (argon2id), API
// keys, and (growing) sessions, access tokens and role-based permissions.
//
// It never imports net/http handlers' packages or the store's SQL; it reaches
// storage through the store's tenant-bound handles.
package auth
