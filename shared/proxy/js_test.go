package proxy_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/supabridge/supabridge/scripts/js/jstest"
	"github.com/supabridge/supabridge/shared/localsupabase"
)

// TestSupabaseJS runs scripts/js/conformance/proxy.mjs (the official
// supabase-js, pinned in scripts/js's lockfile, on the pinned Node 22) with
// "<Supabridge>/proxy" as its project URL and the operator's key as its
// key: once for an account linked by a project's secret key, once for an
// OAuth organization account naming another project by ref.
func TestSupabaseJS(t *testing.T) {
	jstest.Node(t) // before starting anything: fail fast without the pinned tools
	w := newWorld(t)
	for _, tt := range []struct {
		name    string
		project *localsupabase.Project
		link    func() (id, ref string)
	}{
		{"key account", stack.Project(), func() (string, string) { return w.keyAccount(stack.Project(), stack.Project().SecretKey).ID, "" }},
		{"OAuth organization account", orgProject, func() (string, string) { return w.oauthAccount().ID, orgProject.Ref }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, ref := tt.link()
			user := uuid.NewString()
			n := jstest.Run(t, "proxy.mjs", 0, "SUPABRIDGE_URL="+w.srv.URL, "OPERATOR_KEY="+w.key, "ACCOUNT_ID="+id, "PROJECT_REF="+ref,
				"USER_TOKEN="+userToken(t, tt.project, user), "USER_ID="+user, "RUN=r"+strconv.FormatInt(time.Now().UnixNano(), 36))
			if n != 6 {
				t.Errorf("%d supabase-js tests passed through the proxy, want 6", n)
			}
		})
	}
}
