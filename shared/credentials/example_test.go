package credentials_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/credentials"
	"github.com/supabridge/supabridge/shared/sqlite"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// A linked account's credential is saved before its record says active,
// then read back wherever it is needed; printing it never shows the token.
func ExampleManager_Credential() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "credentials-example")
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "supabridge.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	v, err := db.Vault(ctx, bytes.Repeat([]byte{1}, 32))
	if err != nil {
		panic(err)
	}
	m := &credentials.Manager{Store: store.New(db), Vault: vault.NewCache(v, vault.CacheConfig{})}

	acct := &bridge.Account{ID: bridge.NewID(), Environment: "production", TenantID: "customer-42",
		Status: bridge.StatusActive, AuthMethod: bridge.AuthAccessToken}
	if err := m.Save(ctx, acct, bridge.Credential{PersonalAccessToken: "sbp_0123456789abcdef0123456789abcdef01234567"}); err != nil {
		panic(err)
	}
	c, err := m.Credential(ctx, acct)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Method, c.Generation, c.PersonalAccessToken)
	// Output: access_token 1 [REDACTED]
}
