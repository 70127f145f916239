// Command template writes streamgate's CloudFormation template with
// goformation v7: a Regional REST API whose routes (every route of the
// gateway) reach the Lambda function's alias through streaming Lambda
// proxy integrations (ResponseTransferMode STREAM, the
// response-streaming-invocations Uri); the function (provided.al2023,
// arm64) with reserved and optional provisioned concurrency; a REQUEST
// Lambda authorizer (the same zip, Handler "authorizer") that makes the
// Bearer token or x-api-key the usage plan's API key; an IAM role that
// grants each route what it calls; the cancel table, the images bucket,
// access logs, throttling, a dashboard and alarms.
//
// Usage:
//
//	go run ./template [-o FILE] [-format yaml|json] [-model-id ID]
//	    [-allowed-models ID,ID...] [-image-model-id ID] [-embedding-model-id ID]
//	    [-integration-timeout-ms MS] [-function-timeout-seconds S]
//	    [-api-key-required=true|false] [-authorizer-cache-seconds S]
//	    [-cors-allow-origins LIST] [-region REGION]
//
// The flags are what must be known when the template is written: the IAM
// grant is computed from the models, and everything that API Gateway
// serves from a deployment snapshot is written into the API's resources
// (see deploymentID). Everything else is a parameter set at deploy time
// (template/README.md, "Stack parameters"). Out-of-range values are refused with an error
// that names the flag; -region only adds warnings.
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
	for _, w := range regionWarnings(o.Region, append(append([]model{}, o.AllowedModels...), o.ImageModel, o.EmbeddingModel)) {
		fmt.Fprintln(stderr, "template: warning:", w)
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
