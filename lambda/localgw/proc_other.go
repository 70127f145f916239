//go:build !unix

package localgw

import (
	"os"
	"os/exec"
)

func setProcAttrs(cmd *exec.Cmd) {}

// terminateProc kills: there is no SIGTERM to send on this platform.
func terminateProc(p *os.Process) { _ = p.Kill() }

func killProc(p *os.Process) { _ = p.Kill() }
