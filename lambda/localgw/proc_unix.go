//go:build unix

package localgw

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttrs puts the child in its own process group: a Ctrl-C in the
// terminal reaches the gateway only (which then stops the children in
// order), and signals reach any processes the bootstrap started.
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func terminateProc(p *os.Process) { signalGroup(p, syscall.SIGTERM) }

func killProc(p *os.Process) { signalGroup(p, syscall.SIGKILL) }

func signalGroup(p *os.Process, sig syscall.Signal) {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig)
	}
}
