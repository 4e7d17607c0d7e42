// Package projectdb turns an empty PostgreSQL database into what a new
// Supabase project's database looks like to the APIs in front of it: the
// API roles, the auth schema GoTrue writes to, the grants that expose public
// to the Data API, and the (empty) supabase_realtime publication.
//
// It is test and sandbox infrastructure for the local Supabase; no deployed
// function imports it.
package projectdb

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Roles are cluster-wide while the rest is per database. The roles step only
// runs when something is missing, so a second project in the same cluster
// does not rewrite (and race on) shared catalog rows.
//
//go:embed roles.sql
var rolesSQL string

//go:embed database.sql
var databaseSQL string

// rolesMu serialises the roles step inside one process: concurrent ALTER ROLE
// on the same role fails with "tuple concurrently updated" rather than waiting.
var rolesMu sync.Mutex

// Bootstrap installs Supabase's roles (cluster-wide, idempotent: anon,
// authenticated, service_role BYPASSRLS, authenticator NOINHERIT with the
// three granted, supabase_admin, supabase_auth_admin), the auth schema
// (auth.users, auth.identities with GoTrue's columns, auth.uid(),
// auth.role(), auth.email(), auth.jwt()), the grants and default privileges
// Supabase gives on public, the extensions and graphql_public schemas, the
// schema-cache reload event triggers PostgREST relies on, and an empty
// supabase_realtime publication, in the database at superuserURL.
//
// It is safe to run twice and safe to run concurrently on different
// databases of one cluster. The URL must name a superuser. Errors wrap the
// PostgreSQL or pgx error (pgx masks passwords).
func Bootstrap(ctx context.Context, superuserURL string) error {
	conn, err := pgx.Connect(ctx, superuserURL)
	if err != nil {
		return fmt.Errorf("projectdb: connect: %w", err) // pgx masks the password
	}
	defer conn.Close(context.WithoutCancel(ctx))

	if err := ensureRoles(ctx, conn); err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("projectdb: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// Serialises Bootstraps of the same database (advisory locks are per
	// database); the key is arbitrary but fixed.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(7383626001)"); err != nil {
		return fmt.Errorf("projectdb: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, databaseSQL); err != nil {
		return fmt.Errorf("projectdb: install schema: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("projectdb: commit: %w", err)
	}
	return nil
}

func ensureRoles(ctx context.Context, conn *pgx.Conn) error {
	rolesMu.Lock()
	defer rolesMu.Unlock()
	// Another process may bootstrap a database of the same cluster at the
	// same moment; catalog races surface as these errors and a retry sees
	// the other side's result.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var complete bool
		if err = conn.QueryRow(ctx, rolesCompleteSQL).Scan(&complete); err != nil {
			return fmt.Errorf("projectdb: inspect roles: %w", err)
		}
		if complete {
			return nil
		}
		if _, err = conn.Exec(ctx, rolesSQL); err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || !retryable(pgErr.Code) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
	return fmt.Errorf("projectdb: install roles: %w", err)
}

func retryable(code string) bool {
	switch code {
	case "23505", // unique_violation on pg_authid
		"42710", // duplicate_object
		"XX000", // tuple concurrently updated
		"40001", "40P01":
		return true
	}
	return false
}

// rolesCompleteSQL is true when every role exists with the attributes and
// memberships roles.sql gives it.
const rolesCompleteSQL = `
SELECT
  count(*) FILTER (WHERE rolname = 'anon' AND NOT rolcanlogin AND rolinherit) = 1
  AND count(*) FILTER (WHERE rolname = 'authenticated' AND NOT rolcanlogin AND rolinherit) = 1
  AND count(*) FILTER (WHERE rolname = 'service_role' AND NOT rolcanlogin AND rolinherit AND rolbypassrls) = 1
  AND count(*) FILTER (WHERE rolname = 'authenticator' AND rolcanlogin AND NOT rolinherit) = 1
  AND count(*) FILTER (WHERE rolname = 'supabase_admin' AND rolsuper) = 1
  AND count(*) FILTER (WHERE rolname = 'supabase_auth_admin' AND rolcanlogin AND NOT rolinherit) = 1
  AND (SELECT count(*) FROM pg_auth_members m
         JOIN pg_roles g ON g.oid = m.roleid
         JOIN pg_roles u ON u.oid = m.member
        WHERE u.rolname = 'authenticator'
          AND g.rolname IN ('anon', 'authenticated', 'service_role')) = 3
FROM pg_roles`
