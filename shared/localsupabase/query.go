package localsupabase

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func hashKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func queryString(ctx context.Context, dbURL, sql string) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v string
	err = conn.QueryRow(ctx, sql).Scan(&v)
	return v, err
}

// queryTimeout bounds one POST .../database/query.
const queryTimeout = 60 * time.Second

// runQuery is POST /v1/projects/{ref}/database/query: the SQL runs as the
// project's superuser; the answer is the last statement's rows as a JSON
// array of objects, typed the way the platform's node-postgres backend
// types them (int8 and numeric as strings, json as JSON, the rest as
// numbers, booleans or strings).
func (s *Stack) runQuery(w http.ResponseWriter, r *http.Request, _ *principal) {
	proj := r.Context().Value(projectKey{}).(*Project)
	if proj.Status() != "ACTIVE_HEALTHY" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Project is not ready to accept queries"})
		return
	}
	var body struct {
		Query      *string `json:"query"`
		Parameters []any   `json:"parameters"`
		ReadOnly   bool    `json:"read_only"`
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	if err != nil || body.Query == nil || *body.Query == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "query must be a non-empty string"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	rows, err := execSQL(ctx, proj.DBURL, *body.Query, body.Parameters, body.ReadOnly)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Failed to run sql query: " + formatPgError(err)})
		return
	}
	writeJSON(w, http.StatusCreated, rows)
}

func formatPgError(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Severity + ":  " + pgErr.Code + ": " + pgErr.Message + "\n"
	}
	return "ERROR: " + err.Error()
}

func execSQL(ctx context.Context, dbURL, sql string, params []any, readOnly bool) ([]map[string]any, error) {
	conn, err := pgconn.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if readOnly {
		if err := conn.Exec(ctx, "SET default_transaction_read_only = on").Close(); err != nil {
			return nil, err
		}
	}
	var results []*pgconn.Result
	if len(params) > 0 {
		args := make([][]byte, len(params))
		for i, p := range params {
			switch v := p.(type) {
			case nil:
			case string:
				args[i] = []byte(v)
			default:
				j, _ := json.Marshal(v)
				args[i] = j
			}
		}
		res := conn.ExecParams(ctx, sql, args, nil, nil, nil).Read()
		if res.Err != nil {
			return nil, res.Err
		}
		results = []*pgconn.Result{res}
	} else {
		results, err = conn.Exec(ctx, sql).ReadAll()
		if err != nil {
			return nil, err
		}
	}
	out := []map[string]any{}
	if len(results) == 0 {
		return out, nil
	}
	last := results[len(results)-1]
	for _, row := range last.Rows {
		obj := make(map[string]any, len(row))
		for i, fd := range last.FieldDescriptions {
			obj[fd.Name] = jsonValue(fd.DataTypeOID, row[i])
		}
		out = append(out, obj)
	}
	return out, nil
}

// Type OIDs whose text form node-postgres turns into something other than a
// string.
const (
	oidBool    = 16
	oidInt2    = 21
	oidInt4    = 23
	oidOID     = 26
	oidFloat4  = 700
	oidFloat8  = 701
	oidJSON    = 114
	oidJSONB   = 3802
	oidTSTZ    = 1184
	oidTS      = 1114
	oidUnknown = 705
)

func jsonValue(oid uint32, v []byte) any {
	if v == nil {
		return nil
	}
	s := string(v)
	switch oid {
	case oidBool:
		return s == "t"
	case oidInt2, oidInt4, oidOID:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	case oidFloat4, oidFloat8:
		if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "aIn") {
			return f
		}
	case oidJSON, oidJSONB:
		return json.RawMessage(v)
	case oidTSTZ:
		if t, err := time.Parse("2006-01-02 15:04:05.999999-07", s); err == nil {
			return t.UTC().Format("2006-01-02T15:04:05.000Z")
		}
	}
	return s
}
