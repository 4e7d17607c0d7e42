package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRedirectCommands(t *testing.T) {
	dir := t.TempDir()
	getenv := func(k string) string {
		if k == "SUPABRIDGE_DATA_DIR" {
			return dir
		}
		return ""
	}
	steps := []struct {
		args    string
		wantErr string
		want    []string
		absent  []string
	}{
		{args: "redirects list --env production", want: []string{"(empty"}},
		{args: "redirects add --env production --uri https://app.example.com/linked", want: []string{"https://app.example.com/linked"}},
		{args: "redirects add --env production --uri https://app.example.com/callbacks/*", want: []string{"https://app.example.com/linked", "https://app.example.com/callbacks/*"}},
		{args: "redirects add --env production --uri https://app.example.com*", wantErr: `must end in "/*"`},
		{args: "redirects add --env production --uri http://app.example.com/cb", wantErr: "https"},
		{args: "redirects add --env production", wantErr: "--uri is required"},
		{args: "redirects remove --env production --uri https://app.example.com/linked", want: []string{"https://app.example.com/callbacks/*"}, absent: []string{"/linked"}},
		{args: "redirects remove --env production --uri https://app.example.com/linked", wantErr: "is not on the redirect allowlist"},
		{args: "redirects list --env local", want: []string{"http://localhost"}},
		{args: "redirects list --env production", want: []string{"https://app.example.com/callbacks/*"}},
		{args: "redirects purge --env production", wantErr: "usage"},
		{args: "redirects list", wantErr: "--env is required"},
	}
	for _, s := range steps {
		var out bytes.Buffer
		err := run(context.Background(), strings.Fields(s.args), &out, getenv)
		switch {
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Errorf("%s: error %v, want %q", s.args, err, s.wantErr)
		case s.wantErr == "" && err != nil:
			t.Errorf("%s: %v", s.args, err)
		}
		for _, w := range s.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", s.args, w, out.String())
			}
		}
		for _, a := range s.absent {
			if strings.Contains(out.String(), a) {
				t.Errorf("%s: output still shows %q:\n%s", s.args, a, out.String())
			}
		}
	}
}
