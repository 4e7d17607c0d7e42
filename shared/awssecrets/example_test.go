package awssecrets_test

import (
	"context"
	"fmt"

	"github.com/supabridge/supabridge/shared/awssecrets"
	"github.com/supabridge/supabridge/shared/awssecrets/smtest"
	"github.com/supabridge/supabridge/shared/vault"
)

// A function's main builds the client once (secretsmanager.NewFromConfig
// on the Lambda's configuration) and puts a cache in front; here the
// client talks to the in-test endpoint.
func Example() {
	server := smtest.NewServer(smtest.Options{})
	defer server.Close()

	v, err := awssecrets.New(server.Client(), awssecrets.Options{KMSKeyID: "alias/supabridge"})
	if err != nil {
		panic(err)
	}
	credentials := vault.NewCache(v, vault.CacheConfig{})

	ctx := context.Background()
	ref := vault.Ref{Environment: "production", Kind: vault.KindAccount, ID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}
	if err := credentials.Put(ctx, ref, []byte(`{"method":"oauth"}`)); err != nil {
		panic(err)
	}
	value, err := credentials.Get(ctx, ref) // served from the cache
	if err != nil {
		panic(err)
	}
	fmt.Println(v.SecretName(ref))
	fmt.Println(string(value))
	fmt.Println("GetSecretValue calls:", server.Calls(smtest.OpGetSecretValue))
	// Output:
	// supabridge/production/account/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b
	// {"method":"oauth"}
	// GetSecretValue calls: 0
}
