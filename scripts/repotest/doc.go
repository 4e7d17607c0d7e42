// Package repotest holds the repository-wide checks that no single package
// can make: every package has exactly one package comment, the code is
// gofmt-clean, no deployed function imports the local Supabase, the SAM
// template matches the bundle and AWS's resource specification, and every
// function runs under the AWS Lambda Runtime Interface Emulator with every
// event in events/.
package repotest
