package sqlite

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var key32 = bytes.Repeat([]byte{0xa5, 0x01, 0xfe, 0x7c}, 8)

func TestParseMasterKey(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"hex", hex.EncodeToString(key32), true},
		{"upper hex", strings.ToUpper(hex.EncodeToString(key32)), true},
		{"base64", base64.StdEncoding.EncodeToString(key32), true},
		{"raw base64", base64.RawStdEncoding.EncodeToString(key32), true},
		{"url base64", base64.URLEncoding.EncodeToString(key32), true},
		{"raw url base64", base64.RawURLEncoding.EncodeToString(key32), true},
		{"surrounding space", "  " + hex.EncodeToString(key32) + "\n", true},
		{"empty", "", false},
		{"blank", " \n", false},
		{"short hex", hex.EncodeToString(key32[:31]), false},
		{"long hex", hex.EncodeToString(append(key32, 1)), false},
		{"16-byte base64", base64.StdEncoding.EncodeToString(key32[:16]), false},
		{"48-byte base64", base64.StdEncoding.EncodeToString(bytes.Repeat(key32, 2)[:48]), false},
		{"a passphrase", "correct horse battery staple", false},
		{"hex with a stray letter", "g" + hex.EncodeToString(key32)[1:], false},
	} {
		got, err := ParseMasterKey(tc.in)
		switch {
		case tc.ok && (err != nil || !bytes.Equal(got, key32)):
			t.Errorf("%s: %x, %v", tc.name, got, err)
		case !tc.ok && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case !tc.ok && strings.TrimSpace(tc.in) != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in)):
			t.Errorf("%s: the error quotes the input: %v", tc.name, err)
		}
	}
}

func FuzzParseMasterKey(f *testing.F) {
	for _, s := range []string{
		hex.EncodeToString(key32), base64.StdEncoding.EncodeToString(key32),
		base64.RawURLEncoding.EncodeToString(key32), "", "=", "zz", strings.Repeat("0", 63),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseMasterKey(s)
		if err == nil && len(key) != 32 {
			t.Fatalf("accepted a %d-byte key", len(key))
		}
		if err != nil && len(strings.TrimSpace(s)) >= 8 && strings.Contains(err.Error(), strings.TrimSpace(s)) {
			t.Fatalf("the error quotes the input: %v", err)
		}
	})
}

func TestMasterKeyFromEnv(t *testing.T) {
	file := filepath.Join(t.TempDir(), "master.key")
	key, created, err := MasterKey(base64.StdEncoding.EncodeToString(key32), file)
	if err != nil || created || !bytes.Equal(key, key32) {
		t.Fatalf("from the environment: %x, created %v, %v", key, created, err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatal("a key from the environment still created a key file")
	}
	bad := "not-a-key-" + strings.Repeat("Q", 30)
	_, _, err = MasterKey(bad, file)
	if err == nil || !strings.Contains(err.Error(), MasterKeyEnv) || strings.Contains(err.Error(), bad) {
		t.Fatalf("a malformed environment key: %v; want an error naming %s and not quoting the value", err, MasterKeyEnv)
	}
}

func TestMasterKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	file := filepath.Join(dir, "master.key")
	key, created, err := MasterKey("", file)
	if err != nil || !created || len(key) != 32 {
		t.Fatalf("first start: %d bytes, created %v, %v", len(key), created, err)
	}
	for _, p := range []string{file, dir} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Fatalf("%s has mode %04o", p, fi.Mode().Perm())
		}
	}
	again, created, err := MasterKey("", file)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second start: created %v, same key %v, %v", created, bytes.Equal(again, key), err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".master-key-*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary files left behind: %v", leftovers)
	}

	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644} {
		if err := os.Chmod(file, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := MasterKey("", file)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %04o: %v, want a refusal that says how to fix it", mode, err)
		}
		if strings.Contains(err.Error(), hex.EncodeToString(key)) {
			t.Fatal("the refusal shows the key")
		}
	}
	if err := os.Chmod(file, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, _, err := MasterKey("", file); err != nil {
		t.Fatalf("a read-only owner file: %v", err)
	}

	garbage := filepath.Join(dir, "garbage.key")
	if err := os.WriteFile(garbage, []byte("hunter2-hunter2-hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := MasterKey("", garbage); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("a malformed key file: %v", err)
	}
	if _, _, err := MasterKey("", dir); err == nil {
		t.Fatal("a directory was accepted as the key file")
	}
}

// TestMasterKeyRace: processes starting together on a fresh data directory
// end up with one key.
func TestMasterKeyRace(t *testing.T) {
	file := filepath.Join(t.TempDir(), "master.key")
	const n = 8
	keys := make([][]byte, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], created[i], errs[i] = MasterKey("", file) })
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("callers %d and 0 got different keys", i)
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Fatalf("%d callers say they created the key file, want 1", creators)
	}
}
