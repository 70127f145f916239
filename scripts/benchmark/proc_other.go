//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

func setChildAttrs(*exec.Cmd) {}

var errNotLinux = errors.New("only on Linux")

func getNOFILE() (soft, hard uint64, err error)   { return 0, 0, errNotLinux }
func raiseNOFILE() (soft, hard uint64, err error) { return 0, 0, errNotLinux }
