//go:build !linux

package dynamotest

import "os/exec"

// setProcAttr has nothing to set where the kernel cannot tie a child's life
// to its parent's.
func setProcAttr(*exec.Cmd) {}
