package dashboard

import (
	"net/http"

	"github.com/porthole-chat/porthole/internal/auth"
	"github.com/porthole-chat/porthole/internal/porthole"
)

// signInForm is the Data of the sign-in page.
type signInForm struct {
	Email string
	Next  string
}

func (d *Dashboard) signInPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, "sign_in", view{Title: "Sign in", Notice: doneNotice(r),
		Data: signInForm{Next: safeNext(r.URL.Query().Get("next"))}})
}

// Messages of the sign-in form. The first is the one answer to an unknown
// email and to a wrong password alike.
const (
	msgBadCredentials = "Email or password is incorrect."
	msgLockedOut      = "Too many attempts. Try later."
)

// signIn checks email and password with the auth service and, on success,
// sets a fresh session cookie.
func (d *Dashboard) signIn(w http.ResponseWriter, r *http.Request) {
	email, next := r.PostFormValue("email"), safeNext(r.PostFormValue("next"))
	again := func(status int, msg string) {
		d.renderStatus(w, r, status, "sign_in", view{Title: "Sign in", Notice: notice{Error: msg},
			Data: signInForm{Email: truncate(email, 254), Next: next}})
	}
	if d.formLimited(r) {
		again(http.StatusTooManyRequests, msgLockedOut)
		return
	}
	res, err := d.auth.Login(r.Context(), auth.LoginInput{Email: email, Password: r.PostFormValue("password"), Client: client(r)})
	switch {
	case porthole.IsCode(err, porthole.EUNAUTHORIZED):
		again(http.StatusUnauthorized, msgBadCredentials)
		return
	case porthole.IsCode(err, porthole.ERATELIMITED):
		again(http.StatusTooManyRequests, msgLockedOut)
		return
	case err != nil:
		d.fail(w, r, auth.Principal{}, err)
		return
	}
	d.setSessionCookie(w, res)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut ends the session server-side (so the cookie value is dead even
// if someone kept a copy) and clears the cookie.
func (d *Dashboard) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(d.auth.CookieName()); err == nil && c.Value != "" {
		p, err := d.auth.Authenticate(r.Context(), auth.Credentials{Cookie: c.Value})
		if err == nil {
			if err := d.auth.Logout(r.Context(), p); err != nil {
				d.fail(w, r, p, err)
				return
			}
		}
	}
	d.clearCookie(w)
	redirect(w, r, BasePath+"sign-in", "signed-out")
}

// resetForm is the Data of both password reset pages.
type resetForm struct {
	Token string
}

// passwordResetPage shows the request form, or with ?token= (the link of
// the reset mail) the form to choose a new password.
func (d *Dashboard) passwordResetPage(w http.ResponseWriter, r *http.Request) {
	if token := r.URL.Query().Get("token"); token != "" {
		d.render(w, r, "password_reset_confirm", view{Title: "Choose a new password", Data: resetForm{Token: truncate(token, 200)}})
		return
	}
	d.render(w, r, "password_reset_request", view{Title: "Reset your password"})
}

// requestPasswordReset answers the same whether or not the email belongs
// to an account.
func (d *Dashboard) requestPasswordReset(w http.ResponseWriter, r *http.Request) {
	if d.formLimited(r) {
		d.renderStatus(w, r, http.StatusTooManyRequests, "password_reset_request", view{Title: "Reset your password", Notice: notice{Error: msgLockedOut}})
		return
	}
	if err := d.auth.RequestPasswordReset(r.Context(), r.PostFormValue("email"), client(r)); err != nil {
		d.fail(w, r, auth.Principal{}, err)
		return
	}
	redirect(w, r, BasePath+"sign-in", "reset-requested")
}

// confirmPasswordReset sets the new password; the auth service ends every
// session of the account.
func (d *Dashboard) confirmPasswordReset(w http.ResponseWriter, r *http.Request) {
	token := truncate(r.PostFormValue("token"), 200)
	again := func(status int, msg string) {
		d.renderStatus(w, r, status, "password_reset_confirm", view{Title: "Choose a new password", Notice: notice{Error: msg}, Data: resetForm{Token: token}})
	}
	if d.formLimited(r) {
		again(http.StatusTooManyRequests, msgLockedOut)
		return
	}
	password := r.PostFormValue("password")
	if password != r.PostFormValue("confirm") {
		again(http.StatusBadRequest, "The two passwords differ.")
		return
	}
	err := d.auth.ConfirmPasswordReset(r.Context(), token, password, client(r))
	if formError(err) {
		again(http.StatusBadRequest, porthole.ErrorMessage(err))
		return
	}
	if err != nil {
		d.fail(w, r, auth.Principal{}, err)
		return
	}
	d.clearCookie(w)
	redirect(w, r, BasePath+"sign-in", "password-reset")
}

// invitationForm is the Data of the invitation page.
type invitationForm struct {
	Token string
	Name  string
}

func (d *Dashboard) invitationPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, "invitation_accept", view{Title: "Join an organization", Data: invitationForm{Token: truncate(r.URL.Query().Get("token"), 200)}})
}

// acceptInvitation makes the account (or checks the existing account's
// password), adds the membership and signs the person in.
func (d *Dashboard) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	form := invitationForm{Token: truncate(r.PostFormValue("token"), 200), Name: truncate(r.PostFormValue("name"), 200)}
	again := func(status int, msg string) {
		d.renderStatus(w, r, status, "invitation_accept", view{Title: "Join an organization", Notice: notice{Error: msg}, Data: form})
	}
	if d.formLimited(r) {
		again(http.StatusTooManyRequests, msgLockedOut)
		return
	}
	res, err := d.auth.AcceptInvitation(r.Context(), form.Token, form.Name, r.PostFormValue("password"), client(r))
	switch {
	case porthole.IsCode(err, porthole.EUNAUTHORIZED):
		again(http.StatusUnauthorized, msgBadCredentials)
		return
	case formError(err):
		again(httpStatus(err), porthole.ErrorMessage(err))
		return
	case err != nil:
		d.fail(w, r, auth.Principal{}, err)
		return
	}
	d.setSessionCookie(w, res)
	http.Redirect(w, r, BasePath, http.StatusSeeOther)
}

// switchOrganization makes the session act in another of the member's
// organizations.
func (d *Dashboard) switchOrganization(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := d.db.SetSessionOrganization(r.Context(), p.UserID, p.SessionID, r.PostFormValue("org_id")); err != nil {
		return err
	}
	redirect(w, r, BasePath, "org-switched")
	return nil
}

func (d *Dashboard) notFound(w http.ResponseWriter, r *http.Request) {
	d.renderStatus(w, r, http.StatusNotFound, "error", view{Title: "Not found",
		Data: errorPage{Heading: "Not found", Message: "There is no such page."}})
}
