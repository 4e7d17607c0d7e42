// Package localsupabase is a local stand-in for Supabase, backed by real
// PostgreSQL, for tests and the sandbox: several projects (each with its own
// database and base URL serving the API gateway, Auth and, as they land, the
// Data API and Realtime) in one or more organizations, the Management API
// with its OAuth server and personal access tokens, rate limits, and faults
// and request counters on demand.
//
// One call starts it:
//
//	st, err := localsupabase.Start(ctx, localsupabase.Config{})
//	defer st.Close()
//	p := st.Project() // the default project: APIURL, keys, DBURL, ...
//
// It is test and sandbox infrastructure; no deployed function may import it.
package localsupabase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/supabridge/supabridge/shared/localsupabase/faults"
	"github.com/supabridge/supabridge/shared/localsupabase/pgcluster"
)

// Config configures Start. The zero value starts a private cluster and
// listens on free loopback ports.
type Config struct {
	// DBURL is a superuser URL of an existing PostgreSQL server. The default
	// project uses the database it names; other projects get new databases
	// on the same server. Empty: a private cluster (wal_level=logical) is
	// created and removed by Close.
	DBURL string
	// Addr is where the default project's API listens (default
	// 127.0.0.1:0, a free port).
	Addr string
	// ManagementAddr is where the Management API listens (default
	// 127.0.0.1:0).
	ManagementAddr string
	// OAuthAutoApprove makes GET /v1/oauth/authorize redirect with a code at
	// once instead of showing the consent page.
	OAuthAutoApprove bool
	// AccessTokenLifetime of OAuth access tokens (default 24 h, the
	// platform's).
	AccessTokenLifetime time.Duration
	// ProjectReadyDelay is how long a project created with POST /v1/projects
	// stays COMING_UP at least (default 0: ACTIVE_HEALTHY as soon as its
	// database is ready).
	ProjectReadyDelay time.Duration
	// RateLimit is the Management API budget per identity, scope and
	// endpoint per RateLimitWindow (default 120; negative disables it).
	RateLimit int
	// RateLimitWindow defaults to one minute.
	RateLimitWindow time.Duration
	// OAuthRedirectURIs are registered on the default OAuth client (more
	// can be added with Stack.AddRedirectURI).
	OAuthRedirectURIs []string
	// Logger receives one line per request at debug level and internal
	// errors; default discards.
	Logger *slog.Logger
	// Now defaults to time.Now; tokens, rate-limit windows and readiness
	// follow it.
	Now func() time.Time
}

// Organization is an organization of the stand-in platform.
type Organization struct {
	// ID is the deprecated v1 id, equal to Slug as on the platform.
	ID   string
	Slug string
	Name string
}

// Member is a member of an organization as GET
// /v1/organizations/{slug}/members lists it.
type Member struct {
	UserID     string
	UserName   string
	Email      string
	RoleName   string // owner, administrator, developer, read-only
	MFAEnabled bool
}

// OAuthClient is a registered OAuth app.
type OAuthClient struct {
	ID           string // a uuid, as the platform issues
	Secret       string
	RedirectURIs []string
}

// AdminPath is where the fault and counter controls are served on the
// Management API's listener.
const AdminPath = "/_supabase_local"

// Stack is a running stand-in. Its methods are safe for concurrent use.
type Stack struct {
	cfg       Config
	log       *slog.Logger
	cluster   *pgcluster.Cluster
	serverURL *url.URL // superuser URL; its path names the default project's database
	injector  *faults.Injector

	mgmtServer *http.Server
	mgmtURL    string

	mu       sync.Mutex
	orgs     []*org
	projects []*Project
	user     Member // the platform user the PAT and consents belong to
	pat      string
	pats     map[string]string // token → user id
	clients  []*OAuthClient
	oauth    *oauthState
	limiter  *rateLimiter
	closed   bool
	wg       sync.WaitGroup // background provisioning

	versionOnce sync.Once
	version     string
	stopping    chan struct{}
}

type org struct {
	Organization
	members []Member
}

// Start starts a stand-in with a default organization, its owner (with a
// personal access token), an OAuth client and a default project, and
// returns once every listener serves. Close it when done.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if cfg.AccessTokenLifetime == 0 {
		cfg.AccessTokenLifetime = 24 * time.Hour
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = 120
	}
	if cfg.RateLimitWindow == 0 {
		cfg.RateLimitWindow = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stack{
		cfg:      cfg,
		log:      cfg.Logger,
		injector: faults.New(),
		pats:     map[string]string{},
		oauth:    newOAuthState(),
		limiter:  newRateLimiter(cfg.RateLimit, cfg.RateLimitWindow, cfg.Now),
		stopping: make(chan struct{}),
	}
	ok := false
	defer func() {
		if !ok {
			_ = s.Close()
		}
	}()
	dbURL := cfg.DBURL
	if dbURL == "" {
		c, err := pgcluster.Start(ctx, pgcluster.Options{})
		if err != nil {
			return nil, fmt.Errorf("localsupabase: %w", err)
		}
		s.cluster = c
		dbURL = c.URL("postgres")
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, errors.New("localsupabase: DBURL is not a URL")
	}
	s.serverURL = u

	s.user = Member{UserID: uuid.NewString(), UserName: "local-developer", Email: "developer@example.com", RoleName: "owner"}
	s.pat = "sbp_" + randomHex(20)
	s.pats[s.pat] = s.user.UserID
	defaultOrg := &org{Organization: Organization{Slug: newRef(), Name: "Local Organization"}}
	defaultOrg.ID = defaultOrg.Slug
	defaultOrg.members = []Member{s.user}
	s.orgs = append(s.orgs, defaultOrg)
	s.clients = append(s.clients, &OAuthClient{ID: uuid.NewString(), Secret: "sb_oauth_secret_" + randomHex(20),
		RedirectURIs: slices.Clone(cfg.OAuthRedirectURIs)})

	if err := s.startManagement(); err != nil {
		return nil, err
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	if dbName == "" {
		dbName = "postgres"
	}
	p, err := s.provision(ctx, defaultOrg.Slug, "Local Project", dbName, false, cfg.Addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	p.readyAt = cfg.Now()
	s.projects = append(s.projects, p)
	s.mu.Unlock()
	s.injector.Mount("realtime", p.realtime.Faults())
	ok = true
	return s, nil
}

func (s *Stack) startManagement() error {
	addr := s.cfg.ManagementAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("localsupabase: management listener: %w", err)
	}
	s.mgmtURL = "http://" + urlHost(ln.Addr())
	mux := http.NewServeMux()
	mux.Handle(AdminPath+"/", http.StripPrefix(AdminPath, s.injector.Handler()))
	mux.Handle("/", s.managementHandler())
	s.mgmtServer = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.mgmtServer.Serve(ln) }()
	return nil
}

// urlHost turns a listener address into a host:port a client can dial:
// an unspecified address (0.0.0.0, ::) becomes loopback.
func urlHost(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port))
}

// Close stops every listener, waits for background provisioning and removes
// the private cluster, if any. It is safe to call more than once.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stopping)
	projects := slices.Clone(s.projects)
	s.mu.Unlock()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.mgmtServer != nil {
		_ = s.mgmtServer.Shutdown(ctx)
	}
	for _, p := range projects {
		p.close(ctx)
	}
	if s.cluster != nil {
		return s.cluster.Stop()
	}
	return nil
}

// Project returns the default project.
func (s *Stack) Project() *Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.projects[0]
}

// Projects returns every project, the default first.
func (s *Stack) Projects() []*Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.projects)
}

// ProjectByRef returns the project with that ref.
func (s *Stack) ProjectByRef(ref string) (*Project, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projectLocked(ref)
	return p, p != nil
}

func (s *Stack) projectLocked(ref string) *Project {
	for _, p := range s.projects {
		if p.Ref == ref {
			return p
		}
	}
	return nil
}

// Organization returns the default organization.
func (s *Stack) Organization() Organization {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orgs[0].Organization
}

// Organizations returns every organization, the default first.
func (s *Stack) Organizations() []Organization {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Organization, len(s.orgs))
	for i, o := range s.orgs {
		out[i] = o.Organization
	}
	return out
}

func (s *Stack) orgLocked(slug string) *org {
	for _, o := range s.orgs {
		if o.Slug == slug {
			return o
		}
	}
	return nil
}

// User returns the platform user who owns the default organization, the
// personal access token and every OAuth consent.
func (s *Stack) User() Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// AccessToken returns the user's personal access token (sbp_…).
func (s *Stack) AccessToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pat
}

// ManagementURL is the Management API's base URL (the stand-in for
// https://api.supabase.com).
func (s *Stack) ManagementURL() string { return s.mgmtURL }

// AdminURL is the base URL of the fault and counter controls (see
// faults.Injector.Handler for the routes).
func (s *Stack) AdminURL() string { return s.mgmtURL + AdminPath }

// Faults returns the fault injector and request counters shared by every
// listener of the stack. Server names are "management" and
// "api:<project ref>".
func (s *Stack) Faults() *faults.Injector { return s.injector }

// MountAdmin serves h under AdminURL()/<name>/, for another package's fault
// controls (Realtime's, for instance).
func (s *Stack) MountAdmin(name string, h http.Handler) { s.injector.Mount(name, h) }

// FailTokenEndpoint makes the next n calls (n = 0: all, until removed with
// Faults().Remove) of POST /v1/oauth/token answer status. It returns the
// rule id.
func (s *Stack) FailTokenEndpoint(status, n int) string {
	return s.injector.FailNext(faults.Match{Server: ManagementServer, Route: "POST /v1/oauth/token"}, status, "", n)
}

// ManagementServer is the fault/counter server name of the Management API.
const ManagementServer = "management"

// OAuthClient returns the default OAuth client.
func (s *Stack) OAuthClient() OAuthClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *s.clients[0]
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	return c
}

// AddRedirectURI registers uri (compared exactly) on the default OAuth
// client.
func (s *Stack) AddRedirectURI(uri string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.clients[0].RedirectURIs, uri) {
		s.clients[0].RedirectURIs = append(s.clients[0].RedirectURIs, uri)
	}
}

// AddOAuthClient registers another OAuth app.
func (s *Stack) AddOAuthClient(redirectURIs ...string) OAuthClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &OAuthClient{ID: uuid.NewString(), Secret: "sb_oauth_secret_" + randomHex(20), RedirectURIs: slices.Clone(redirectURIs)}
	s.clients = append(s.clients, c)
	out := *c
	out.RedirectURIs = slices.Clone(c.RedirectURIs)
	return out
}

func (s *Stack) clientLocked(id string) *OAuthClient {
	for _, c := range s.clients {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// AddOrganization creates an organization whose owner is the stack's user.
func (s *Stack) AddOrganization(name string) Organization {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &org{Organization: Organization{Slug: newRef(), Name: name}, members: []Member{s.user}}
	o.ID = o.Slug
	s.orgs = append(s.orgs, o)
	return o.Organization
}

// AddMember adds a member to the organization; an empty UserID gets a new
// uuid. It returns the member as stored, or an error if the organization
// does not exist or already has that user.
func (s *Stack) AddMember(slug string, m Member) (Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orgLocked(slug)
	if o == nil {
		return Member{}, fmt.Errorf("localsupabase: no organization %q", slug)
	}
	if m.UserID == "" {
		m.UserID = uuid.NewString()
	}
	if m.RoleName == "" {
		m.RoleName = "developer"
	}
	for _, x := range o.members {
		if x.UserID == m.UserID {
			return Member{}, fmt.Errorf("localsupabase: user %s is already a member of %s", m.UserID, slug)
		}
	}
	o.members = append(o.members, m)
	return m, nil
}

// Members returns the organization's members.
func (s *Stack) Members(slug string) []Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.orgLocked(slug); o != nil {
		return slices.Clone(o.members)
	}
	return nil
}

// AddProject creates a project in the organization with a new database
// (bootstrapped like a new Supabase project) and its own listener, and
// returns it ACTIVE_HEALTHY.
func (s *Stack) AddProject(ctx context.Context, orgSlug, name string) (*Project, error) {
	s.mu.Lock()
	ok := s.orgLocked(orgSlug) != nil
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("localsupabase: no organization %q", orgSlug)
	}
	p, err := s.provision(ctx, orgSlug, name, "", true, "")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		p.close(ctx)
		return nil, errors.New("localsupabase: stack closed")
	}
	p.readyAt = s.cfg.Now()
	s.projects = append(s.projects, p)
	return p, nil
}

// Env returns the KEY=value lines describing the default project, the
// organization and the platform credentials, in the spirit of
// `supabase status -o env`.
func (s *Stack) Env() []string {
	p := s.Project()
	o := s.Organization()
	c := s.OAuthClient()
	wsURL := "ws" + strings.TrimPrefix(p.APIURL, "http")
	return []string{
		"API_URL=" + p.APIURL,
		"REST_URL=" + p.APIURL + "/rest/v1",
		"AUTH_URL=" + p.APIURL + "/auth/v1",
		"REALTIME_URL=" + wsURL + "/realtime/v1",
		"DB_URL=" + p.DBURL,
		"JWT_SECRET=" + p.JWTSecret,
		"ANON_KEY=" + p.AnonKey,
		"SERVICE_ROLE_KEY=" + p.ServiceRoleKey,
		"PUBLISHABLE_KEY=" + p.PublishableKey,
		"SECRET_KEY=" + p.SecretKey,
		"PROJECT_REF=" + p.Ref,
		"MANAGEMENT_API_URL=" + s.mgmtURL,
		"ORG_SLUG=" + o.Slug,
		"ORG_NAME=" + o.Name,
		"OAUTH_CLIENT_ID=" + c.ID,
		"OAUTH_CLIENT_SECRET=" + c.Secret,
		"ACCESS_TOKEN=" + s.AccessToken(),
		"FAULTS_URL=" + s.AdminURL(),
	}
}

// databaseURL returns the superuser URL of database name on the server.
func (s *Stack) databaseURL(name string) string {
	u := *s.serverURL
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

func (s *Stack) createDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.serverURL.String())
	if err != nil {
		return fmt.Errorf("localsupabase: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("localsupabase: create database %s: %w", name, err)
	}
	return nil
}
