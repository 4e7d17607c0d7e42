package localsupabase_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/supabridge/supabridge/shared/localsupabase"
)

// Example starts a stand-in on a private cluster and calls Auth through the
// gateway with the project's secret key.
func Example() {
	ctx := context.Background()
	st, err := localsupabase.Start(ctx, localsupabase.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	p := st.Project()
	req, _ := http.NewRequest("GET", p.APIURL+"/auth/v1/admin/users", nil)
	req.Header.Set("apikey", p.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("X-Total-Count"))
	// Output: 200 0
}
