package auth

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// instanceID is the single instance GoTrue scopes every user to on Supabase.
const instanceID = "00000000-0000-0000-0000-000000000000"

// user is a row of auth.users as GoTrue serialises it: absent timestamps are
// omitted, email and phone are "" when NULL, secrets are never serialised.
type user struct {
	ID                     uuid.UUID
	Aud                    string
	Role                   string
	Email                  string
	EmailConfirmedAt       *time.Time
	InvitedAt              *time.Time
	Phone                  string
	PhoneConfirmedAt       *time.Time
	ConfirmationSentAt     *time.Time
	ConfirmedAt            *time.Time
	RecoverySentAt         *time.Time
	EmailChange            string
	EmailChangeSentAt      *time.Time
	PhoneChange            string
	PhoneChangeSentAt      *time.Time
	ReauthenticationSentAt *time.Time
	LastSignInAt           *time.Time
	AppMetaData            map[string]any
	UserMetaData           map[string]any
	// Identities is nil for list items (GoTrue does not eager-load them
	// there, so they serialise as null) and a slice for single users.
	Identities  []identity
	CreatedAt   time.Time
	UpdatedAt   time.Time
	BannedUntil *time.Time
	DeletedAt   *time.Time
	IsAnonymous bool
}

type identity struct {
	ID           uuid.UUID
	ProviderID   string
	UserID       uuid.UUID
	IdentityData map[string]any
	Provider     string
	LastSignInAt *time.Time
	CreatedAt    *time.Time
	UpdatedAt    *time.Time
	Email        *string
}

// field is one JSON member; ordered slices keep GoTrue's member order, which
// humans comparing bodies appreciate even though JSON does not need it.
type field struct {
	k string
	v any
}

func marshalOrdered(fields []field) ([]byte, error) {
	buf := []byte{'{'}
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, _ := json.Marshal(f.k)
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		buf = append(buf, k...)
		buf = append(buf, ':')
		buf = append(buf, v...)
	}
	return append(buf, '}'), nil
}

func (u *user) fields() []field {
	fs := []field{{"id", u.ID}, {"aud", u.Aud}, {"role", u.Role}, {"email", u.Email}}
	opt := func(k string, t *time.Time) {
		if t != nil {
			fs = append(fs, field{k, t.UTC()})
		}
	}
	opt("email_confirmed_at", u.EmailConfirmedAt)
	opt("invited_at", u.InvitedAt)
	fs = append(fs, field{"phone", u.Phone})
	opt("phone_confirmed_at", u.PhoneConfirmedAt)
	opt("confirmation_sent_at", u.ConfirmationSentAt)
	opt("confirmed_at", u.ConfirmedAt)
	opt("recovery_sent_at", u.RecoverySentAt)
	if u.EmailChange != "" {
		fs = append(fs, field{"new_email", u.EmailChange})
	}
	opt("email_change_sent_at", u.EmailChangeSentAt)
	if u.PhoneChange != "" {
		fs = append(fs, field{"new_phone", u.PhoneChange})
	}
	opt("phone_change_sent_at", u.PhoneChangeSentAt)
	opt("reauthentication_sent_at", u.ReauthenticationSentAt)
	opt("last_sign_in_at", u.LastSignInAt)
	app, usr := u.AppMetaData, u.UserMetaData
	if app == nil {
		app = map[string]any{}
	}
	if usr == nil {
		usr = map[string]any{}
	}
	fs = append(fs, field{"app_metadata", app}, field{"user_metadata", usr})
	var ids any
	if u.Identities != nil {
		ids = u.Identities
	}
	fs = append(fs, field{"identities", ids}, field{"created_at", u.CreatedAt.UTC()}, field{"updated_at", u.UpdatedAt.UTC()})
	opt("banned_until", u.BannedUntil)
	opt("deleted_at", u.DeletedAt)
	return append(fs, field{"is_anonymous", u.IsAnonymous})
}

func (u *user) MarshalJSON() ([]byte, error) { return marshalOrdered(u.fields()) }

func (i identity) MarshalJSON() ([]byte, error) {
	// id and identity_id are swapped on purpose: GoTrue kept "id" meaning
	// the provider's id when the primary key became a uuid.
	fs := []field{{"identity_id", i.ID}, {"id", i.ProviderID}, {"user_id", i.UserID}}
	if len(i.IdentityData) > 0 {
		fs = append(fs, field{"identity_data", i.IdentityData})
	}
	fs = append(fs, field{"provider", i.Provider})
	if i.LastSignInAt != nil {
		fs = append(fs, field{"last_sign_in_at", i.LastSignInAt.UTC()})
	}
	fs = append(fs, field{"created_at", utcOrZero(i.CreatedAt)}, field{"updated_at", utcOrZero(i.UpdatedAt)})
	if i.Email != nil && *i.Email != "" {
		fs = append(fs, field{"email", *i.Email})
	}
	return marshalOrdered(fs)
}

func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

const userColumns = `id, coalesce(aud, ''), coalesce(role, ''), coalesce(email, ''), email_confirmed_at, invited_at,
	coalesce(phone, ''), phone_confirmed_at, confirmation_sent_at, confirmed_at, recovery_sent_at,
	coalesce(email_change, ''), email_change_sent_at, coalesce(phone_change, ''), phone_change_sent_at,
	reauthentication_sent_at, last_sign_in_at, coalesce(raw_app_meta_data, '{}'), coalesce(raw_user_meta_data, '{}'),
	coalesce(created_at, 'epoch'), coalesce(updated_at, 'epoch'), banned_until, deleted_at, is_anonymous`

func scanUser(row pgx.Row) (*user, error) {
	u := new(user)
	err := row.Scan(&u.ID, &u.Aud, &u.Role, &u.Email, &u.EmailConfirmedAt, &u.InvitedAt,
		&u.Phone, &u.PhoneConfirmedAt, &u.ConfirmationSentAt, &u.ConfirmedAt, &u.RecoverySentAt,
		&u.EmailChange, &u.EmailChangeSentAt, &u.PhoneChange, &u.PhoneChangeSentAt,
		&u.ReauthenticationSentAt, &u.LastSignInAt, &u.AppMetaData, &u.UserMetaData,
		&u.CreatedAt, &u.UpdatedAt, &u.BannedUntil, &u.DeletedAt, &u.IsAnonymous)
	return u, err
}

// pgxQuerier is what pgxpool.Pool and pgx.Tx have in common.
type pgxQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

var errNotFound = errors.New("not found")

// findUser loads one user with its identities (GoTrue eager-loads them for
// single-user reads).
func findUser(ctx context.Context, q pgxQuerier, id uuid.UUID) (*user, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM auth.users WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	if u.Identities, err = findIdentities(ctx, q, id); err != nil {
		return nil, err
	}
	return u, nil
}

func findUserByEmail(ctx context.Context, q pgxQuerier, email, aud string) (*user, error) {
	var id uuid.UUID
	err := q.QueryRow(ctx, `SELECT id FROM auth.users
		WHERE instance_id = $1 AND lower(email) = lower($2) AND aud = $3 AND is_sso_user = false
		ORDER BY created_at LIMIT 1`, instanceID, email, aud).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return findUser(ctx, q, id)
}

func findIdentities(ctx context.Context, q pgxQuerier, userID uuid.UUID) ([]identity, error) {
	rows, err := q.Query(ctx, `SELECT id, provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at, email
		FROM auth.identities WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, err
	}
	ids := []identity{}
	for rows.Next() {
		var i identity
		if err := rows.Scan(&i.ID, &i.ProviderID, &i.UserID, &i.IdentityData, &i.Provider, &i.LastSignInAt, &i.CreatedAt, &i.UpdatedAt, &i.Email); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, i)
	}
	return ids, rows.Err()
}
