package secrets

import (
	"context"
	"errors"
	"fmt"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// Rotate re-wraps with the primary master key every data key wrapped by
// another one, and returns how many it re-wrapped. Each key is swapped with
// ReplaceDataKey (compare-and-swap): a conflict means another process
// rotated that key meanwhile, and it is skipped. DEKs themselves do not
// change, so secrets sealed before keep opening, here and in every other
// process, during and after rotation, as long as each process's keyring
// holds both the old and the new key. Rotate is safe to run while serving
// and to re-run; it goes on past a key it cannot re-wrap and reports the
// count of such keys with the first failure. See the package documentation
// for the operator procedure.
func (v *Vault) Rotate(ctx context.Context) (rotated int, err error) {
	orgs, err := v.store.DataKeyOrgs(ctx)
	if err != nil {
		return 0, fmt.Errorf("secrets: unable to list data keys: %w", err)
	}
	var failed int
	var firstErr error
	for _, orgID := range orgs {
		if err := ctx.Err(); err != nil {
			return rotated, err
		}
		done, err := v.rotateOne(ctx, orgID)
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if done {
			rotated++
		}
	}
	if failed > 0 {
		return rotated, fmt.Errorf("secrets: rotate: %d of %d data keys not re-wrapped; first: %w", failed, len(orgs), firstErr)
	}
	return rotated, nil
}

// rotateOne re-wraps one organization's DEK if it is not wrapped by the
// primary key, reporting whether it did.
func (v *Vault) rotateOne(ctx context.Context, orgID string) (bool, error) {
	primaryID := v.keyring.PrimaryID()
	old, err := v.store.DataKey(ctx, orgID)
	if porthole.IsCode(err, porthole.ENOTFOUND) {
		return false, nil // deleted since it was listed
	}
	if err != nil {
		return false, fmt.Errorf("secrets: unable to read data key of organization %s: %w", orgID, err)
	}
	if old.MasterKeyID == primaryID {
		return false, nil
	}
	dek, err := v.keyring.unwrap(orgID, old)
	if err != nil {
		return false, fmt.Errorf("secrets: %w", err)
	}
	defer clear(dek)
	rewrapped, err := v.keyring.wrap(orgID, dek)
	if err != nil {
		return false, fmt.Errorf("secrets: unable to wrap data key of organization %s: %w", orgID, err)
	}
	err = v.store.ReplaceDataKey(ctx, orgID, old, rewrapped)
	if porthole.IsCode(err, porthole.ECONFLICT) {
		return false, nil // someone else rotated it
	}
	if err != nil {
		return false, fmt.Errorf("secrets: unable to replace data key of organization %s: %w", orgID, err)
	}
	v.forget(orgID)
	return true, nil
}

// CheckKeyringAvailable is the start-up check: it refuses, with a one-line
// reason and without changing anything, a keyring that cannot read the data
// already stored. With k nil (no master key configured) it fails if any data
// key exists. Otherwise it fails if a stored data key is wrapped by a master
// key id the keyring lacks, naming that id, or if a key under a known id does
// not unwrap it (the id was reused for different key bytes). It reads every
// data key row once and unwraps one per master key id.
func CheckKeyringAvailable(ctx context.Context, store DataKeyStore, k *Keyring) error {
	if k == nil {
		has, err := store.HasDataKeys(ctx)
		if err != nil {
			return fmt.Errorf("secrets: unable to check for encrypted data: %w", err)
		}
		if has {
			return errors.New("secrets: master key missing: the database holds encrypted data, and without the master key it was written with it cannot be read; restore that key (file or environment), nothing was changed")
		}
		return nil
	}
	orgs, err := store.DataKeyOrgs(ctx)
	if err != nil {
		return fmt.Errorf("secrets: unable to list data keys: %w", err)
	}
	verified := make(map[string]bool)
	for _, orgID := range orgs {
		wk, err := store.DataKey(ctx, orgID)
		if porthole.IsCode(err, porthole.ENOTFOUND) {
			continue
		}
		if err != nil {
			return fmt.Errorf("secrets: unable to read data key of organization %s: %w", orgID, err)
		}
		if verified[wk.MasterKeyID] {
			continue
		}
		if !k.Has(wk.MasterKeyID) {
			return fmt.Errorf("secrets: master key %q missing: it wraps stored data keys (organization %s, perhaps others) but the keyring holds only %v; add it back, nothing was changed", wk.MasterKeyID, orgID, k.IDs())
		}
		dek, err := k.unwrap(orgID, wk)
		if err != nil {
			return fmt.Errorf("secrets: master key %q does not match the key that wrapped stored data keys (organization %s): a different key under the same id? nothing was changed", wk.MasterKeyID, orgID)
		}
		clear(dek)
		verified[wk.MasterKeyID] = true
	}
	return nil
}
