package supabase

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Organization is an organization the token can see (GET /v1/organizations).
type Organization struct {
	// ID is deprecated by the platform in favour of Slug.
	ID   string `json:"id"`
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// OrganizationDetail is one organization (GET /v1/organizations/{slug});
// the platform does not repeat the slug here.
type OrganizationDetail struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Plan                   string   `json:"plan,omitempty"` // free, pro, team, enterprise, platform
	OptInTags              []string `json:"opt_in_tags"`
	AllowedReleaseChannels []string `json:"allowed_release_channels"`
}

// Member is an organization member.
type Member struct {
	UserID     string `json:"user_id"`
	UserName   string `json:"user_name"`
	Email      string `json:"email,omitempty"` // not always present
	RoleName   string `json:"role_name"`       // owner, administrator, developer, read-only
	MFAEnabled bool   `json:"mfa_enabled"`
}

// Project is a project as the project endpoints return it.
type Project struct {
	// ID and OrganizationID are deprecated by the platform (use Ref and
	// OrganizationSlug).
	ID               string           `json:"id"`
	Ref              string           `json:"ref"`
	OrganizationID   string           `json:"organization_id"`
	OrganizationSlug string           `json:"organization_slug"`
	Name             string           `json:"name"`
	Region           string           `json:"region"`
	CreatedAt        time.Time        `json:"created_at"`
	Status           string           `json:"status"` // ACTIVE_HEALTHY, COMING_UP, INACTIVE, …
	Database         *ProjectDatabase `json:"database,omitempty"`
}

// ProjectDatabase is a project's database as GET /v1/projects/{ref} shows it.
type ProjectDatabase struct {
	Host           string `json:"host"`
	Version        string `json:"version"`
	PostgresEngine string `json:"postgres_engine"`
	ReleaseChannel string `json:"release_channel"`
}

// OrganizationProject is an item of an organization's project list.
type OrganizationProject struct {
	Ref           string                 `json:"ref"`
	Name          string                 `json:"name"`
	CloudProvider string                 `json:"cloud_provider"`
	Region        string                 `json:"region"`
	IsBranch      bool                   `json:"is_branch"`
	Status        string                 `json:"status"`
	InsertedAt    time.Time              `json:"inserted_at"`
	Databases     []OrganizationDatabase `json:"databases"`
}

// OrganizationDatabase is a database of an OrganizationProject.
type OrganizationDatabase struct {
	InfraComputeSize string `json:"infra_compute_size,omitempty"`
	Region           string `json:"region"`
	Status           string `json:"status"`
	CloudProvider    string `json:"cloud_provider"`
	Identifier       string `json:"identifier"`
	Type             string `json:"type"` // PRIMARY or READ_REPLICA
}

// ListOrganizationProjectsOptions select a page of an organization's
// projects. The zero value asks for the first page of the server's default
// size (100), sorted by name.
type ListOrganizationProjectsOptions struct {
	Offset int
	// Limit is the page size, 1 to 100 (0: the server's default).
	Limit int
	// Search matches project names.
	Search string
	// Sort is name_asc (default), name_desc, created_asc or created_desc.
	Sort string
	// Statuses keeps only projects in these statuses.
	Statuses []string
}

// CreateProjectRequest is the body of POST /v1/projects.
type CreateProjectRequest struct {
	Name             string `json:"name"`
	OrganizationSlug string `json:"organization_slug"`
	// DBPass is the database password; the platform never returns it.
	DBPass string `json:"db_pass"`
	// Region is deprecated by the platform in favour of RegionSelection;
	// set at most one.
	Region              string           `json:"region,omitempty"`
	RegionSelection     *RegionSelection `json:"region_selection,omitempty"`
	DesiredInstanceSize string           `json:"desired_instance_size,omitempty"`
	TemplateURL         string           `json:"template_url,omitempty"`
}

// String keeps the database password out of anything that prints the
// request.
func (r CreateProjectRequest) String() string {
	return fmt.Sprintf("CreateProjectRequest{Name: %q, OrganizationSlug: %q, DBPass: %s}", r.Name, r.OrganizationSlug, redacted)
}

// GoString keeps the database password out of %#v.
func (r CreateProjectRequest) GoString() string { return r.String() }

// RegionSelection picks a region: Type "specific" with a region code, or
// "smartGroup" with americas, emea or apac.
type RegionSelection struct {
	Type string `json:"type"`
	Code string `json:"code"`
}

// ServiceHealth is one service's health (GET /v1/projects/{ref}/health).
type ServiceHealth struct {
	Name string `json:"name"`
	// Status is COMING_UP, ACTIVE_HEALTHY or UNHEALTHY.
	Status string `json:"status"`
	// Healthy is deprecated by the platform in favour of Status.
	Healthy bool `json:"healthy"`
	// Info is service specific (Auth: name/version; REST: db_schema; …).
	Info  json.RawMessage `json:"info,omitempty"`
	Error string          `json:"error,omitempty"`
}

// ProjectHealthOptions choose what GetProjectHealth checks.
type ProjectHealthOptions struct {
	// TimeoutMS bounds the check on the server (0 to 10000; 0: its default).
	TimeoutMS int
}

// APIKey is a project API key (GET /v1/projects/{ref}/api-keys). Its
// String method leaves the key out.
type APIKey struct {
	Name string `json:"name"`
	// APIKey is the key itself; secret keys are masked unless revealed.
	APIKey string `json:"api_key,omitempty"`
	ID     string `json:"id,omitempty"`
	// Type is legacy, publishable or secret.
	Type              KeyKind         `json:"type,omitempty"`
	Prefix            string          `json:"prefix,omitempty"`
	Description       string          `json:"description,omitempty"`
	Hash              string          `json:"hash,omitempty"`
	SecretJWTTemplate json.RawMessage `json:"secret_jwt_template,omitempty"`
	InsertedAt        *time.Time      `json:"inserted_at,omitempty"`
	UpdatedAt         *time.Time      `json:"updated_at,omitempty"`
}

// String describes the key without its value.
func (k APIKey) String() string {
	return fmt.Sprintf("APIKey{Name: %q, Type: %q, ID: %q, APIKey: %s}", k.Name, k.Type, k.ID, redacted)
}

// GoString keeps the key out of %#v.
func (k APIKey) GoString() string { return k.String() }

// ListAPIKeysOptions choose how keys are listed.
type ListAPIKeysOptions struct {
	// Reveal returns secret keys in full; it may need more privilege than
	// listing (a 403 where the plain list succeeds).
	Reveal bool
}

// QueryRequest is the body of POST /v1/projects/{ref}/database/query.
type QueryRequest struct {
	Query string `json:"query"`
	// Parameters bind $1, $2, … in Query.
	Parameters []any `json:"parameters,omitempty"`
	ReadOnly   bool  `json:"read_only,omitempty"`
}

func (s *ManagementService) get(ctx context.Context, path string, v any) (*Response, error) {
	req, err := s.client.NewRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return s.client.Do(req, v)
}

// ListOrganizations lists the organizations the token can see (an OAuth
// grant sees one). The list is not paginated.
func (s *ManagementService) ListOrganizations(ctx context.Context) ([]*Organization, *Response, error) {
	var out []*Organization
	resp, err := s.get(ctx, "v1/organizations", &out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// GetOrganization returns one organization by slug.
func (s *ManagementService) GetOrganization(ctx context.Context, slug string) (*OrganizationDetail, *Response, error) {
	seg, err := segment("organization slug", slug)
	if err != nil {
		return nil, nil, err
	}
	out := new(OrganizationDetail)
	resp, err := s.get(ctx, "v1/organizations/"+seg, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// ListMembers lists an organization's members. The list is not paginated.
func (s *ManagementService) ListMembers(ctx context.Context, slug string) ([]*Member, *Response, error) {
	seg, err := segment("organization slug", slug)
	if err != nil {
		return nil, nil, err
	}
	var out []*Member
	resp, err := s.get(ctx, "v1/organizations/"+seg+"/members", &out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// ListOrganizationProjects returns one page of an organization's projects;
// resp.Total is the number of matching projects and resp.NextOffset the
// next page's offset (0 after the last page).
func (s *ManagementService) ListOrganizationProjects(ctx context.Context, slug string, opts *ListOrganizationProjectsOptions) ([]*OrganizationProject, *Response, error) {
	seg, err := segment("organization slug", slug)
	if err != nil {
		return nil, nil, err
	}
	q := url.Values{}
	var o ListOrganizationProjectsOptions
	if opts != nil {
		o = *opts
	}
	if o.Offset > 0 {
		q.Set("offset", strconv.Itoa(o.Offset))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Search != "" {
		q.Set("search", o.Search)
	}
	if o.Sort != "" {
		q.Set("sort", o.Sort)
	}
	if len(o.Statuses) > 0 {
		q.Set("statuses", strings.Join(o.Statuses, ","))
	}
	path := "v1/organizations/" + seg + "/projects"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var body struct {
		Projects   []*OrganizationProject `json:"projects"`
		Pagination struct {
			Count  int64 `json:"count"`
			Limit  int   `json:"limit"`
			Offset int   `json:"offset"`
		} `json:"pagination"`
	}
	resp, err := s.get(ctx, path, &body)
	if err != nil {
		return nil, resp, err
	}
	resp.Total = body.Pagination.Count
	if next := body.Pagination.Offset + len(body.Projects); len(body.Projects) > 0 && int64(next) < body.Pagination.Count {
		resp.NextOffset = next
	}
	return body.Projects, resp, nil
}

// ListOrganizationProjectsIter yields every project of the organization
// that opts selects, page after page from opts.Offset. opts is not
// modified. Iteration stops at the first error, which is yielded.
func (s *ManagementService) ListOrganizationProjectsIter(ctx context.Context, slug string, opts *ListOrganizationProjectsOptions) iter.Seq2[*OrganizationProject, error] {
	var o ListOrganizationProjectsOptions
	if opts != nil {
		o = *opts
		o.Statuses = append([]string(nil), opts.Statuses...)
	}
	return func(yield func(*OrganizationProject, error) bool) {
		page := o
		for {
			items, resp, err := s.ListOrganizationProjects(ctx, slug, &page)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if resp.NextOffset == 0 || resp.NextOffset <= page.Offset {
				return
			}
			page.Offset = resp.NextOffset
		}
	}
}

// ListProjects lists every project the token can see. The list is not
// paginated; prefer ListOrganizationProjects.
func (s *ManagementService) ListProjects(ctx context.Context) ([]*Project, *Response, error) {
	var out []*Project
	resp, err := s.get(ctx, "v1/projects", &out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// GetProject returns one project, with its database.
func (s *ManagementService) GetProject(ctx context.Context, ref string) (*Project, *Response, error) {
	seg, err := segment("project ref", ref)
	if err != nil {
		return nil, nil, err
	}
	out := new(Project)
	resp, err := s.get(ctx, "v1/projects/"+seg, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// CreateProject creates a project; it answers at once, usually with status
// COMING_UP (poll GetProject or GetProjectHealth).
func (s *ManagementService) CreateProject(ctx context.Context, r *CreateProjectRequest) (*Project, *Response, error) {
	if r == nil {
		return nil, nil, fmt.Errorf("supabase: nil CreateProjectRequest")
	}
	req, err := s.client.NewRequest(ctx, http.MethodPost, "v1/projects", r)
	if err != nil {
		return nil, nil, err
	}
	out := new(Project)
	resp, err := s.client.Do(req, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// GetProjectHealth checks the named services (auth, db, db_postgres_user,
// pooler, realtime, rest, storage, pg_bouncer; at least one).
func (s *ManagementService) GetProjectHealth(ctx context.Context, ref string, services []string, opts *ProjectHealthOptions) ([]*ServiceHealth, *Response, error) {
	seg, err := segment("project ref", ref)
	if err != nil {
		return nil, nil, err
	}
	if len(services) == 0 {
		return nil, nil, fmt.Errorf("supabase: GetProjectHealth needs at least one service")
	}
	q := url.Values{"services": services}
	if opts != nil && opts.TimeoutMS > 0 {
		q.Set("timeout_ms", strconv.Itoa(opts.TimeoutMS))
	}
	var out []*ServiceHealth
	resp, err := s.get(ctx, "v1/projects/"+seg+"/health?"+q.Encode(), &out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// ListAPIKeys lists a project's API keys, legacy ones included.
func (s *ManagementService) ListAPIKeys(ctx context.Context, ref string, opts *ListAPIKeysOptions) ([]*APIKey, *Response, error) {
	seg, err := segment("project ref", ref)
	if err != nil {
		return nil, nil, err
	}
	path := "v1/projects/" + seg + "/api-keys"
	if opts != nil {
		path += "?reveal=" + strconv.FormatBool(opts.Reveal)
	}
	var out []*APIKey
	resp, err := s.get(ctx, path, &out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// RunQuery runs SQL on the project's database and decodes the result (a
// JSON array of row objects; empty for statements without rows) into v, or
// copies it when v is an io.Writer.
func (s *ManagementService) RunQuery(ctx context.Context, ref string, q *QueryRequest, v any) (*Response, error) {
	seg, err := segment("project ref", ref)
	if err != nil {
		return nil, err
	}
	if q == nil || q.Query == "" {
		return nil, fmt.Errorf("supabase: empty query")
	}
	req, err := s.client.NewRequest(ctx, http.MethodPost, "v1/projects/"+seg+"/database/query", q)
	if err != nil {
		return nil, err
	}
	return s.client.Do(req, v)
}
