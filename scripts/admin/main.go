// Command admin manages operator API keys and environments' redirect
// allowlists on either backend, with the same configuration as the
// functions (SUPABRIDGE_BACKEND, SUPABRIDGE_TABLE, SUPABRIDGE_DATA_DIR, AWS
// credentials from the usual places):
//
//	go run ./scripts/admin keys create --env production [--name "billing service"]
//	go run ./scripts/admin keys list --env production
//	go run ./scripts/admin keys delete --env production --id <key id>
//	go run ./scripts/admin redirects add --env production --uri https://app.example.com/linked
//	go run ./scripts/admin redirects add --env production --uri 'https://app.example.com/callbacks/*'
//	go run ./scripts/admin redirects list --env production
//	go run ./scripts/admin redirects remove --env production --uri https://app.example.com/linked
//
// "keys create" prints the new key once; only its hash is stored. A
// redirect entry is an exact URL or a prefix ending in "/*"; link tokens
// may carry only redirect_uri values the list allows.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/supabridge/supabridge/shared/app"
	"github.com/supabridge/supabridge/shared/app/embedded"
	"github.com/supabridge/supabridge/shared/bridge"
	"github.com/supabridge/supabridge/shared/link"
)

const usage = `usage:
  admin keys create --env NAME [--name LABEL]
  admin keys list   --env NAME
  admin keys delete --env NAME --id KEY_ID
  admin redirects add    --env NAME --uri URI
  admin redirects list   --env NAME
  admin redirects remove --env NAME --uri URI`

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "admin:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	if len(args) < 2 || (args[0] != "keys" && args[0] != "redirects") {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet(args[0]+" "+args[1], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := fs.String("env", "", "environment name")
	name := fs.String("name", "", "label for the key")
	id := fs.String("id", "", "key ID")
	uri := fs.String("uri", "", "redirect URI or prefix ending in /*")
	if err := fs.Parse(args[2:]); err != nil {
		return fmt.Errorf("%v\n%s", err, usage)
	}
	if !bridge.ValidEnvironment(*env) {
		return fmt.Errorf("--env is required: lowercase letters, digits, '-' and '_'\n%s", usage)
	}
	cfg, err := app.ConfigFromEnv("admin", getenv)
	if err != nil {
		return err
	}
	a, err := embedded.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()

	if args[0] == "redirects" {
		return redirects(ctx, a.Store, args[1], *env, *uri, out)
	}
	switch args[1] {
	case "create":
		rec, key, err := bridge.NewAPIKey(*env, *name, time.Now())
		if err != nil {
			return err
		}
		if err := a.Store.CreateAPIKey(ctx, rec); err != nil {
			return err
		}
		fmt.Fprintf(out, "Created API key %s for environment %q. It is shown only now:\n%s\n", rec.ID, rec.Environment, key.Reveal())
	case "list":
		keys, err := a.Store.ListAPIKeys(ctx, *env)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tHINT\tNAME\tCREATED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Hint, k.Name, k.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "delete":
		if *id == "" {
			return fmt.Errorf("--id is required\n%s", usage)
		}
		if err := a.Store.DeleteAPIKey(ctx, *env, *id); err != nil {
			return err
		}
		fmt.Fprintf(out, "Deleted API key %s. Running functions stop accepting it within their cache TTL.\n", *id)
	default:
		return errors.New(usage)
	}
	return nil
}

// redirects runs a "redirects" subcommand against env's allowlist.
func redirects(ctx context.Context, s link.SettingsStore, cmd, env, uri string, out io.Writer) error {
	var (
		list []string
		err  error
	)
	switch cmd {
	case "add", "remove":
		if uri == "" {
			return fmt.Errorf("--uri is required\n%s", usage)
		}
		if cmd == "add" {
			list, err = link.AllowRedirect(ctx, s, env, uri)
		} else {
			list, err = link.DisallowRedirect(ctx, s, env, uri)
		}
	case "list":
		list, err = link.RedirectAllowlist(ctx, s, env)
	default:
		return errors.New(usage)
	}
	if err != nil {
		return errors.New(bridge.ErrorMessage(err))
	}
	fmt.Fprintf(out, "Redirect allowlist of %q:\n", env)
	if env == link.LocalEnvironment {
		fmt.Fprintln(out, "  http://localhost, http://127.0.0.1 and http://[::1] (any port and path; always allowed here)")
	}
	if len(list) == 0 && env != link.LocalEnvironment {
		fmt.Fprintln(out, "  (empty: link tokens of this environment cannot carry a redirect_uri)")
	}
	for _, e := range list {
		fmt.Fprintf(out, "  %s\n", e)
	}
	return nil
}
