package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/sqlite"
	"github.com/supabridge/supabridge/shared/store"
	"github.com/supabridge/supabridge/shared/vault"
)

// The embedded backends as the local runner wires them: one data
// directory holding the key file and the SQLite file, which serves both
// the state store and the vault.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "supabridge-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	// A real program passes os.Getenv(sqlite.MasterKeyEnv) first.
	key, created, err := sqlite.MasterKey("", filepath.Join(dir, "master.key"))
	if err != nil {
		panic(err)
	}
	db, err := sqlite.Open(filepath.Join(dir, "supabridge.db"))
	if err != nil {
		panic(err)
	}
	st := store.New(db)
	defer st.Close()
	v, err := db.Vault(ctx, key)
	if err != nil {
		panic(err)
	}

	a := &bridge.Account{ID: bridge.NewID(), Environment: "local", TenantID: "t1", Status: bridge.StatusActive}
	if err := st.CreateAccount(ctx, a); err != nil {
		panic(err)
	}
	ref := vault.Ref{Environment: "local", Kind: vault.KindAccount, ID: a.ID}
	if err := v.Put(ctx, ref, []byte("sealed at rest")); err != nil {
		panic(err)
	}
	got, err := st.GetAccount(ctx, "local", a.ID)
	if err != nil {
		panic(err)
	}
	secret, err := v.Get(ctx, ref)
	if err != nil {
		panic(err)
	}
	fmt.Println(created, got.Status, got.Version, string(secret))
	// Output: true active 1 sealed at rest
}
