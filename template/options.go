package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// Limits of the platform (DESIGN §6): API Gateway STREAM integrations take
// 50 ms to 15 minutes, and a Lambda function runs for at most 15 minutes.
const (
	minIntegrationTimeoutMs   = 50
	maxIntegrationTimeoutMs   = 900_000
	maxFunctionTimeoutSeconds = 900

	defaultModelID              = "us.anthropic.claude-sonnet-4-20250514-v1:0"
	defaultIntegrationTimeoutMs = 300_000
)

// options are the generator's inputs. They are what must be known when the
// template is written: the IAM grant is computed from the allowed models,
// and the timeouts and API key switch decide the API Gateway deployment
// (see deploymentID). Each one also becomes the default of the matching
// CloudFormation parameter.
type options struct {
	Output                 string // file to write; "" = stdout
	Format                 string // "yaml" or "json"
	ModelID                string
	AllowedModels          []model
	IntegrationTimeoutMs   int
	FunctionTimeoutSeconds int
	APIKeyRequired         bool
}

// allowedIDs returns the allowed model ids in order.
func (o options) allowedIDs() []string {
	ids := make([]string, len(o.AllowedModels))
	for i, m := range o.AllowedModels {
		ids[i] = m.ID
	}
	return ids
}

// parseOptions reads the command line. Usage goes to stderr; the error says
// which flag is wrong and why.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("template", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: go run ./template [flags]

Writes the streamgate CloudFormation template (REST API with a STREAM
Lambda proxy integration, the function, its IAM role and logs).
The flags set what the template grants and the defaults of its parameters.

Flags:
`)
		fs.PrintDefaults()
	}
	var (
		o       options
		allowed string
	)
	fs.StringVar(&o.Output, "o", "", "write the template to `FILE` instead of stdout")
	fs.StringVar(&o.Format, "format", "", "output `format`: yaml or json (default: json when -o ends in .json, else yaml)")
	fs.StringVar(&o.ModelID, "model-id", defaultModelID, "default Bedrock model: a model `id`, inference profile id or ARN (the ModelId parameter's default)")
	fs.StringVar(&allowed, "allowed-models", "", "comma `list` of the models requests may name; IAM grants exactly these (default: the -model-id)")
	fs.IntVar(&o.IntegrationTimeoutMs, "integration-timeout-ms", defaultIntegrationTimeoutMs, fmt.Sprintf("API Gateway integration timeout in `ms`, %d to %d (the IntegrationTimeoutMs default)", minIntegrationTimeoutMs, maxIntegrationTimeoutMs))
	fs.IntVar(&o.FunctionTimeoutSeconds, "function-timeout-seconds", 0, fmt.Sprintf("Lambda timeout in `seconds`, at least the integration timeout, at most %d (default: the integration timeout rounded up)", maxFunctionTimeoutSeconds))
	fs.BoolVar(&o.APIKeyRequired, "api-key-required", true, "require an API key on POST /stream (the ApiKeyRequired default)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	if o.Format == "" {
		o.Format = "yaml"
		if strings.EqualFold(filepath.Ext(o.Output), ".json") {
			o.Format = "json"
		}
	}
	if _, err := parseModel(o.ModelID); err != nil {
		return options{}, fmt.Errorf("-model-id: %w", err)
	}
	if allowed == "" {
		allowed = o.ModelID
	}
	var err error
	if o.AllowedModels, err = parseModels(allowed); err != nil {
		return options{}, fmt.Errorf("-allowed-models: %w", err)
	}
	return o, o.validate()
}

// validate checks the options against each other and against the platform's
// limits. A zero FunctionTimeoutSeconds is set to cover the integration
// timeout, so validate has a pointer receiver.
func (o *options) validate() error {
	var errs []error
	if o.Format != "yaml" && o.Format != "json" {
		errs = append(errs, fmt.Errorf("-format=%q: must be yaml or json", o.Format))
	}
	if _, err := parseModel(o.ModelID); err != nil {
		errs = append(errs, fmt.Errorf("-model-id: %w", err))
	} else if !slices.Contains(o.allowedIDs(), o.ModelID) {
		errs = append(errs, fmt.Errorf("-model-id=%q is not in -allowed-models=%q: the default model must be one of the allowed models", o.ModelID, strings.Join(o.allowedIDs(), ",")))
	}
	coverSeconds := (o.IntegrationTimeoutMs + 999) / 1000
	switch {
	case o.IntegrationTimeoutMs < minIntegrationTimeoutMs || o.IntegrationTimeoutMs > maxIntegrationTimeoutMs:
		errs = append(errs, fmt.Errorf("-integration-timeout-ms=%d is out of range: API Gateway allows %d to %d ms (15 minutes) for a streaming integration",
			o.IntegrationTimeoutMs, minIntegrationTimeoutMs, maxIntegrationTimeoutMs))
	case o.FunctionTimeoutSeconds == 0:
		o.FunctionTimeoutSeconds = coverSeconds
	case o.FunctionTimeoutSeconds < 0 || o.FunctionTimeoutSeconds > maxFunctionTimeoutSeconds:
		errs = append(errs, fmt.Errorf("-function-timeout-seconds=%d is out of range: Lambda allows 1 to %d seconds", o.FunctionTimeoutSeconds, maxFunctionTimeoutSeconds))
	case o.FunctionTimeoutSeconds < coverSeconds:
		errs = append(errs, fmt.Errorf("-function-timeout-seconds=%d is shorter than -integration-timeout-ms=%d: the function must run at least as long as API Gateway waits for it (%d s or more), or every long stream ends at the function's timeout instead; raise it or leave it unset",
			o.FunctionTimeoutSeconds, o.IntegrationTimeoutMs, coverSeconds))
	}
	return errors.Join(errs...)
}
