package dynamotest

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill dynalite if the test binary dies without
// stopping it (a timeout, a crash), so that no stray server outlives a run.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
