//go:build lambda.norpc

package main

import "errors"

// runLocal stands in for local mode in the Lambda build, which leaves it
// out (see the package comment): outside Lambda this binary only says so.
func runLocal(func(string) string) error {
	return errors.New("this is the Lambda build (-tags lambda.norpc), which has no local mode: run `go run ./lambda`, or build without -tags lambda.norpc, to serve locally")
}
