package localsupabase

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/supabridge/supabridge/shared/localsupabase/auth"
	"github.com/supabridge/supabridge/shared/localsupabase/faults"
)

// principal is who a Management API request acts as.
type principal struct {
	userID   string
	clientID string // set for OAuth access tokens
	orgSlug  string // the one organization an OAuth grant covers
}

func (p *principal) rateKey(r *http.Request) string {
	switch {
	case p == nil:
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		return "ip:" + host
	case p.clientID != "":
		return "app:" + p.clientID
	default:
		return "user:" + p.userID
	}
}

func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// principalOf resolves the bearer token; nil when absent, expired or unknown.
func (s *Stack) principalOf(r *http.Request) *principal {
	tok := bearer(r)
	if tok == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if uid, ok := s.pats[tok]; ok {
		return &principal{userID: uid}
	}
	if g := s.oauth.byAccess[tok]; g != nil && s.cfg.Now().Before(g.accessExpires) {
		return &principal{userID: g.userID, clientID: g.clientID, orgSlug: g.orgSlug}
	}
	return nil
}

// canSeeOrgLocked: a PAT sees its user's organizations, an OAuth token only
// the organization its grant covers (and only while the user is a member).
func (s *Stack) canSeeOrgLocked(p *principal, o *org) bool {
	if p.clientID != "" && p.orgSlug != o.Slug {
		return false
	}
	return slices.ContainsFunc(o.members, func(m Member) bool { return m.UserID == p.userID })
}

type mgmtHandler func(w http.ResponseWriter, r *http.Request, p *principal)

const forbiddenMsg = "Your account does not have the necessary privileges to access this endpoint. For more details, refer to our documentation https://supabase.com/docs/guides/platform/access-control"

func (s *Stack) managementHandler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, authed bool, h mgmtHandler) {
		mux.Handle(pattern, s.endpoint(authed, h))
	}
	route("GET /v1/oauth/authorize", false, s.oauthAuthorize)
	route("POST /v1/oauth/authorize", false, s.oauthConsent)
	route("POST /v1/oauth/token", false, s.oauthToken)
	route("POST /v1/oauth/revoke", false, s.oauthRevoke)
	route("GET /v1/profile", true, s.getProfile)
	route("GET /v1/organizations", true, s.listOrganizations)
	route("GET /v1/organizations/{slug}", true, s.withOrg(s.getOrganization))
	route("GET /v1/organizations/{slug}/members", true, s.withOrg(s.listMembers))
	route("GET /v1/organizations/{slug}/projects", true, s.withOrg(s.listOrgProjects))
	route("GET /v1/projects", true, s.listProjects)
	route("POST /v1/projects", true, s.createProject)
	route("GET /v1/projects/{ref}", true, s.withProject(s.getProject))
	route("GET /v1/projects/{ref}/health", true, s.withProject(s.projectHealth))
	route("GET /v1/projects/{ref}/api-keys", true, s.withProject(s.projectAPIKeys))
	route("POST /v1/projects/{ref}/database/query", true, s.withProject(s.runQuery))
	mux.Handle("/", s.endpoint(false, func(w http.ResponseWriter, r *http.Request, _ *principal) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Cannot " + r.Method + " " + r.URL.Path, "error": "Not Found", "statusCode": 404})
	}))
	h := s.logRequests(ManagementServer, mux)
	return s.injector.Wrap(ManagementServer, h, faults.ServerOptions{
		Route: func(r *http.Request) string {
			_, pattern := mux.Handler(r)
			if pattern == "/" {
				return r.Method + " " + r.URL.Path
			}
			return pattern
		},
		Credential: managementCredential,
		TooManyRequests: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-RateLimit-Limit", strconv.Itoa(max(s.cfg.RateLimit, 0)))
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.Itoa(int(s.cfg.RateLimitWindow.Seconds())))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "ThrottlerException: Too Many Requests"})
		},
	})
}

// managementCredential is what counters key on: the bearer token, else the
// OAuth client id (HTTP Basic or form body of the token endpoint).
func managementCredential(r *http.Request) string {
	if t := bearer(r); t != "" {
		return t
	}
	if u, _, ok := r.BasicAuth(); ok {
		return u
	}
	return r.URL.Query().Get("client_id")
}

// endpoint applies the rate limit (headers on every response, 429 past the
// budget) and, for authed routes, requires a valid token.
func (s *Stack) endpoint(authed bool, h mgmtHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := s.principalOf(r)
		scope := ""
		if ref := r.PathValue("ref"); ref != "" {
			scope = "project:" + ref
		} else if slug := r.PathValue("slug"); slug != "" {
			scope = "org:" + slug
		}
		if !s.limiter.take(w, p.rateKey(r)+"|"+scope+"|"+r.Pattern) {
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"message": "ThrottlerException: Too Many Requests"})
			return
		}
		if authed && p == nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Unauthorized"})
			return
		}
		h(w, r, p)
	})
}

type orgKey struct{}
type projectKey struct{}

func (s *Stack) withOrg(h mgmtHandler) mgmtHandler {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		s.mu.Lock()
		o := s.orgLocked(r.PathValue("slug"))
		visible := o != nil && s.canSeeOrgLocked(p, o)
		s.mu.Unlock()
		switch {
		case o == nil:
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Organization not found"})
		case !visible:
			writeJSON(w, http.StatusForbidden, map[string]string{"message": forbiddenMsg})
		default:
			h(w, r.WithContext(context.WithValue(r.Context(), orgKey{}, o)), p)
		}
	}
}

func (s *Stack) withProject(h mgmtHandler) mgmtHandler {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		s.mu.Lock()
		proj := s.projectLocked(r.PathValue("ref"))
		visible := false
		if proj != nil {
			if o := s.orgLocked(proj.OrganizationSlug); o != nil {
				visible = s.canSeeOrgLocked(p, o)
			}
		}
		s.mu.Unlock()
		switch {
		case proj == nil:
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "Project not found"})
		case !visible:
			writeJSON(w, http.StatusForbidden, map[string]string{"message": forbiddenMsg})
		default:
			h(w, r.WithContext(context.WithValue(r.Context(), projectKey{}, proj)), p)
		}
	}
}

func (s *Stack) getProfile(w http.ResponseWriter, r *http.Request, p *principal) {
	s.mu.Lock()
	u := s.user
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"gotrue_id": u.UserID, "primary_email": u.Email, "username": u.UserName})
}

func (s *Stack) listOrganizations(w http.ResponseWriter, r *http.Request, p *principal) {
	s.mu.Lock()
	out := []map[string]any{}
	for _, o := range s.orgs {
		if s.canSeeOrgLocked(p, o) {
			out = append(out, map[string]any{"id": o.ID, "slug": o.Slug, "name": o.Name})
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Stack) getOrganization(w http.ResponseWriter, r *http.Request, p *principal) {
	o := r.Context().Value(orgKey{}).(*org)
	writeJSON(w, http.StatusOK, map[string]any{
		"id": o.ID, "name": o.Name, "plan": "free", "opt_in_tags": []string{}, "allowed_release_channels": []string{"ga"},
	})
}

func (s *Stack) listMembers(w http.ResponseWriter, r *http.Request, p *principal) {
	o := r.Context().Value(orgKey{}).(*org)
	s.mu.Lock()
	members := slices.Clone(o.members)
	s.mu.Unlock()
	out := []map[string]any{}
	for _, m := range members {
		item := map[string]any{"user_id": m.UserID, "user_name": m.UserName, "role_name": m.RoleName, "mfa_enabled": m.MFAEnabled}
		if m.Email != "" {
			item["email"] = m.Email
		}
		out = append(out, item)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Stack) orgProjectsLocked(slug string) []*Project {
	var out []*Project
	for _, p := range s.projects {
		if p.OrganizationSlug == slug {
			out = append(out, p)
		}
	}
	return out
}

func (s *Stack) listOrgProjects(w http.ResponseWriter, r *http.Request, p *principal) {
	o := r.Context().Value(orgKey{}).(*org)
	q := r.URL.Query()
	intParam := func(name string, def, lo, hi int) (int, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": fmt.Sprintf("%s must be an integer between %d and %d", name, lo, hi)})
			return 0, false
		}
		return n, true
	}
	offset, ok := intParam("offset", 0, 0, 1<<31-1)
	if !ok {
		return
	}
	limit, ok := intParam("limit", 100, 1, 100)
	if !ok {
		return
	}
	sortBy := q.Get("sort")
	if sortBy == "" {
		sortBy = "name_asc"
	}
	if !slices.Contains([]string{"name_asc", "name_desc", "created_asc", "created_desc"}, sortBy) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "sort must be one of the following values: name_asc, name_desc, created_asc, created_desc"})
		return
	}
	var statuses []string
	if v := q.Get("statuses"); v != "" {
		statuses = strings.Split(v, ",")
	}
	search := strings.ToLower(q.Get("search"))

	s.mu.Lock()
	type row struct {
		p      *Project
		status string
	}
	var rows []row
	for _, proj := range s.orgProjectsLocked(o.Slug) {
		st := proj.statusLocked()
		if search != "" && !strings.Contains(strings.ToLower(proj.Name), search) {
			continue
		}
		if statuses != nil && !slices.Contains(statuses, st) {
			continue
		}
		rows = append(rows, row{proj, st})
	}
	s.mu.Unlock()
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i].p, rows[j].p
		switch sortBy {
		case "name_desc":
			return a.Name > b.Name
		case "created_asc":
			return a.CreatedAt.Before(b.CreatedAt)
		case "created_desc":
			return a.CreatedAt.After(b.CreatedAt)
		default:
			return a.Name < b.Name
		}
	})
	total := len(rows)
	page := []map[string]any{}
	for i := offset; i < total && i < offset+limit; i++ {
		proj, st := rows[i].p, rows[i].status
		dbStatus := st
		if st == "INIT_FAILED" {
			dbStatus = "INIT_FAILED"
		}
		page = append(page, map[string]any{
			"ref": proj.Ref, "name": proj.Name, "cloud_provider": "AWS", "region": proj.Region, "is_branch": false,
			"status": st, "inserted_at": proj.CreatedAt.Format("2006-01-02T15:04:05.000Z"),
			"databases": []map[string]any{{"region": proj.Region, "status": dbStatus, "cloud_provider": "AWS", "identifier": proj.Ref, "type": "PRIMARY", "infra_compute_size": "nano"}},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": page, "pagination": map[string]any{"count": total, "limit": limit, "offset": offset}})
}

func (s *Stack) projectJSONLocked(p *Project, withDB bool) map[string]any {
	m := map[string]any{
		"id": p.Ref, "ref": p.Ref, "organization_id": p.OrganizationSlug, "organization_slug": p.OrganizationSlug,
		"name": p.Name, "region": p.Region, "created_at": p.CreatedAt.Format("2006-01-02T15:04:05.000Z"), "status": p.statusLocked(),
	}
	if withDB {
		host := "127.0.0.1"
		if h := s.serverURL.Hostname(); h != "" {
			host = h
		}
		m["database"] = map[string]any{"host": host, "version": s.pgVersion(), "postgres_engine": "15", "release_channel": "ga"}
	}
	return m
}

// pgVersion is the server's version, looked up once.
func (s *Stack) pgVersion() string {
	s.versionOnce.Do(func() {
		s.version = "15"
		ctx, cancel := context.WithTimeout(context.Background(), 5*1e9)
		defer cancel()
		if v, err := queryString(ctx, s.serverURL.String(), "SHOW server_version"); err == nil {
			s.version = strings.Fields(v)[0]
		}
	})
	return s.version
}

func (s *Stack) listProjects(w http.ResponseWriter, r *http.Request, p *principal) {
	s.mu.Lock()
	out := []map[string]any{}
	for _, proj := range s.projects {
		if o := s.orgLocked(proj.OrganizationSlug); o != nil && s.canSeeOrgLocked(p, o) {
			out = append(out, s.projectJSONLocked(proj, true))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Stack) getProject(w http.ResponseWriter, r *http.Request, p *principal) {
	proj := r.Context().Value(projectKey{}).(*Project)
	s.mu.Lock()
	out := s.projectJSONLocked(proj, true)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

var regions = []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ap-east-1", "ap-southeast-1", "ap-northeast-1",
	"ap-northeast-2", "ap-southeast-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "eu-central-1", "eu-central-2",
	"ca-central-1", "ap-south-1", "sa-east-1"}

func (s *Stack) createProject(w http.ResponseWriter, r *http.Request, p *principal) {
	var body map[string]json.RawMessage
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Body must be a JSON object"})
		return
	}
	allowed := []string{"db_pass", "name", "organization_id", "organization_slug", "plan", "region", "region_selection",
		"desired_instance_size", "template_url", "kps_enabled", "release_channel", "postgres_engine"}
	for k := range body {
		if !slices.Contains(allowed, k) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "property " + k + " should not exist"})
			return
		}
	}
	str := func(k string) (string, bool) {
		raw, ok := body[k]
		if !ok {
			return "", false
		}
		var v string
		return v, json.Unmarshal(raw, &v) == nil
	}
	name, okName := str("name")
	dbPass, okPass := str("db_pass")
	slug, okSlug := str("organization_slug")
	if !okSlug {
		if id, ok := str("organization_id"); ok {
			slug, okSlug = id, true
		}
	}
	switch {
	case !okPass:
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "db_pass must be a string"})
		return
	case !okName || name == "" || len(name) > 256:
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "name must be a string of 1 to 256 characters"})
		return
	case !okSlug || slug == "":
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "organization_slug must be a string"})
		return
	}
	_ = dbPass // the stand-in's databases all share the cluster's superuser
	region := "us-east-1"
	if v, ok := str("region"); ok {
		if _, both := body["region_selection"]; both {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Only one of region or region_selection can be specified"})
			return
		}
		if !slices.Contains(regions, v) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "region must be one of the following values: " + strings.Join(regions, ", ")})
			return
		}
		region = v
	} else if raw, ok := body["region_selection"]; ok {
		var sel struct{ Type, Code string }
		if json.Unmarshal(raw, &sel) != nil || (sel.Type != "specific" && sel.Type != "smartGroup") || sel.Code == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "region_selection must be {type: specific|smartGroup, code}"})
			return
		}
		if sel.Type == "specific" {
			region = sel.Code
		}
	}

	s.mu.Lock()
	o := s.orgLocked(slug)
	switch {
	case o == nil:
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Organization not found"})
		return
	case !s.canSeeOrgLocked(p, o):
		s.mu.Unlock()
		writeJSON(w, http.StatusForbidden, map[string]string{"message": forbiddenMsg})
		return
	case s.closed:
		s.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "shutting down"})
		return
	}
	proj := s.newProject(slug, name)
	proj.Region = region
	s.projects = append(s.projects, proj)
	out := s.projectJSONLocked(proj, false)
	s.wg.Add(1)
	s.mu.Unlock()

	go s.bringUp(proj)
	writeJSON(w, http.StatusCreated, out)
}

// bringUp provisions a project created through the API in the background;
// it turns ACTIVE_HEALTHY once its database serves and ProjectReadyDelay has
// passed since creation.
func (s *Stack) bringUp(p *Project) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := s.provisionInto(ctx, p, "", true, "")
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.log.Error("provision project", "ref", p.Ref, "err", err)
		p.initFailed = true
		return
	}
	ready := p.CreatedAt.Add(s.cfg.ProjectReadyDelay)
	if now := s.cfg.Now(); now.After(ready) {
		ready = now
	}
	p.readyAt = ready
}

func (s *Stack) projectHealth(w http.ResponseWriter, r *http.Request, p *principal) {
	proj := r.Context().Value(projectKey{}).(*Project)
	var services []string
	for _, v := range r.URL.Query()["services"] {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				services = append(services, part)
			}
		}
	}
	known := []string{"auth", "db", "db_postgres_user", "pooler", "realtime", "rest", "storage", "pg_bouncer"}
	if len(services) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "services must be a non-empty array"})
		return
	}
	for _, sv := range services {
		if !slices.Contains(known, sv) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "each value in services must be one of the following values: " + strings.Join(known, ", ")})
			return
		}
	}
	status := proj.Status()
	dbOK := false
	if status == "ACTIVE_HEALTHY" {
		_, err := queryString(r.Context(), proj.DBURL, "SELECT 'ok'")
		dbOK = err == nil
	}
	out := []map[string]any{}
	for _, sv := range services {
		item := map[string]any{"name": sv}
		st := status
		var errMsg string
		switch {
		case status == "COMING_UP":
		case status != "ACTIVE_HEALTHY":
			st = "UNHEALTHY"
		case sv == "storage" || sv == "pooler" || sv == "pg_bouncer":
			st, errMsg = "UNHEALTHY", "service not provided by the local stand-in"
		case !dbOK:
			st, errMsg = "UNHEALTHY", "database unreachable"
		}
		switch sv {
		case "auth":
			item["info"] = map[string]any{"name": "GoTrue", "version": auth.Version, "description": "GoTrue is a user registration and authentication API"}
		case "rest":
			item["info"] = map[string]any{"db_schema": "public,graphql_public"}
		case "realtime":
			item["info"] = map[string]any{"healthy": st == "ACTIVE_HEALTHY", "db_connected": dbOK, "replication_connected": dbOK, "connected_cluster": 1}
		}
		item["status"] = st
		item["healthy"] = st == "ACTIVE_HEALTHY"
		if errMsg != "" {
			item["error"] = errMsg
		}
		out = append(out, item)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Stack) projectAPIKeys(w http.ResponseWriter, r *http.Request, p *principal) {
	proj := r.Context().Value(projectKey{}).(*Project)
	reveal := false
	if v := r.URL.Query().Get("reveal"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "reveal must be a boolean value"})
			return
		}
		reveal = b
	}
	created := proj.CreatedAt.Format("2006-01-02T15:04:05.000000Z")
	secret := proj.SecretKey
	if !reveal {
		// Secret keys are listed masked unless revealed, as in the dashboard.
		secret = proj.SecretKey[:len("sb_secret_")+4] + strings.Repeat("·", 16)
	}
	keyID := func(kind string) string {
		return uuid.NewSHA1(uuid.NameSpaceOID, []byte(proj.Ref+"/"+kind)).String()
	}
	writeJSON(w, http.StatusOK, []map[string]any{
		{"name": "anon", "api_key": proj.AnonKey, "id": "anon", "type": "legacy", "prefix": nil, "description": "Legacy anon API key",
			"hash": nil, "secret_jwt_template": nil, "inserted_at": nil, "updated_at": nil},
		{"name": "service_role", "api_key": proj.ServiceRoleKey, "id": "service_role", "type": "legacy", "prefix": nil, "description": "Legacy service_role API key",
			"hash": nil, "secret_jwt_template": nil, "inserted_at": nil, "updated_at": nil},
		{"name": "default", "api_key": proj.PublishableKey, "id": keyID("publishable"), "type": "publishable", "prefix": nil,
			"description": "Default publishable key", "hash": nil, "secret_jwt_template": nil, "inserted_at": created, "updated_at": created},
		{"name": "default", "api_key": secret, "id": keyID("secret"), "type": "secret", "prefix": proj.SecretKey[:len("sb_secret_")+4],
			"description": "Default secret key", "hash": hashKey(proj.SecretKey), "secret_jwt_template": map[string]any{"role": "service_role"},
			"inserted_at": created, "updated_at": created},
	})
}
