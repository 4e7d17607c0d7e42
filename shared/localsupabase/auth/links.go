package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// otp returns a fresh six-digit code and the token GoTrue stores and puts in
// links: hex(sha224(email + code)).
func otp(email string) (code, hashed string) {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	code = fmt.Sprintf("%06d", n.Int64())
	sum := sha256.Sum224([]byte(email + code))
	return code, hex.EncodeToString(sum[:])
}

// newPendingUser inserts a user the way invite and link generation create
// one: unconfirmed, email identity, default role.
func (s *Server) newPendingUser(ctx context.Context, tx pgx.Tx, email, aud, password string, data map[string]any, now time.Time) (*user, error) {
	if data == nil {
		data = map[string]any{}
	}
	u := &user{ID: uuid.New(), Aud: aud, Role: "authenticated", Email: email,
		AppMetaData:  map[string]any{"provider": "email", "providers": []any{"email"}},
		UserMetaData: data, CreatedAt: now, UpdatedAt: now}
	hash := ""
	if password != "" {
		h, e := hashPassword(password)
		if e != nil {
			return nil, e
		}
		hash = h
	}
	if err := insertUser(ctx, tx, u, hash); err != nil {
		return nil, err
	}
	if _, err := insertIdentity(ctx, tx, u, "email", map[string]any{"email": email}, now); err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Server) invite(w http.ResponseWriter, r *http.Request) *apiError {
	var p struct {
		Email string         `json:"email"`
		Data  map[string]any `json:"data"`
	}
	if e := decode(r, &p); e != nil {
		return e
	}
	email, e := normaliseEmail(p.Email)
	if e != nil {
		return e
	}
	ctx := r.Context()
	aud := requestAud(r)
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	existing, err := findUserByEmail(ctx, s.pool, email, aud)
	switch {
	case err == nil && existing.EmailConfirmedAt != nil:
		return newError(http.StatusUnprocessableEntity, "email_exists", duplicateEmailMsg)
	case err != nil && !errors.Is(err, errNotFound):
		return s.internalError("Database error finding user", err)
	}
	_, hashed := otp(email)
	var id uuid.UUID
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if existing != nil {
			id = existing.ID
		} else {
			u, err := s.newPendingUser(ctx, tx, email, aud, "", p.Data, now)
			if err != nil {
				return err
			}
			id = u.ID
		}
		// The invite mail is not sent anywhere; the token it would carry is
		// stored as GoTrue stores it.
		_, err := tx.Exec(ctx, `UPDATE auth.users SET invited_at = $2, confirmation_token = $3, confirmation_sent_at = $2, updated_at = $2 WHERE id = $1`, id, now, hashed)
		return err
	})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return ae
		}
		return s.internalError("Database error saving user", err)
	}
	u, err := findUser(ctx, s.pool, id)
	if err != nil {
		return s.internalError("Database error finding user", err)
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) generateLink(w http.ResponseWriter, r *http.Request) *apiError {
	var p struct {
		Type       string         `json:"type"`
		Email      string         `json:"email"`
		NewEmail   string         `json:"new_email"`
		Password   string         `json:"password"`
		Data       map[string]any `json:"data"`
		RedirectTo string         `json:"redirect_to"`
	}
	if e := decode(r, &p); e != nil {
		return e
	}
	email, e := normaliseEmail(p.Email)
	if e != nil {
		return e
	}
	switch p.Type {
	case "signup", "invite", "magiclink", "recovery", "email_change_current", "email_change_new":
	default:
		return badRequest("Invalid email action link type requested: " + p.Type)
	}
	newEmail := ""
	if p.Type == "email_change_current" || p.Type == "email_change_new" {
		if newEmail, e = normaliseEmail(p.NewEmail); e != nil {
			return e
		}
	}
	ctx := r.Context()
	aud := requestAud(r)
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	existing, err := findUserByEmail(ctx, s.pool, email, aud)
	if err != nil && !errors.Is(err, errNotFound) {
		return s.internalError("Database error finding user", err)
	}
	vtype := p.Type
	if vtype == "magiclink" && existing == nil {
		vtype = "signup"
	}
	switch vtype {
	case "signup", "invite":
		if existing != nil && existing.EmailConfirmedAt != nil {
			return newError(http.StatusUnprocessableEntity, "email_exists", duplicateEmailMsg)
		}
	case "recovery", "email_change_current", "email_change_new":
		if existing == nil {
			return newError(http.StatusNotFound, "user_not_found", "User with this email not found")
		}
	}
	if newEmail != "" {
		if other, err := findUserByEmail(ctx, s.pool, newEmail, aud); err == nil && other.ID != existing.ID {
			return newError(http.StatusUnprocessableEntity, "email_exists", duplicateEmailMsg)
		}
	}
	code, hashed := otp(email)
	if newEmail != "" && vtype == "email_change_new" {
		code, hashed = otp(newEmail)
	}
	var id uuid.UUID
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if existing != nil {
			id = existing.ID
		} else {
			pw := p.Password
			if pw == "" {
				pw = randomPassword()
			}
			u, err := s.newPendingUser(ctx, tx, email, aud, pw, p.Data, now)
			if err != nil {
				return err
			}
			id = u.ID
		}
		var sql string
		switch vtype {
		case "signup":
			sql = `confirmation_token = $3, confirmation_sent_at = $2`
		case "invite":
			sql = `invited_at = $2, confirmation_token = $3, confirmation_sent_at = $2`
		case "magiclink", "recovery":
			sql = `recovery_token = $3, recovery_sent_at = $2`
		case "email_change_current":
			sql = `email_change_token_current = $3, email_change = $4, email_change_sent_at = $2`
		case "email_change_new":
			sql = `email_change_token_new = $3, email_change = $4, email_change_sent_at = $2`
		}
		args := []any{id, now, hashed}
		if vtype == "email_change_current" || vtype == "email_change_new" {
			args = append(args, newEmail)
		}
		_, err := tx.Exec(ctx, `UPDATE auth.users SET `+sql+`, updated_at = $2 WHERE id = $1`, args...)
		return err
	})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return ae
		}
		return s.internalError("Database error updating user for recovery", err)
	}
	u, err := findUser(ctx, s.pool, id)
	if err != nil {
		return s.internalError("Database error finding user", err)
	}
	redirect := p.RedirectTo
	if redirect == "" {
		redirect = s.cfg.SiteURL
	}
	link := fmt.Sprintf("%s/verify?token=%s&type=%s&redirect_to=%s", s.cfg.ExternalURL, hashed, vtype, url.QueryEscape(redirect))
	// GoTrue embeds the user in the response, so its fields come first at
	// the top level, followed by the link properties.
	fs := append(u.fields(),
		field{"action_link", link}, field{"email_otp", code}, field{"hashed_token", hashed},
		field{"verification_type", vtype}, field{"redirect_to", redirect})
	b, err := marshalOrdered(fs)
	if err != nil {
		return s.internalError("Error encoding response", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}
