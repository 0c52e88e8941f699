package auth

import (
	"context"

	"github.com/porthole-chat/porthole/internal/porthole"
)

// CreateOwner makes a new organization and its first owner, for the
// operator's CLI (`porthole admin create-owner`). The password must pass
// the password policy.
func (s *Service) CreateOwner(ctx context.Context, email, name, password, orgName string) (porthole.User, porthole.Organization, error) {
	hash, err := HashPassword(password)
	if err != nil {
		return porthole.User{}, porthole.Organization{}, err
	}
	org, err := s.db.CreateOrganization(ctx, orgName)
	if err != nil {
		return porthole.User{}, porthole.Organization{}, err
	}
	u, err := s.db.CreateUser(ctx, email, name, hash)
	if err != nil {
		return porthole.User{}, porthole.Organization{}, err
	}
	if _, err := s.db.Tenant(org.ID).AddMember(ctx, u.ID, porthole.RoleOwner); err != nil {
		return porthole.User{}, porthole.Organization{}, err
	}
	return u, org, nil
}

// SetPassword sets a user's password by email, for the operator's CLI
// (`porthole admin reset-password`), and ends every session of the account.
func (s *Service) SetPassword(ctx context.Context, email, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	u, _, err := s.db.UserByEmail(ctx, email)
	if err != nil {
		return err
	}
	if err := s.db.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return err
	}
	return s.endAllSessions(ctx, u.ID, "")
}
