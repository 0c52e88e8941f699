package secrets

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// memStore is an in-memory DataKeyStore with the contract the SQL store
// must keep: ENOTFOUND, ECONFLICT on a second create, compare-and-swap
// replace.
type memStore struct {
	mu      sync.Mutex
	keys    map[string]WrappedKey
	creates int // successful CreateDataKey calls

	// beforeReplace, if set, runs (unlocked) at the start of ReplaceDataKey,
	// so a test can race another writer in.
	beforeReplace func(orgID string)
}

func newMemStore() *memStore { return &memStore{keys: make(map[string]WrappedKey)} }

func cloneKey(k WrappedKey) WrappedKey {
	return WrappedKey{MasterKeyID: k.MasterKeyID, Ciphertext: bytes.Clone(k.Ciphertext)}
}

func (s *memStore) DataKey(_ context.Context, orgID string) (WrappedKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[orgID]
	if !ok {
		return WrappedKey{}, porthole.Errorf(porthole.ENOTFOUND, "data key not found")
	}
	return cloneKey(k), nil
}

func (s *memStore) CreateDataKey(_ context.Context, orgID string, k WrappedKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[orgID]; ok {
		return porthole.Errorf(porthole.ECONFLICT, "data key exists")
	}
	s.keys[orgID] = cloneKey(k)
	s.creates++
	return nil
}

func (s *memStore) ReplaceDataKey(_ context.Context, orgID string, old, new WrappedKey) error {
	if s.beforeReplace != nil {
		s.beforeReplace(orgID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.keys[orgID]
	if !ok || cur.MasterKeyID != old.MasterKeyID || !bytes.Equal(cur.Ciphertext, old.Ciphertext) {
		return porthole.Errorf(porthole.ECONFLICT, "data key changed")
	}
	s.keys[orgID] = cloneKey(new)
	return nil
}

func (s *memStore) DataKeyOrgs(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	orgs := make([]string, 0, len(s.keys))
	for id := range s.keys {
		orgs = append(orgs, id)
	}
	slices.Sort(orgs)
	return orgs, nil
}

func (s *memStore) HasDataKeys(context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys) > 0, nil
}

func (s *memStore) masterKeyIDs() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make(map[string]string, len(s.keys))
	for org, k := range s.keys {
		ids[org] = k.MasterKeyID
	}
	return ids
}

func (s *memStore) createCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates
}
