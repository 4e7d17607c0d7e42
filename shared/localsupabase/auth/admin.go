package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
)

const duplicateEmailMsg = "A user with this email address has already been registered"

// adminUserParams is GoTrue's body for admin create and update. Decoding
// into typed fields is what makes a numeric ban_duration a bad_json error.
type adminUserParams struct {
	ID           string         `json:"id"`
	Aud          string         `json:"aud"`
	Role         string         `json:"role"`
	Email        string         `json:"email"`
	Phone        string         `json:"phone"`
	Password     *string        `json:"password"`
	PasswordHash string         `json:"password_hash"`
	EmailConfirm bool           `json:"email_confirm"`
	PhoneConfirm bool           `json:"phone_confirm"`
	UserMetaData map[string]any `json:"user_metadata"`
	AppMetaData  map[string]any `json:"app_metadata"`
	BanDuration  string         `json:"ban_duration"`
}

func decode(r *http.Request, v any) *apiError {
	b, e := readBody(r)
	if e != nil {
		return e
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badJSON(err)
	}
	return nil
}

// listUsers is GoTrue's offset pagination: LIMIT/OFFSET plus a separate
// count, with Link and X-Total-Count built from the request URL as GoTrue
// saw it (the gateway has stripped /auth/v1).
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) *apiError {
	q := r.URL.Query()
	page, perPage := uint64(1), uint64(50)
	var err error
	if v := q.Get("page"); v != "" {
		if page, err = strconv.ParseUint(v, 10, 64); err != nil {
			return badRequest("Bad Pagination Parameters: " + err.Error())
		}
	}
	if v := q.Get("per_page"); v != "" {
		if perPage, err = strconv.ParseUint(v, 10, 64); err != nil {
			return badRequest("Bad Pagination Parameters: " + err.Error())
		}
	}
	// GoTrue divides by per_page when building the headers and crashes on
	// 0; refusing it is the one place this server is kinder than GoTrue.
	if perPage == 0 {
		return badRequest("Bad Pagination Parameters: per_page must be at least 1")
	}
	dir := "DESC"
	if v := q.Get("sort"); v != "" {
		parts := strings.Fields(v)
		if len(parts) == 0 || len(parts) > 2 || parts[0] != "created_at" {
			return badRequest("Bad Sort Parameters: bad field for sort '" + strings.Join(parts[:min(1, len(parts))], "") + "'")
		}
		if len(parts) == 2 {
			switch strings.ToLower(parts[1]) {
			case "asc":
				dir = "ASC"
			case "desc":
			default:
				return badRequest("Bad Sort Parameters: bad direction for sort '" + parts[1] + "', only 'asc' and 'desc' allowed")
			}
		}
	}
	aud := requestAud(r)
	where := `instance_id = $1 AND aud = $2`
	args := []any{instanceID, aud}
	if f := q.Get("filter"); f != "" {
		where += ` AND (email LIKE $3 OR raw_user_meta_data->>'full_name' ILIKE $3)`
		args = append(args, "%"+f+"%")
	}
	ctx := r.Context()
	var total uint64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM auth.users WHERE `+where, args...).Scan(&total); err != nil {
		return s.internalError("Database error finding users", err)
	}
	effPage := max(page, 1) // pop treats page 0 as 1; the headers keep the raw value
	limit, offset := clampInt64(perPage), clampInt64(mulSat(effPage-1, perPage))
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM auth.users WHERE `+where+
		fmt.Sprintf(` ORDER BY created_at %s, id %s LIMIT %d OFFSET %d`, dir, dir, limit, offset), args...)
	if err != nil {
		return s.internalError("Database error finding users", err)
	}
	users := []*user{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return s.internalError("Database error finding users", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return s.internalError("Database error finding users", err)
	}

	totalPages := total / perPage
	if total%perPage > 0 {
		totalPages++
	}
	link := ""
	u := url.URL{Path: r.URL.Path}
	if totalPages > page {
		q.Set("page", strconv.FormatUint(page+1, 10))
		u.RawQuery = q.Encode()
		link += "<" + u.String() + ">; rel=\"next\", "
	}
	q.Set("page", strconv.FormatUint(totalPages, 10))
	u.RawQuery = q.Encode()
	link += "<" + u.String() + ">; rel=\"last\""
	w.Header().Add("Link", link)
	w.Header().Add("X-Total-Count", strconv.FormatUint(total, 10))
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "aud": aud})
	return nil
}

func mulSat(a, b uint64) uint64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxUint64/b {
		return math.MaxUint64
	}
	return a * b
}

func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

type userKey struct{}

func (s *Server) withUser(next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) *apiError {
		id, err := uuid.Parse(r.PathValue("user_id"))
		if err != nil {
			return newError(http.StatusNotFound, "validation_failed", "user_id must be an UUID")
		}
		u, err := findUser(r.Context(), s.pool, id)
		if errors.Is(err, errNotFound) {
			return newError(http.StatusNotFound, "user_not_found", "User not found")
		}
		if err != nil {
			return s.internalError("Database error loading user", err)
		}
		return next(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	}
}

func ctxUser(r *http.Request) *user { return r.Context().Value(userKey{}).(*user) }

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) *apiError {
	writeJSON(w, http.StatusOK, ctxUser(r))
	return nil
}

// hashPassword uses bcrypt's minimum cost: the hash is never checked
// against a login here, and a higher cost would make bulk user creation in
// tests slow for no fidelity gain.
func hashPassword(pw string) (string, *apiError) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		return "", badRequest(err.Error())
	}
	return string(h), nil
}

func randomPassword() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 64)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

func parseBan(d string, now time.Time) (*time.Time, *apiError) {
	if d == "none" {
		return nil, nil
	}
	dur, err := time.ParseDuration(d)
	if err != nil {
		return nil, badRequest("invalid format for ban duration: " + err.Error())
	}
	t := now.Add(dur)
	return &t, nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) *apiError {
	var p adminUserParams
	if e := decode(r, &p); e != nil {
		return e
	}
	aud := requestAud(r)
	if p.Aud != "" {
		aud = p.Aud
	}
	if p.Email == "" && p.Phone == "" {
		return badRequest("Cannot create a user without either an email or phone")
	}
	ctx := r.Context()
	var providers []any
	if p.Email != "" {
		var e *apiError
		if p.Email, e = normaliseEmail(p.Email); e != nil {
			return e
		}
		if _, err := findUserByEmail(ctx, s.pool, p.Email, aud); err == nil {
			return newError(http.StatusUnprocessableEntity, "email_exists", duplicateEmailMsg)
		} else if !errors.Is(err, errNotFound) {
			return s.internalError("Database error checking email", err)
		}
		providers = append(providers, "email")
	}
	if p.Phone != "" {
		var e *apiError
		if p.Phone, e = normalisePhone(p.Phone); e != nil {
			return e
		}
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM auth.users WHERE instance_id = $1 AND phone = $2 AND aud = $3)`, instanceID, p.Phone, aud).Scan(&exists); err != nil {
			return s.internalError("Database error checking phone", err)
		}
		if exists {
			return newError(http.StatusUnprocessableEntity, "phone_exists", "Phone number already registered by another user")
		}
		providers = append(providers, "phone")
	}
	if p.Password != nil && *p.Password != "" && p.PasswordHash != "" {
		return badRequest("Only a password or a password hash should be provided")
	}
	id := uuid.New()
	if p.ID != "" {
		parsed, err := uuid.Parse(p.ID)
		if err != nil || parsed.Version() != 4 {
			return badRequest("ID must conform to the uuid v4 format")
		}
		if parsed == uuid.Nil {
			return badRequest("ID cannot be a nil uuid")
		}
		id = parsed
	}
	var hash string
	switch {
	case p.PasswordHash != "":
		if !strings.HasPrefix(p.PasswordHash, "$2") && !strings.HasPrefix(p.PasswordHash, "$argon2") && !strings.HasPrefix(p.PasswordHash, "$fbscrypt") {
			return badRequest("Invalid password hash format")
		}
		hash = p.PasswordHash
	default:
		pw := randomPassword()
		if p.Password != nil && *p.Password != "" {
			pw = *p.Password
		}
		var e *apiError
		if hash, e = hashPassword(pw); e != nil {
			return e
		}
	}
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	var banned *time.Time
	if p.BanDuration != "" {
		var e *apiError
		if banned, e = parseBan(p.BanDuration, now); e != nil {
			return e
		}
	}
	userMeta := p.UserMetaData
	if userMeta == nil {
		userMeta = map[string]any{}
	}
	appMeta := map[string]any{"provider": providers[0], "providers": providers}
	mergeMeta(appMeta, p.AppMetaData)
	role := "authenticated"
	if p.Role != "" {
		role = p.Role
	}
	u := &user{ID: id, Aud: aud, Role: role, Email: p.Email, Phone: p.Phone, AppMetaData: appMeta,
		UserMetaData: userMeta, CreatedAt: now, UpdatedAt: now, BannedUntil: banned, Identities: []identity{}}
	if p.EmailConfirm {
		u.EmailConfirmedAt = &now
		u.UserMetaData["email_verified"] = true
	}
	if p.PhoneConfirm {
		u.PhoneConfirmedAt = &now
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := insertUser(ctx, tx, u, hash); err != nil {
			return err
		}
		if u.Email != "" {
			i, err := insertIdentity(ctx, tx, u, "email", map[string]any{"email": u.Email}, now)
			if err != nil {
				return err
			}
			u.Identities = append(u.Identities, i)
		}
		if u.Phone != "" {
			i, err := insertIdentity(ctx, tx, u, "phone", map[string]any{"phone": u.Phone}, now)
			if err != nil {
				return err
			}
			u.Identities = append(u.Identities, i)
		}
		return nil
	})
	if err != nil {
		if isUniqueViolation(err) {
			return newError(http.StatusUnprocessableEntity, "email_exists", duplicateEmailMsg)
		}
		return s.internalError("Database error creating new user", err)
	}
	// GoTrue answers from memory without re-reading, so the generated
	// confirmed_at column is absent from this response.
	writeJSON(w, http.StatusOK, u)
	return nil
}

func insertUser(ctx context.Context, tx pgx.Tx, u *user, hash string) error {
	_, err := tx.Exec(ctx, `INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password,
		email_confirmed_at, invited_at, confirmation_token, confirmation_sent_at, recovery_token, email_change_token_new,
		email_change, phone, phone_confirmed_at, raw_app_meta_data, raw_user_meta_data, is_super_admin,
		created_at, updated_at, banned_until)
		VALUES ($1, $2, $3, $4, nullif($5, ''), $6, $7, $8, '', $9, '', '', '', nullif($10, ''), $11, $12, $13, NULL, $14, $14, $15)`,
		instanceID, u.ID, u.Aud, u.Role, u.Email, hash, u.EmailConfirmedAt, u.InvitedAt, u.ConfirmationSentAt,
		u.Phone, u.PhoneConfirmedAt, u.AppMetaData, u.UserMetaData, u.CreatedAt, u.BannedUntil)
	return err
}

// insertIdentity creates the email or phone identity GoTrue gives every
// user it creates: provider_id is the user id.
func insertIdentity(ctx context.Context, tx pgx.Tx, u *user, provider string, extra map[string]any, now time.Time) (identity, error) {
	data := map[string]any{"sub": u.ID.String(), "email_verified": false, "phone_verified": false}
	for k, v := range extra {
		data[k] = v
	}
	i := identity{ProviderID: u.ID.String(), UserID: u.ID, IdentityData: data, Provider: provider,
		LastSignInAt: &now, CreatedAt: &now, UpdatedAt: &now}
	err := tx.QueryRow(ctx, `INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5, $5) RETURNING id, email`, i.ProviderID, i.UserID, i.IdentityData, provider, now).Scan(&i.ID, &i.Email)
	return i, err
}

// mergeMeta applies GoTrue's metadata update: keys are merged one by one
// and a null value deletes the key.
func mergeMeta(dst, updates map[string]any) {
	for k, v := range updates {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) *apiError {
	u := ctxUser(r)
	var p adminUserParams
	if e := decode(r, &p); e != nil {
		return e
	}
	var e *apiError
	if p.Email != "" {
		if p.Email, e = normaliseEmail(p.Email); e != nil {
			return e
		}
	}
	if p.Phone != "" {
		if p.Phone, e = normalisePhone(p.Phone); e != nil {
			return e
		}
	}
	ctx := r.Context()
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	if p.BanDuration != "" {
		banned, e := parseBan(p.BanDuration, now)
		if e != nil {
			return e
		}
		// GoTrue writes the ban before (and outside) the update transaction.
		if _, err := s.pool.Exec(ctx, `UPDATE auth.users SET banned_until = $2, updated_at = $3 WHERE id = $1`, u.ID, banned, now); err != nil {
			return s.internalError("Error updating user", err)
		}
	}
	if p.Password != nil && len(*p.Password) < s.cfg.PasswordMinLength {
		e := newError(http.StatusUnprocessableEntity, "weak_password", fmt.Sprintf("Password should be at least %d characters.", s.cfg.PasswordMinLength))
		e.WeakPassword = []string{"length"}
		return e
	}
	var hash string
	if p.Password != nil {
		if hash, e = hashPassword(*p.Password); e != nil {
			return e
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		set := func(sql string, args ...any) error {
			_, err := tx.Exec(ctx, `UPDATE auth.users SET `+sql+`, updated_at = $2 WHERE id = $1`, append([]any{u.ID, now}, args...)...)
			return err
		}
		if p.Role != "" {
			if err := set(`role = $3`, p.Role); err != nil {
				return err
			}
		}
		if p.EmailConfirm {
			meta := u.UserMetaData
			if meta == nil {
				meta = map[string]any{}
			}
			meta["email_verified"] = true
			if err := set(`email_confirmed_at = coalesce(email_confirmed_at, $2), confirmation_token = '', raw_user_meta_data = $3`, meta); err != nil {
				return err
			}
		}
		if p.PhoneConfirm {
			if err := set(`phone_confirmed_at = coalesce(phone_confirmed_at, $2), phone_change_token = ''`); err != nil {
				return err
			}
		}
		if p.Password != nil {
			if err := set(`encrypted_password = $3`, hash); err != nil {
				return err
			}
		}
		for _, c := range []struct{ provider, value string }{{"email", p.Email}, {"phone", p.Phone}} {
			if c.value == "" {
				continue
			}
			tag, err := tx.Exec(ctx, `UPDATE auth.identities SET identity_data = identity_data || jsonb_build_object($3::text, $4::text), updated_at = $5
				WHERE provider_id = $1 AND provider = $2`, u.ID.String(), c.provider, c.provider, c.value, now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				if _, err := insertIdentity(ctx, tx, u, c.provider, map[string]any{c.provider: c.value}, now); err != nil {
					return err
				}
			}
			if err := set(c.provider+` = $3`, c.value); err != nil {
				return err
			}
		}
		if p.AppMetaData != nil {
			meta := u.AppMetaData
			if meta == nil {
				meta = map[string]any{}
			}
			mergeMeta(meta, p.AppMetaData)
			if err := set(`raw_app_meta_data = $3`, meta); err != nil {
				return err
			}
		}
		if p.UserMetaData != nil {
			meta := u.UserMetaData
			if meta == nil {
				meta = map[string]any{}
			}
			mergeMeta(meta, p.UserMetaData)
			if err := set(`raw_user_meta_data = $3`, meta); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// GoTrue does not pre-check a changed email; the unique index
		// rejects it inside the transaction and the whole update fails.
		return s.internalError("Error updating user", err)
	}
	fresh, err := findUser(ctx, s.pool, u.ID)
	if err != nil {
		return s.internalError("Error updating user", err)
	}
	writeJSON(w, http.StatusOK, fresh)
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) *apiError {
	u := ctxUser(r)
	var p struct {
		ShouldSoftDelete bool `json:"should_soft_delete"`
	}
	if e := decode(r, &p); e != nil {
		return e
	}
	ctx := r.Context()
	if !p.ShouldSoftDelete {
		if _, err := s.pool.Exec(ctx, `DELETE FROM auth.users WHERE id = $1`, u.ID); err != nil {
			return s.internalError("Database error deleting user", err)
		}
		writeJSON(w, http.StatusOK, map[string]any{})
		return nil
	}
	if u.DeletedAt != nil {
		writeJSON(w, http.StatusOK, map[string]any{})
		return nil
	}
	now := s.cfg.Now().UTC().Truncate(time.Microsecond)
	// Soft delete keeps the row but makes it unusable and frees its email
	// and phone for new sign-ups, as GoTrue's obfuscation does.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE auth.users SET
			email = CASE WHEN email IS NULL OR email = '' THEN email ELSE $3 END,
			phone = CASE WHEN phone IS NULL OR phone = '' THEN phone ELSE $4 END,
			encrypted_password = '', confirmation_token = '', recovery_token = '', email_change_token_current = '',
			email_change_token_new = '', email_change = '', phone_change = '', phone_change_token = '',
			reauthentication_token = '', raw_app_meta_data = '{}', raw_user_meta_data = '{}',
			deleted_at = $2, updated_at = $2
			WHERE id = $1`, u.ID, now, obfuscate(u.ID, u.Email), obfuscate(u.ID, u.Phone)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE auth.identities SET provider_id = $2 || ':' || id::text, identity_data = '{}', updated_at = $3 WHERE user_id = $1`,
			u.ID, obfuscate(u.ID, "identity"), now)
		return err
	})
	if err != nil {
		return s.internalError("Error soft deleting user", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

func obfuscate(id uuid.UUID, v string) string {
	if v == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(id.String() + v))
	return hex.EncodeToString(sum[:])
}

func isUniqueViolation(err error) bool {
	var pgErr interface{ SQLState() string }
	return errors.As(err, &pgErr) && pgErr.SQLState() == "23505"
}
