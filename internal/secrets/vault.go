package secrets

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// WrappedKey is an organization's data key encrypted under one master key.
// MasterKeyID names that key; Ciphertext is in the format described in the
// package documentation.
type WrappedKey struct {
	MasterKeyID string
	Ciphertext  []byte
}

// DataKeyStore keeps the wrapped data key of each organization. The store
// package implements it; keys are system-wide rows, one per organization.
type DataKeyStore interface {
	// DataKey returns the wrapped key of org, or an error with code porthole.ENOTFOUND.
	DataKey(ctx context.Context, orgID string) (WrappedKey, error)
	// CreateDataKey stores org's first key; porthole.ECONFLICT if one exists (another process won the race: re-read it).
	CreateDataKey(ctx context.Context, orgID string, k WrappedKey) error
	// ReplaceDataKey swaps old for new only if the stored key still equals old (compare-and-swap), else porthole.ECONFLICT.
	ReplaceDataKey(ctx context.Context, orgID string, old, new WrappedKey) error
	// DataKeyOrgs lists the org ids that have a data key (system-wide; used by rotation).
	DataKeyOrgs(ctx context.Context) ([]string, error)
	// HasDataKeys reports whether any data key exists (used at start-up to refuse a missing master key).
	HasDataKeys(ctx context.Context) (bool, error)
}

// MsgUndecryptable is the caller-safe message of every failure to open a
// sealed secret (code porthole.EINVALID): wrong organization, truncated,
// altered or not a ciphertext at all. The causes are not told apart on
// purpose.
const MsgUndecryptable = "secret cannot be decrypted for this organization"

// Vault seals and opens secrets of organizations. It is safe for concurrent
// use; several Vaults (in several processes) may share one DataKeyStore.
type Vault struct {
	keyring  *Keyring
	store    DataKeyStore
	recorder porthole.SecurityRecorder

	mu sync.RWMutex
	// dataKeys caches unwrapped data keys by organization id. An
	// organization's DEK never changes (rotation only re-wraps it), so an
	// entry stays correct whatever another process does to the wrapping;
	// Rotate still drops the entries it re-wraps so the next use proves the
	// new wrapping.
	dataKeys map[string]cipher.AEAD
}

// VaultOption configures a Vault.
type VaultOption func(*Vault)

// WithSecurityRecorder makes the Vault record a porthole.SecDecryptFailed
// event for every secret or data key that fails to decrypt.
func WithSecurityRecorder(r porthole.SecurityRecorder) VaultOption {
	return func(v *Vault) { v.recorder = r }
}

// NewVault returns a Vault that wraps data keys with keyring and keeps them
// in store.
func NewVault(keyring *Keyring, store DataKeyStore, opts ...VaultOption) (*Vault, error) {
	if keyring == nil || len(keyring.keys) == 0 {
		return nil, errors.New("secrets: a vault needs a master key")
	}
	if store == nil {
		return nil, errors.New("secrets: a vault needs a data key store")
	}
	v := &Vault{keyring: keyring, store: store, dataKeys: make(map[string]cipher.AEAD)}
	for _, opt := range opts {
		opt(v)
	}
	return v, nil
}

func checkOrgID(orgID string) error {
	if orgID == "" || strings.IndexByte(orgID, 0) >= 0 {
		return porthole.Errorf(porthole.EINVALID, "invalid organization id")
	}
	return nil
}

// Seal encrypts plaintext for orgID, creating the organization's data key on
// first use. The result is only opened by Open with the same orgID.
func (v *Vault) Seal(ctx context.Context, orgID string, plaintext []byte) ([]byte, error) {
	if err := checkOrgID(orgID); err != nil {
		return nil, err
	}
	aead, err := v.dataKey(ctx, orgID, true)
	if err != nil {
		return nil, err
	}
	ciphertext, err := sealVersioned(aead, secretVersion1, plaintext, secretAssociatedData(orgID))
	if err != nil {
		return nil, porthole.WrapError(porthole.EINTERNAL, err, "unable to encrypt secret")
	}
	return ciphertext, nil
}

// Open decrypts a ciphertext made by Seal for orgID. A ciphertext made for
// another organization, truncated or altered yields a porthole.EINVALID
// error with message MsgUndecryptable. A data key that the keyring cannot
// unwrap is an operator problem and yields porthole.EINTERNAL naming the
// master key id; store failures pass through with their codes.
func (v *Vault) Open(ctx context.Context, orgID string, ciphertext []byte) ([]byte, error) {
	if err := checkOrgID(orgID); err != nil {
		return nil, err
	}
	aead, err := v.dataKey(ctx, orgID, false)
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		// No data key: nothing was ever sealed for this organization, so
		// the ciphertext came from elsewhere.
		v.recordDecryptFailure(ctx, orgID, "secret opened for an organization without a data key")
		return nil, porthole.Errorf(porthole.EINVALID, MsgUndecryptable)
	}
	if err != nil {
		return nil, err
	}
	plaintext, err := openVersioned(aead, secretVersion1, ciphertext, secretAssociatedData(orgID))
	if err != nil {
		v.recordDecryptFailure(ctx, orgID, "secret failed authentication")
		return nil, porthole.WrapError(porthole.EINVALID, err, MsgUndecryptable)
	}
	return plaintext, nil
}

// dataKey returns the organization's DEK as an AEAD, from the cache, the
// store, or (when create is set and the store has none) a new one.
func (v *Vault) dataKey(ctx context.Context, orgID string, create bool) (cipher.AEAD, error) {
	v.mu.RLock()
	cached, ok := v.dataKeys[orgID]
	v.mu.RUnlock()
	if ok {
		return cached, nil
	}

	wk, err := v.store.DataKey(ctx, orgID)
	if porthole.IsCode(err, porthole.ENOTFOUND) && create {
		var aead cipher.AEAD
		aead, err = v.createDataKey(ctx, orgID)
		if err == nil {
			v.remember(orgID, aead)
			return aead, nil
		}
		if !porthole.IsCode(err, porthole.ECONFLICT) {
			return nil, err
		}
		// Another Seal, here or in another process, stored the first key:
		// ours was never used, so adopt theirs.
		wk, err = v.store.DataKey(ctx, orgID)
	}
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("secrets: unable to read data key: %w", err)
	}
	dek, err := v.keyring.unwrap(orgID, wk)
	if err != nil {
		v.recordDecryptFailure(ctx, orgID, "data key cannot be unwrapped: "+err.Error())
		return nil, porthole.WrapError(porthole.EINTERNAL, err, "data key cannot be unwrapped")
	}
	aead, err := newAEAD(dek)
	clear(dek)
	if err != nil {
		return nil, porthole.WrapError(porthole.EINTERNAL, err, "unable to use data key")
	}
	v.remember(orgID, aead)
	return aead, nil
}

// createDataKey makes and stores the organization's first DEK. It returns
// the store's ECONFLICT unchanged when another writer got there first.
func (v *Vault) createDataKey(ctx context.Context, orgID string) (cipher.AEAD, error) {
	dek := make([]byte, masterKeySize)
	defer clear(dek)
	if _, err := rand.Read(dek); err != nil {
		return nil, porthole.WrapError(porthole.EINTERNAL, err, "unable to generate data key")
	}
	wk, err := v.keyring.wrap(orgID, dek)
	if err != nil {
		return nil, porthole.WrapError(porthole.EINTERNAL, err, "unable to wrap data key")
	}
	aead, err := newAEAD(dek)
	if err != nil {
		return nil, porthole.WrapError(porthole.EINTERNAL, err, "unable to use data key")
	}
	if err := v.store.CreateDataKey(ctx, orgID, wk); err != nil {
		if porthole.IsCode(err, porthole.ECONFLICT) {
			return nil, err
		}
		return nil, fmt.Errorf("secrets: unable to store data key: %w", err)
	}
	return aead, nil
}

// remember caches a DEK, keeping an entry already there: both are the same
// key, and keeping the first avoids churn under concurrent misses.
func (v *Vault) remember(orgID string, aead cipher.AEAD) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.dataKeys[orgID]; !ok {
		v.dataKeys[orgID] = aead
	}
}

func (v *Vault) forget(orgID string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.dataKeys, orgID)
}

func (v *Vault) recordDecryptFailure(ctx context.Context, orgID, detail string) {
	if v.recorder == nil {
		return
	}
	v.recorder.RecordSecurityEvent(ctx, porthole.SecurityEvent{
		ID:        porthole.NewID(),
		OrgID:     orgID,
		Kind:      porthole.SecDecryptFailed,
		Detail:    detail,
		CreatedAt: time.Now().UTC(),
	})
}
