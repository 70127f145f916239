package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
)

// Limits of the platform (DESIGN §6): API Gateway STREAM integrations take
// 50 ms to 15 minutes, a Lambda function runs for at most 15 minutes, and
// API Gateway caches an authorizer's answer for at most an hour.
const (
	minIntegrationTimeoutMs   = 50
	maxIntegrationTimeoutMs   = 900_000
	maxFunctionTimeoutSeconds = 900
	maxAuthorizerCacheSeconds = 3600

	defaultModelID              = "us.anthropic.claude-sonnet-4-20250514-v1:0"
	defaultImageModelID         = "amazon.titan-image-generator-v2:0"
	defaultEmbeddingModelID     = "amazon.titan-embed-text-v2:0"
	defaultIntegrationTimeoutMs = 300_000
)

// options are the generator's inputs: what must be known when the template
// is written. The IAM grant is computed from the models; and everything
// that changes how the deployed API behaves (timeouts, keys, the
// authorizer's cache, the CORS origins that API Gateway's own error
// responses carry) is written into the API's resources as a literal, so
// that it is part of the hash that names the API Gateway Deployment (see
// deploymentID). A CloudFormation parameter could not be: a changed
// parameter does not rename the Deployment, and API Gateway would go on
// serving the old snapshot.
type options struct {
	Output                 string // file to write; "" = stdout
	Format                 string // "yaml" or "json"
	ModelID                string
	AllowedModels          []model
	ImageModel             model
	EmbeddingModel         model
	IntegrationTimeoutMs   int
	FunctionTimeoutSeconds int
	APIKeyRequired         bool
	AuthorizerCacheSeconds int
	CORSAllowOrigins       string // "", "*" or a comma list of origins
	ProvisionedConcurrency int    // 0 = off
	Region                 string // only checked against the models' geography prefixes
}

// allowedIDs returns the allowed model ids in order.
func (o options) allowedIDs() []string {
	ids := make([]string, len(o.AllowedModels))
	for i, m := range o.AllowedModels {
		ids[i] = m.ID
	}
	return ids
}

// corsOrigins returns the allowed origins as a list ("*" is one element).
func (o options) corsOrigins() []string {
	if o.CORSAllowOrigins == "" {
		return nil
	}
	return strings.Split(o.CORSAllowOrigins, ",")
}

// parseOptions reads the command line. Usage goes to stderr; the error says
// which flag is wrong and why.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("template", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: go run ./template [flags]

Writes the streamgate CloudFormation template: a REST API with a STREAM
Lambda proxy integration for every route, the function, the API key
authorizer, IAM roles, the cancel table, the images bucket, logs, a
dashboard and alarms. The flags set what the template grants and what the
deployed API does; everything else is a stack parameter.

Flags:
`)
		fs.PrintDefaults()
	}
	var (
		o                         options
		allowed, image, embedding string
	)
	fs.StringVar(&o.Output, "o", "", "write the template to `FILE` instead of stdout")
	fs.StringVar(&o.Format, "format", "", "output `format`: yaml or json (default: json when -o ends in .json, else yaml)")
	fs.StringVar(&o.ModelID, "model-id", defaultModelID, "default Bedrock model: a model `id`, inference profile id or ARN (the ModelId parameter's default)")
	fs.StringVar(&allowed, "allowed-models", "", "comma `list` of the text models requests may name; IAM grants exactly these (default: the -model-id)")
	fs.StringVar(&image, "image-model-id", defaultImageModelID, "Bedrock image `model` of /generate-image and /v1/images/generations (IMAGE_MODEL_ID)")
	fs.StringVar(&embedding, "embedding-model-id", defaultEmbeddingModelID, "Bedrock embedding `model` of /v1/embeddings (EMBEDDING_MODEL_ID)")
	fs.IntVar(&o.IntegrationTimeoutMs, "integration-timeout-ms", defaultIntegrationTimeoutMs, fmt.Sprintf("API Gateway integration timeout of the routes that call a model, in `ms`, %d to %d", minIntegrationTimeoutMs, maxIntegrationTimeoutMs))
	fs.IntVar(&o.FunctionTimeoutSeconds, "function-timeout-seconds", 0, fmt.Sprintf("Lambda timeout in `seconds`, at least the integration timeout, at most %d (the FunctionTimeoutSeconds default; default: the integration timeout rounded up)", maxFunctionTimeoutSeconds))
	fs.BoolVar(&o.APIKeyRequired, "api-key-required", true, "require an API key (Authorization: Bearer KEY or x-api-key: KEY) on every route but GET /, GET /healthz and the preflights")
	fs.IntVar(&o.AuthorizerCacheSeconds, "authorizer-cache-seconds", 0, fmt.Sprintf("how long API Gateway caches the authorizer's answer for a key, 0 to %d; 0 accepts the key in Authorization or x-api-key, above 0 only in Authorization: Bearer (see template/README.md)", maxAuthorizerCacheSeconds))
	fs.StringVar(&o.CORSAllowOrigins, "cors-allow-origins", "", "origins browsers may call from (CORS_ALLOW_ORIGINS): empty for none, * for any, or a comma `list` such as https://chat.example.com")
	fs.IntVar(&o.ProvisionedConcurrency, "provisioned-concurrency", 0, "`instances` kept initialized on an alias that API Gateway then calls, for no cold starts; 0 = off (the ProvisionedConcurrency default; switching it on or off changes the API)")
	fs.StringVar(&o.Region, "region", "", "the `region` the stack is for: only used to warn (on stderr) about models whose geography prefix or ARN does not fit it; the template is the same for every region")
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
	var errs []error
	if _, err := parseModel(o.ModelID); err != nil {
		errs = append(errs, fmt.Errorf("-model-id: %w", err))
	}
	if allowed == "" {
		allowed = o.ModelID
	}
	var err error
	if o.AllowedModels, err = parseModels(allowed); err != nil {
		errs = append(errs, fmt.Errorf("-allowed-models: %w", err))
	}
	if o.ImageModel, err = parseModel(image); err != nil {
		errs = append(errs, fmt.Errorf("-image-model-id: %w", err))
	}
	if o.EmbeddingModel, err = parseModel(embedding); err != nil {
		errs = append(errs, fmt.Errorf("-embedding-model-id: %w", err))
	}
	if o.CORSAllowOrigins, err = normalizeOrigins(o.CORSAllowOrigins); err != nil {
		errs = append(errs, fmt.Errorf("-cors-allow-origins: %w", err))
	}
	if len(errs) > 0 {
		return options{}, errors.Join(errs...)
	}
	return o, o.validate()
}

// normalizeOrigins checks a CORS origin list and returns it without
// blanks: "" (none), "*" (any), or origins as browsers send them
// (scheme://host[:port], no path, no trailing slash).
func normalizeOrigins(list string) (string, error) {
	list = strings.TrimSpace(list)
	if list == "" || list == "*" {
		return list, nil
	}
	var out []string
	for part := range strings.SplitSeq(list, ",") {
		origin := strings.TrimSpace(part)
		if origin == "" {
			continue
		}
		if origin == "*" {
			return "", fmt.Errorf("%q: * allows any origin and cannot be part of a list", list)
		}
		u, err := url.Parse(origin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.ContainsAny(origin, "'\"$ ") {
			return "", fmt.Errorf("%q is not an origin: write scheme://host[:port], such as https://chat.example.com, without a path or trailing slash", origin)
		}
		if !slices.Contains(out, origin) {
			out = append(out, origin)
		}
	}
	return strings.Join(out, ","), nil
}

// validate checks the options against each other and against the platform's
// limits. A zero FunctionTimeoutSeconds is set to cover the integration
// timeout, so validate has a pointer receiver.
func (o *options) validate() error {
	var errs []error
	if o.Format != "yaml" && o.Format != "json" {
		errs = append(errs, fmt.Errorf("-format=%q: must be yaml or json", o.Format))
	}
	if !slices.Contains(o.allowedIDs(), o.ModelID) {
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
	if o.AuthorizerCacheSeconds < 0 || o.AuthorizerCacheSeconds > maxAuthorizerCacheSeconds {
		errs = append(errs, fmt.Errorf("-authorizer-cache-seconds=%d is out of range: API Gateway caches an authorizer's answer for 0 to %d seconds", o.AuthorizerCacheSeconds, maxAuthorizerCacheSeconds))
	} else if o.AuthorizerCacheSeconds > 0 && !o.APIKeyRequired {
		errs = append(errs, fmt.Errorf("-authorizer-cache-seconds=%d with -api-key-required=false: there is no authorizer to cache", o.AuthorizerCacheSeconds))
	}
	if o.ProvisionedConcurrency < 0 || o.ProvisionedConcurrency > 10000 {
		errs = append(errs, fmt.Errorf("-provisioned-concurrency=%d is out of range: 0 (off) to 10000", o.ProvisionedConcurrency))
	}
	return errors.Join(errs...)
}
