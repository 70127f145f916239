// Command template writes streamgate's CloudFormation template with
// goformation v7: a Regional REST API whose routes reach the Lambda
// function through a streaming Lambda proxy integration
// (ResponseTransferMode STREAM, the response-streaming-invocations Uri),
// the function (provided.al2023, arm64), an IAM role that may invoke only
// the allowed Bedrock models and write only its own log group, access
// logs, throttling, and an optional API key with its usage plan.
//
// Usage:
//
//	go run ./template [-o FILE] [-format yaml|json] [-model-id ID]
//	    [-allowed-models ID,ID...] [-integration-timeout-ms MS]
//	    [-function-timeout-seconds S] [-api-key-required=true|false]
//
// The flags are what must be known when the template is written (the IAM
// grant is computed from the allowed models); each also sets the default
// of the matching CloudFormation parameter. Everything else is a parameter
// set at deploy time (see README-deploy.md). Out-of-range values are
// refused with an error that names the flag.
//
// goformation v7 predates ResponseTransferMode, and cannot put a Ref into
// an integer property: the overlay type adds such properties to
// goformation's own JSON for a resource.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "template:", err)
		}
		os.Exit(2)
	}
}

// run generates the template for the command line args, writing it to
// stdout or to the -o file.
func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	out, err := generate(o)
	if err != nil {
		return err
	}
	if o.Output == "" {
		_, err = stdout.Write(out)
		return err
	}
	if err := os.WriteFile(o.Output, out, 0o644); err != nil {
		return fmt.Errorf("writing the template: %w", err)
	}
	return nil
}

// generate builds and renders the template for valid options.
func generate(o options) ([]byte, error) {
	t, err := buildTemplate(o)
	if err != nil {
		return nil, err
	}
	return render(t, o.Format)
}
