package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/store"
)

func testAPIKeys(t *testing.T, s *store.Store, clk *Clock) {
	ctx := t.Context()
	type minted struct {
		rec *bridge.APIKey
		key bridge.Secret
	}
	var keys []minted
	for _, env := range []string{"prod", "prod", "staging"} {
		rec, key, err := bridge.NewAPIKey(env, "ci", clk.Now())
		mustOK(t, err, "mint")
		mustOK(t, s.CreateAPIKey(ctx, rec), "create key")
		keys = append(keys, minted{rec, key})
	}
	k1, k2, k3 := keys[0], keys[1], keys[2]

	got, err := s.APIKeyByHash(ctx, bridge.HashAPIKey(k1.key.Reveal()))
	mustOK(t, err, "key by hash")
	sameJSON(t, got, k1.rec, "key by hash")
	if got.Hash != k1.rec.Hash {
		t.Fatalf("key by hash: hash %q, want %q", got.Hash, k1.rec.Hash)
	}
	wantCode(t, s.CreateAPIKey(ctx, k1.rec), bridge.ECONFLICT, "create the same key twice")
	wantCode(t, s.CreateAPIKey(ctx, &bridge.APIKey{ID: bridge.NewID(), Environment: "prod"}), bridge.EINVALID, "create a key without hash")
	_, err = s.APIKeyByHash(ctx, bridge.HashAPIKey("sbk_unknown"))
	wantCode(t, err, bridge.ENOTFOUND, "unknown key")

	list, err := s.ListAPIKeys(ctx, "prod")
	mustOK(t, err, "list prod keys")
	want := []string{k1.rec.ID, k2.rec.ID}
	slices.Sort(want)
	var ids []string
	for _, k := range list {
		ids = append(ids, k.ID)
		if k.Hash == "" || k.Environment != "prod" {
			t.Fatalf("listed key %s: hash %q, environment %q", k.ID, k.Hash, k.Environment)
		}
	}
	sameStrings(t, ids, want, "prod keys, oldest first")
	list, err = s.ListAPIKeys(ctx, "staging")
	mustOK(t, err, "list staging keys")
	if len(list) != 1 || list[0].ID != k3.rec.ID {
		t.Fatalf("staging keys: %d, want only %s", len(list), k3.rec.ID)
	}

	wantCode(t, s.DeleteAPIKey(ctx, "staging", k1.rec.ID), bridge.ENOTFOUND, "delete another environment's key")
	_, err = s.APIKeyByHash(ctx, k1.rec.Hash)
	mustOK(t, err, "key survives a delete from another environment")
	mustOK(t, s.DeleteAPIKey(ctx, "prod", k1.rec.ID), "delete key")
	_, err = s.APIKeyByHash(ctx, k1.rec.Hash)
	wantCode(t, err, bridge.ENOTFOUND, "deleted key")
	wantCode(t, s.DeleteAPIKey(ctx, "prod", k1.rec.ID), bridge.ENOTFOUND, "delete twice")
	list, err = s.ListAPIKeys(ctx, "prod")
	mustOK(t, err, "list after delete")
	if len(list) != 1 || list[0].ID != k2.rec.ID {
		t.Fatalf("prod keys after delete: %d, want only %s", len(list), k2.rec.ID)
	}
}

func testAccountLifecycle(t *testing.T, s *store.Store, clk *Clock) {
	ctx := t.Context()
	a := newAccount("prod", "tenant-1", bridge.StatusConnecting)
	a.Context = json.RawMessage(`{"plan":"pro"}`)
	a.Settings = json.RawMessage(`{"tables":{"users":"public.people"}}`)
	a.Scopes = []string{"projects:read", "organizations:read"}
	a.OrganizationID, a.OrganizationSlug, a.OrganizationName = "org-1", "acme", "Acme"
	a.TokenExpiresAt = clk.Now().Add(time.Hour)
	a.NextRefreshAt = clk.Now().Add(50 * time.Minute)
	a.RefreshFailures = 2
	created := clk.Now()
	mustOK(t, s.CreateAccount(ctx, a), "create")
	if a.Version != 1 || !a.CreatedAt.Equal(created) || !a.UpdatedAt.Equal(created) {
		t.Fatalf("created account: version %d, created %v, updated %v; want 1 and %v", a.Version, a.CreatedAt, a.UpdatedAt, created)
	}
	got, err := s.GetAccount(ctx, "prod", a.ID)
	mustOK(t, err, "get")
	sameJSON(t, got, a, "stored account")

	clk.Advance(time.Second)
	dup := *a
	dup.Status = bridge.StatusActive
	wantCode(t, s.CreateAccount(ctx, &dup), bridge.ECONFLICT, "create an existing ID")
	if dup.Version != 1 || !dup.UpdatedAt.Equal(created) {
		t.Fatalf("a failed create changed the caller's copy: version %d, updated %v", dup.Version, dup.UpdatedAt)
	}
	got, err = s.GetAccount(ctx, "prod", a.ID)
	mustOK(t, err, "get after failed create")
	sameJSON(t, got, a, "account after a failed create")

	for _, bad := range []*bridge.Account{
		{ID: "acc-1", Environment: "prod"},
		{ID: bridge.NewID()},
	} {
		wantCode(t, s.CreateAccount(ctx, bad), bridge.EINVALID, label("create %+v", bad))
	}

	for _, tc := range []struct{ env, id, what string }{
		{"staging", a.ID, "another environment's account"},
		{"prod", bridge.NewID(), "a missing account"},
		{"prod", "not-an-id", "a malformed ID"},
		{"", a.ID, "no environment"},
	} {
		_, err := s.GetAccount(ctx, tc.env, tc.id)
		wantCode(t, err, bridge.ENOTFOUND, "get "+tc.what)
	}

	clk.Advance(time.Minute)
	stale := *got
	got.Status = bridge.StatusActive
	mustOK(t, s.UpdateAccount(ctx, got), "update")
	if got.Version != 2 || !got.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("updated account: version %d, updated %v; want 2 and %v", got.Version, got.UpdatedAt, clk.Now())
	}
	stored, err := s.GetAccount(ctx, "prod", a.ID)
	mustOK(t, err, "get after update")
	sameJSON(t, stored, got, "account after update")

	stale.Status = bridge.StatusNeedsReauth
	wantCode(t, s.UpdateAccount(ctx, &stale), bridge.ECONFLICT, "update from a stale copy")
	if stale.Version != 1 {
		t.Fatalf("failed update left version %d, want 1", stale.Version)
	}
	stored, err = s.GetAccount(ctx, "prod", a.ID)
	mustOK(t, err, "get after lost update")
	if stored.Status != bridge.StatusActive {
		t.Fatalf("status after a lost update: %s, want active", stored.Status)
	}
	unread := *stored
	unread.Version = 0
	wantCode(t, s.UpdateAccount(ctx, &unread), bridge.EINVALID, "update without a version")

	wantCode(t, s.DeleteAccount(ctx, "staging", a.ID), bridge.ENOTFOUND, "delete from another environment")
	_, err = s.GetAccount(ctx, "prod", a.ID)
	mustOK(t, err, "account survives a delete from another environment")
	mustOK(t, s.DeleteAccount(ctx, "prod", a.ID), "delete")
	_, err = s.GetAccount(ctx, "prod", a.ID)
	wantCode(t, err, bridge.ENOTFOUND, "get deleted")
	wantCode(t, s.DeleteAccount(ctx, "prod", a.ID), bridge.ENOTFOUND, "delete twice")
	wantCode(t, s.UpdateAccount(ctx, stored), bridge.ECONFLICT, "update a deleted account")
	_, err = s.GetAccount(ctx, "prod", a.ID)
	wantCode(t, err, bridge.ENOTFOUND, "a failed update does not recreate")
}

// testAccountConcurrentUpdates: read-modify-write loops that retry on
// ECONFLICT lose no update.
func testAccountConcurrentUpdates(t *testing.T, s *store.Store, _ *Clock) {
	ctx := t.Context()
	a := newAccount("prod", "t", bridge.StatusActive)
	mustOK(t, s.CreateAccount(ctx, a), "create")
	const workers, each = 8, 5
	errs := race(workers, func(int) error {
		for range each {
			for {
				cur, err := s.GetAccount(ctx, "prod", a.ID)
				if err != nil {
					return err
				}
				cur.RefreshFailures++
				err = s.UpdateAccount(ctx, cur)
				if err == nil {
					break
				}
				if !isConflict(err) {
					return err
				}
			}
		}
		return nil
	})
	for i, err := range errs {
		mustOK(t, err, label("worker %d", i))
	}
	got, err := s.GetAccount(ctx, "prod", a.ID)
	mustOK(t, err, "get")
	if got.RefreshFailures != workers*each || got.Version != 1+workers*each {
		t.Fatalf("after %d increments: counter %d, version %d", workers*each, got.RefreshFailures, got.Version)
	}
}

// listAll pages through f with limit and checks the page shapes: full pages
// carry a cursor, the last page none.
func listAll(t *testing.T, s *store.Store, f bridge.AccountFilter) []*bridge.Account {
	t.Helper()
	var all []*bridge.Account
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("list %+v: no end after 1000 pages", f)
		}
		page, next, err := s.ListAccounts(t.Context(), f)
		mustOK(t, err, label("list %+v", f))
		all = append(all, page...)
		if next == "" {
			return all
		}
		if f.Limit > 0 && len(page) != f.Limit {
			t.Fatalf("list %+v: a page of %d with a cursor", f, len(page))
		}
		if next != page[len(page)-1].ID {
			t.Fatalf("list %+v: cursor %q is not the page's last ID", f, next)
		}
		f.After = next
	}
}

func testListAccountsFilters(t *testing.T, s *store.Store, _ *Clock) {
	ctx := t.Context()
	statuses := []bridge.AccountStatus{bridge.StatusActive, bridge.StatusNeedsReauth, bridge.StatusActive}
	var all []*bridge.Account
	for i := range 13 {
		a := newAccount("prod", []string{"t1", "t2"}[i%2], statuses[i%3])
		if i == 12 {
			a.TenantID = ""
		}
		mustOK(t, s.CreateAccount(ctx, a), "create")
		all = append(all, a)
	}
	for range 3 {
		a := newAccount("staging", "t1", bridge.StatusActive)
		mustOK(t, s.CreateAccount(ctx, a), "create")
		all = append(all, a)
	}
	expect := func(keep func(*bridge.Account) bool) []string {
		var ids []string
		for _, a := range all {
			if keep(a) {
				ids = append(ids, a.ID)
			}
		}
		slices.Sort(ids)
		slices.Reverse(ids) // newest first
		return ids
	}
	cases := []struct {
		name string
		f    bridge.AccountFilter
		keep func(*bridge.Account) bool
	}{
		{"environment", bridge.AccountFilter{Environment: "prod"},
			func(a *bridge.Account) bool { return a.Environment == "prod" }},
		{"tenant", bridge.AccountFilter{Environment: "prod", TenantID: "t1"},
			func(a *bridge.Account) bool { return a.Environment == "prod" && a.TenantID == "t1" }},
		{"status", bridge.AccountFilter{Environment: "prod", Status: bridge.StatusNeedsReauth},
			func(a *bridge.Account) bool { return a.Environment == "prod" && a.Status == bridge.StatusNeedsReauth }},
		{"tenant and status", bridge.AccountFilter{Environment: "prod", TenantID: "t2", Status: bridge.StatusActive},
			func(a *bridge.Account) bool {
				return a.Environment == "prod" && a.TenantID == "t2" && a.Status == bridge.StatusActive
			}},
		{"other environment", bridge.AccountFilter{Environment: "staging", TenantID: "t1"},
			func(a *bridge.Account) bool { return a.Environment == "staging" }},
		{"unknown tenant", bridge.AccountFilter{Environment: "prod", TenantID: "nobody"},
			func(*bridge.Account) bool { return false }},
		{"unknown environment", bridge.AccountFilter{Environment: "dev"},
			func(*bridge.Account) bool { return false }},
	}
	for _, tc := range cases {
		want := expect(tc.keep)
		for _, limit := range []int{1, 2, 5, 0} {
			f := tc.f
			f.Limit = limit
			got := listAll(t, s, f)
			sameStrings(t, accountIDs(got), want, label("%s, limit %d", tc.name, limit))
		}
	}
	page, next, err := s.ListAccounts(ctx, bridge.AccountFilter{Environment: "prod", Limit: 100})
	mustOK(t, err, "list all at once")
	if len(page) != 13 || next != "" {
		t.Fatalf("one page of 100: %d accounts, cursor %q; want 13 and none", len(page), next)
	}
}

// testListAccountsWhileChanging: accounts created or deleted between pages
// never make a listing skip or repeat an account that existed throughout.
func testListAccountsWhileChanging(t *testing.T, s *store.Store, _ *Clock) {
	ctx := t.Context()
	for _, tc := range []struct {
		name   string
		filter bridge.AccountFilter
		status func(i int) bridge.AccountStatus
	}{
		{"all", bridge.AccountFilter{Environment: "prod", Limit: 6},
			func(int) bridge.AccountStatus { return bridge.StatusActive }},
		{"sparse status", bridge.AccountFilter{Environment: "sparse", Status: bridge.StatusNeedsReauth, Limit: 4},
			func(i int) bridge.AccountStatus {
				if i%3 == 0 {
					return bridge.StatusNeedsReauth
				}
				return bridge.StatusActive
			}},
	} {
		env := tc.filter.Environment
		matching := map[string]bool{} // matching accounts still stored
		var order []string
		for i := range 45 {
			a := newAccount(env, "t", tc.status(i))
			mustOK(t, s.CreateAccount(ctx, a), "create")
			if a.Status == bridge.StatusActive && tc.filter.Status != "" {
				continue
			}
			matching[a.ID] = true
			order = append(order, a.ID)
		}
		initial := len(order)
		seen := map[string]bool{}
		var listed []string
		f := tc.filter
		for page := 0; ; page++ {
			got, next, err := s.ListAccounts(ctx, f)
			mustOK(t, err, tc.name+": list")
			for _, a := range got {
				if seen[a.ID] {
					t.Fatalf("%s: %s listed twice", tc.name, a.ID)
				}
				if !matching[a.ID] {
					t.Fatalf("%s: listed %s, which was created during the listing or deleted before its page", tc.name, a.ID)
				}
				seen[a.ID] = true
				listed = append(listed, a.ID)
			}
			if next == "" {
				break
			}
			f.After = next
			// Between pages: two new matching accounts, one deletion of an
			// account still to come, one of an account already listed.
			for range 2 {
				a := newAccount(env, "t", tc.filter.Status)
				if a.Status == "" {
					a.Status = bridge.StatusActive
				}
				mustOK(t, s.CreateAccount(ctx, a), "create between pages")
			}
			for _, id := range order {
				if matching[id] && !seen[id] {
					mustOK(t, s.DeleteAccount(ctx, env, id), "delete an unlisted account")
					delete(matching, id)
					break
				}
			}
			for _, id := range listed {
				if matching[id] {
					mustOK(t, s.DeleteAccount(ctx, env, id), "delete a listed account")
					delete(matching, id)
					break
				}
			}
		}
		for _, id := range order {
			if matching[id] && !seen[id] {
				t.Fatalf("%s: %s existed throughout but was never listed", tc.name, id)
			}
		}
		if !slices.IsSortedFunc(listed, func(a, b string) int { return strings.Compare(b, a) }) {
			t.Fatalf("%s: listing is not newest first", tc.name)
		}
		if len(listed) < initial/2 {
			t.Fatalf("%s: listed %d of %d", tc.name, len(listed), initial)
		}
	}
}

func testRefreshIndex(t *testing.T, s *store.Store, clk *Clock) {
	ctx := t.Context()
	base := clk.Now()
	at := func(env string, d time.Duration) *bridge.Account {
		a := newAccount(env, "t", bridge.StatusActive)
		if d != 0 {
			a.NextRefreshAt = base.Add(d)
		}
		mustOK(t, s.CreateAccount(ctx, a), "create")
		return a
	}
	a3 := at("prod", 3*time.Minute)
	a1 := at("staging", time.Minute)
	a2 := at("prod", 2*time.Minute)
	a5 := at("prod", 5*time.Minute)
	at("prod", 0)

	due := func(before time.Duration, after string, limit int) []string {
		t.Helper()
		got, err := s.AccountsDueForRefresh(ctx, base.Add(before), after, limit)
		mustOK(t, err, "due for refresh")
		return accountIDs(got)
	}
	for _, tc := range []struct {
		name   string
		before time.Duration
		after  string
		limit  int
		want   []string
	}{
		{"due before 4m, all environments, soonest first", 4 * time.Minute, "", 10, []string{a1.ID, a2.ID, a3.ID}},
		{"the bound is exclusive", 2 * time.Minute, "", 10, []string{a1.ID}},
		{"limit", 10 * time.Minute, "", 2, []string{a1.ID, a2.ID}},
		{"continue after a key", 10 * time.Minute, store.RefreshKey(a2), 10, []string{a3.ID, a5.ID}},
		{"nothing due", time.Minute, "", 10, nil},
	} {
		sameStrings(t, due(tc.before, tc.after, tc.limit), tc.want, tc.name)
	}

	var walked []string
	after := ""
	for range 10 {
		got, err := s.AccountsDueForRefresh(ctx, base.Add(time.Hour), after, 1)
		mustOK(t, err, "walk")
		if len(got) == 0 {
			break
		}
		walked = append(walked, got[0].ID)
		after = store.RefreshKey(got[0])
	}
	sameStrings(t, walked, []string{a1.ID, a2.ID, a3.ID, a5.ID}, "walk one at a time")

	cur, err := s.GetAccount(ctx, "staging", a1.ID)
	mustOK(t, err, "get")
	cur.NextRefreshAt = base.Add(10 * time.Minute)
	mustOK(t, s.UpdateAccount(ctx, cur), "reschedule")
	sameStrings(t, due(4*time.Minute, "", 10), []string{a2.ID, a3.ID}, "rescheduled account moved")
	cur.NextRefreshAt = time.Time{}
	mustOK(t, s.UpdateAccount(ctx, cur), "unschedule")
	sameStrings(t, due(24*time.Hour, "", 10), []string{a2.ID, a3.ID, a5.ID}, "unscheduled account left the index")
	mustOK(t, s.DeleteAccount(ctx, "prod", a2.ID), "delete")
	sameStrings(t, due(24*time.Hour, "", 10), []string{a3.ID, a5.ID}, "deleted account left the index")
}

func newLink(env string, now time.Time) *bridge.LinkSession {
	return &bridge.LinkSession{
		ID: bridge.NewID(), Environment: env, TenantID: "tenant-1",
		TokenHash:   bridge.HashAPIKey("link-token-" + bridge.NewID()),
		RedirectURI: "https://app.example.com/linked",
		Methods:     []bridge.AuthMethod{bridge.AuthOAuth, bridge.AuthAPIKey},
		Context:     json.RawMessage(`{"ref":"x"}`),
		ExpiresAt:   now.Add(30 * time.Minute),
	}
}

func testLinkSessions(t *testing.T, s *store.Store, clk *Clock) {
	ctx := t.Context()
	l := newLink("prod", clk.Now())
	l.OAuthStateHash = "state-hash"
	l.OAuthStateExpires = clk.Now().Add(10 * time.Minute)
	mustOK(t, s.CreateLinkSession(ctx, l), "create")
	if l.Version != 1 {
		t.Fatalf("created link session has version %d", l.Version)
	}
	got, err := s.GetLinkSession(ctx, l.ID)
	mustOK(t, err, "get")
	sameJSON(t, got, l, "stored session")
	if got.TokenHash != l.TokenHash || got.OAuthStateHash != l.OAuthStateHash || !got.OAuthStateExpires.Equal(l.OAuthStateExpires) {
		t.Fatal("stored session lost its token or state hash")
	}
	wantCode(t, s.CreateLinkSession(ctx, l), bridge.ECONFLICT, "create twice")
	wantCode(t, s.CreateLinkSession(ctx, &bridge.LinkSession{ID: "link-1", Environment: "prod"}), bridge.EINVALID, "malformed ID")
	for _, id := range []string{bridge.NewID(), "nope"} {
		_, err := s.GetLinkSession(ctx, id)
		wantCode(t, err, bridge.ENOTFOUND, "get "+id)
	}

	clk.Advance(time.Second)
	got.OAuthStateHash, got.OAuthStateExpires = "", time.Time{}
	mustOK(t, s.UpdateLinkSession(ctx, got), "update")
	again, err := s.GetLinkSession(ctx, l.ID)
	mustOK(t, err, "get after update")
	if again.Version != 2 || again.OAuthStateHash != "" || again.TokenHash != l.TokenHash {
		t.Fatalf("after update: version %d, state hash %q", again.Version, again.OAuthStateHash)
	}
	wantCode(t, s.UpdateLinkSession(ctx, l), bridge.ECONFLICT, "update a stale copy")
	zero := *again
	zero.Version = 0
	wantCode(t, s.UpdateLinkSession(ctx, &zero), bridge.EINVALID, "update without a version")
}

// testLinkSessionSingleConsumption: of many consumers that all read the
// session as usable, exactly one consumes it.
func testLinkSessionSingleConsumption(t *testing.T, s *store.Store, clk *Clock) {
	ctx := t.Context()
	l := newLink("prod", clk.Now())
	mustOK(t, s.CreateLinkSession(ctx, l), "create")
	const n = 20
	copies := make([]*bridge.LinkSession, n)
	for i := range n {
		c, err := s.GetLinkSession(ctx, l.ID)
		mustOK(t, err, "get")
		if !c.Usable(clk.Now()) {
			t.Fatal("a fresh session is not usable")
		}
		copies[i] = c
	}
	results := make([]string, n)
	errs := race(n, func(i int) error {
		c := copies[i]
		results[i] = bridge.NewID()
		c.ConsumedAt = clk.Now()
		c.ResultAccountID = results[i]
		return s.UpdateLinkSession(ctx, c)
	})
	w := oneWinner(t, errs, "consume")
	got, err := s.GetLinkSession(ctx, l.ID)
	mustOK(t, err, "get consumed")
	if got.ResultAccountID != results[w] || got.Usable(clk.Now()) {
		t.Fatalf("consumed session: result %q (want the winner's %q), usable %v", got.ResultAccountID, results[w], got.Usable(clk.Now()))
	}
}

func testWebhooks(t *testing.T, s *store.Store, clk *Clock) {
	ctx := t.Context()
	var hooks []*bridge.Webhook
	for _, env := range []string{"prod", "prod", "staging"} {
		w := &bridge.Webhook{ID: bridge.NewID(), Environment: env, URL: "https://hooks.example.com/" + env, EventTypes: []string{"*"}}
		mustOK(t, s.CreateWebhook(ctx, w), "create")
		hooks = append(hooks, w)
	}
	w1, w2, w3 := hooks[0], hooks[1], hooks[2]
	if w1.Version != 1 || !w1.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("created webhook: version %d, created %v", w1.Version, w1.CreatedAt)
	}
	wantCode(t, s.CreateWebhook(ctx, w1), bridge.ECONFLICT, "create twice")
	wantCode(t, s.CreateWebhook(ctx, &bridge.Webhook{ID: "hook", Environment: "prod"}), bridge.EINVALID, "malformed ID")
	got, err := s.GetWebhook(ctx, "prod", w1.ID)
	mustOK(t, err, "get")
	sameJSON(t, got, w1, "stored webhook")
	_, err = s.GetWebhook(ctx, "staging", w1.ID)
	wantCode(t, err, bridge.ENOTFOUND, "another environment's webhook")
	_, err = s.GetWebhook(ctx, "prod", "x")
	wantCode(t, err, bridge.ENOTFOUND, "malformed ID")

	list, err := s.ListWebhooks(ctx, "prod")
	mustOK(t, err, "list")
	want := []string{w1.ID, w2.ID}
	slices.Sort(want)
	var ids []string
	for _, w := range list {
		ids = append(ids, w.ID)
	}
	sameStrings(t, ids, want, "prod webhooks, oldest first")

	wantCode(t, s.DeleteWebhook(ctx, "prod", w3.ID), bridge.ENOTFOUND, "delete another environment's webhook")
	mustOK(t, s.DeleteWebhook(ctx, "prod", w1.ID), "delete")
	_, err = s.GetWebhook(ctx, "prod", w1.ID)
	wantCode(t, err, bridge.ENOTFOUND, "deleted webhook")
	list, err = s.ListWebhooks(ctx, "prod")
	mustOK(t, err, "list after delete")
	if len(list) != 1 || list[0].ID != w2.ID {
		t.Fatalf("after delete: %d webhooks", len(list))
	}
	_, err = s.GetWebhook(ctx, "staging", w3.ID)
	mustOK(t, err, "the other environment's webhook is untouched")
}

func testEvents(t *testing.T, s *store.Store, clk *Clock) {
	ctx := t.Context()
	var prod []string
	for i := range 19 {
		env := "prod"
		if i%7 == 3 {
			env = "staging"
		}
		e := &bridge.Event{ID: bridge.NewID(), Environment: env, Type: bridge.EventAccountCreated,
			AccountID: bridge.NewID(), Payload: json.RawMessage(`{"n":` + strings.Repeat("1", i+1) + `}`)}
		mustOK(t, s.PutEvent(ctx, e), "put")
		if !e.CreatedAt.Equal(clk.Now()) {
			t.Fatalf("event created at %v, want the clock's %v", e.CreatedAt, clk.Now())
		}
		if env == "prod" {
			prod = append(prod, e.ID)
		}
		if i == 0 {
			wantCode(t, s.PutEvent(ctx, e), bridge.ECONFLICT, "put twice")
			got, err := s.GetEvent(ctx, e.ID)
			mustOK(t, err, "get")
			sameJSON(t, got, e, "stored event")
		}
	}
	_, err := s.GetEvent(ctx, bridge.NewID())
	wantCode(t, err, bridge.ENOTFOUND, "missing event")
	slices.Sort(prod)

	var listed []string
	after := ""
	for pages := 0; ; pages++ {
		page, next, err := s.ListEvents(ctx, "prod", after, 5)
		mustOK(t, err, "list")
		for _, e := range page {
			listed = append(listed, e.ID)
		}
		if next == "" {
			break
		}
		if len(page) != 5 || pages > 10 {
			t.Fatalf("page %d has %d events and a cursor", pages, len(page))
		}
		after = next
	}
	sameStrings(t, listed, prod, "prod events, oldest first")
	page, next, err := s.ListEvents(ctx, "dev", "", 5)
	mustOK(t, err, "list empty environment")
	if len(page) != 0 || next != "" {
		t.Fatalf("empty environment: %d events, cursor %q", len(page), next)
	}
}

func testDeliveries(t *testing.T, s *store.Store, clk *Clock) {
	ctx := t.Context()
	base := clk.Now()
	hook, other := bridge.NewID(), bridge.NewID()
	events := make([]string, 4)
	for i := range events {
		events[i] = bridge.NewID()
	}
	type spec struct {
		webhook, stream string
		event           int
		due             time.Duration
	}
	specs := []spec{
		{hook, "s1", 2, 3 * time.Minute},
		{hook, "s1", 0, 1 * time.Minute},
		{hook, "s2", 1, 2 * time.Minute},
		{hook, "s1", 1, 5 * time.Minute},
		{other, "s3", 3, 4 * time.Minute},
	}
	ds := make([]*bridge.Delivery, len(specs))
	for i, sp := range specs {
		d := &bridge.Delivery{ID: bridge.NewID(), Environment: "prod", WebhookID: sp.webhook, EventID: events[sp.event],
			Stream: sp.stream, Status: bridge.DeliveryPending, NextAttemptAt: base.Add(sp.due)}
		mustOK(t, s.CreateDelivery(ctx, d), "create")
		if d.Version != 1 {
			t.Fatalf("created delivery has version %d", d.Version)
		}
		ds[i] = d
	}
	wantCode(t, s.CreateDelivery(ctx, ds[0]), bridge.ECONFLICT, "create twice")
	got, err := s.GetDelivery(ctx, ds[0].ID)
	mustOK(t, err, "get")
	sameJSON(t, got, ds[0], "stored delivery")
	_, err = s.GetDelivery(ctx, bridge.NewID())
	wantCode(t, err, bridge.ENOTFOUND, "missing delivery")

	ids := func(list []*bridge.Delivery) []string {
		out := make([]string, len(list))
		for i, d := range list {
			out[i] = d.ID
		}
		return out
	}
	stream := func(name, after string, limit int) []string {
		t.Helper()
		list, err := s.StreamDeliveries(ctx, name, after, limit)
		mustOK(t, err, "stream")
		return ids(list)
	}
	sameStrings(t, stream("s1", "", 10), []string{ds[1].ID, ds[3].ID, ds[0].ID}, "stream in event order")
	sameStrings(t, stream("s1", store.StreamKey(ds[1]), 10), []string{ds[3].ID, ds[0].ID}, "stream after a key")
	sameStrings(t, stream("s1", "", 2), []string{ds[1].ID, ds[3].ID}, "stream limit")
	sameStrings(t, stream("s2", "", 10), []string{ds[2].ID}, "other stream")

	due := func(before time.Duration) []string {
		t.Helper()
		list, err := s.DueDeliveries(ctx, base.Add(before), 10)
		mustOK(t, err, "due")
		return ids(list)
	}
	sameStrings(t, due(4*time.Minute), []string{ds[1].ID, ds[2].ID, ds[0].ID}, "due, soonest first, bound exclusive")

	clk.Advance(time.Minute)
	cur := *ds[1]
	cur.Status, cur.Attempts = bridge.DeliveryDelivered, 1
	mustOK(t, s.UpdateDelivery(ctx, &cur), "mark delivered")
	if cur.Version != 2 {
		t.Fatalf("updated delivery has version %d", cur.Version)
	}
	wantCode(t, s.UpdateDelivery(ctx, ds[1]), bridge.ECONFLICT, "update a stale copy")
	zero := cur
	zero.Version = 0
	wantCode(t, s.UpdateDelivery(ctx, &zero), bridge.EINVALID, "update without a version")
	retry := *ds[2]
	retry.Attempts, retry.NextAttemptAt, retry.LastError = 1, base.Add(10*time.Minute), "HTTP 503"
	mustOK(t, s.UpdateDelivery(ctx, &retry), "reschedule")
	sameStrings(t, due(4*time.Minute), []string{ds[0].ID}, "delivered and rescheduled left the due window")
	sameStrings(t, due(time.Hour), []string{ds[0].ID, ds[4].ID, ds[3].ID, ds[2].ID}, "due within the hour")
	sameStrings(t, stream("s1", "", 10), []string{ds[1].ID, ds[3].ID, ds[0].ID}, "a delivered delivery stays in its stream")

	var listed []string
	before := ""
	for pages := 0; ; pages++ {
		page, next, err := s.ListDeliveries(ctx, hook, before, 3)
		mustOK(t, err, "list")
		listed = append(listed, ids(page)...)
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("listing does not end")
		}
		before = next
	}
	want := []string{ds[0].ID, ds[1].ID, ds[2].ID, ds[3].ID}
	slices.Sort(want)
	slices.Reverse(want)
	sameStrings(t, listed, want, "webhook deliveries, newest first")
}
