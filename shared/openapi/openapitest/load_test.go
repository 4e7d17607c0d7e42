package openapitest_test
import ("testing"; "github.com/supabridge/supabridge/shared/openapi/openapitest")
func TestLoad(t *testing.T){ openapitest.New(t) }
