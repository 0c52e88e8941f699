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
