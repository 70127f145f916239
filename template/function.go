package main

import (
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/dynamodb"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"
	"github.com/awslabs/goformation/v7/cloudformation/logs"
	"github.com/awslabs/goformation/v7/cloudformation/policies"
	"github.com/awslabs/goformation/v7/cloudformation/s3"
)

func addLogs(t *cloudformation.Template, o options) {
	groups := map[string]string{
		resFunctionLogGroup: "/streamgate/${AWS::StackName}/function",
		resAccessLogGroup:   "/streamgate/${AWS::StackName}/access",
	}
	if o.APIKeyRequired {
		groups[resAuthorizerLogGroup] = "/streamgate/${AWS::StackName}/authorizer"
	}
	for id, name := range groups {
		t.Resources[id] = newOverlay(&logs.LogGroup{
			LogGroupName: cloudformation.String(sub(name)),
		}).set("RetentionInDays", ref("LogRetentionDays"))
	}
}

// addStorage adds the cancel and budget tables and the images bucket.
func addStorage(t *cloudformation.Template) {
	// The cancel store (CONTRACTS): DELETE /stream/{id} puts an item, the
	// running stream polls for it; items expire by TTL. Nothing in it is
	// worth keeping, so it goes with the stack.
	t.Resources[resCancelTable] = &dynamodb.Table{
		BillingMode:          cloudformation.String("PAY_PER_REQUEST"),
		AttributeDefinitions: []dynamodb.Table_AttributeDefinition{{AttributeName: "id", AttributeType: "S"}},
		KeySchema:            []dynamodb.Table_KeySchema{{AttributeName: "id", KeyType: "HASH"}},
		TimeToLiveSpecification: &dynamodb.Table_TimeToLiveSpecification{
			AttributeName: cloudformation.String("expiresAt"),
			Enabled:       true,
		},
		AWSCloudFormationDeletionPolicy:      policies.DeletionPolicy("Delete"),
		AWSCloudFormationUpdateReplacePolicy: policies.UpdateReplacePolicy("Delete"),
	}

	// Token budgets (DAILY_TOKEN_BUDGET): a counter item per key and UTC
	// day, grown by atomic ADDs and expired by TTL, and the per-key
	// budgets an operator writes with scripts/budget. The budgets are
	// worth keeping across a replacement: Retain on replace, not on delete.
	t.Resources[resBudgetTable] = &dynamodb.Table{
		BillingMode:          cloudformation.String("PAY_PER_REQUEST"),
		AttributeDefinitions: []dynamodb.Table_AttributeDefinition{{AttributeName: "id", AttributeType: "S"}},
		KeySchema:            []dynamodb.Table_KeySchema{{AttributeName: "id", KeyType: "HASH"}},
		TimeToLiveSpecification: &dynamodb.Table_TimeToLiveSpecification{
			AttributeName: cloudformation.String("expiresAt"),
			Enabled:       true,
		},
		AWSCloudFormationDeletionPolicy:      policies.DeletionPolicy("Delete"),
		AWSCloudFormationUpdateReplacePolicy: policies.UpdateReplacePolicy("Retain"),
	}

	// Generated images: private (the function hands out presigned URLs),
	// encrypted, reachable over TLS only, and deleted after
	// ImageRetentionDays.
	bucket := &s3.Bucket{
		PublicAccessBlockConfiguration: &s3.Bucket_PublicAccessBlockConfiguration{
			BlockPublicAcls:       cloudformation.Bool(true),
			BlockPublicPolicy:     cloudformation.Bool(true),
			IgnorePublicAcls:      cloudformation.Bool(true),
			RestrictPublicBuckets: cloudformation.Bool(true),
		},
		BucketEncryption: &s3.Bucket_BucketEncryption{
			ServerSideEncryptionConfiguration: []s3.Bucket_ServerSideEncryptionRule{{
				ServerSideEncryptionByDefault: &s3.Bucket_ServerSideEncryptionByDefault{SSEAlgorithm: "AES256"},
			}},
		},
		OwnershipControls: &s3.Bucket_OwnershipControls{
			Rules: []s3.Bucket_OwnershipControlsRule{{ObjectOwnership: cloudformation.String("BucketOwnerEnforced")}},
		},
		LifecycleConfiguration: &s3.Bucket_LifecycleConfiguration{Rules: []s3.Bucket_Rule{{
			Id:                             cloudformation.String("expire-generated-images"),
			Status:                         "Enabled",
			Prefix:                         cloudformation.String("images/"),
			AbortIncompleteMultipartUpload: &s3.Bucket_AbortIncompleteMultipartUpload{DaysAfterInitiation: 1},
		}}},
		AWSCloudFormationCondition: condImages,
	}
	t.Resources[resImagesBucket] = newOverlay(bucket).
		set("LifecycleConfiguration.Rules.0.ExpirationInDays", ref("ImageRetentionDays"))
	t.Resources[resImagesBucketPolicy] = &s3.BucketPolicy{
		Bucket: ref(resImagesBucket),
		PolicyDocument: policyDocument(map[string]any{
			"Sid":       "TLSOnly",
			"Effect":    "Deny",
			"Principal": "*",
			"Action":    "s3:*",
			"Resource":  []any{getAtt(resImagesBucket, "Arn"), sub("${" + resImagesBucket + ".Arn}/*")},
			"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		}),
		AWSCloudFormationCondition: condImages,
	}
}

// policyDocument is an IAM policy with its statements.
func policyDocument(statements ...any) map[string]any {
	return map[string]any{"Version": "2012-10-17", "Statement": statements}
}

func assumeRole(service string) map[string]any {
	return policyDocument(map[string]any{
		"Effect":    "Allow",
		"Principal": map[string]any{"Service": service},
		"Action":    "sts:AssumeRole",
	})
}

// writeLogs lets a function write to its own log group only. The group is
// the stack's, so no logs:CreateLogGroup.
func writeLogs(group string) iam.Role_Policy {
	return iam.Role_Policy{
		PolicyName: "write-own-logs",
		PolicyDocument: policyDocument(map[string]any{
			"Sid":      "WriteOwnLogGroup",
			"Effect":   "Allow",
			"Action":   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			"Resource": getAtt(group, "Arn"),
		}),
	}
}

// Bedrock actions: ConverseStream is authorized as
// InvokeModelWithResponseStream, Converse and InvokeModel as InvokeModel.
const (
	actionInvoke       = "bedrock:InvokeModel"
	actionInvokeStream = "bedrock:InvokeModelWithResponseStream"
	actionCountTokens  = "bedrock:CountTokens"
)

// routeGrants are the function's permissions, one group of statements for
// each group of routes, granting what those routes call and nothing else
// (CONTRACTS, "IAM per route"). The Sids name the routes.
func routeGrants(o options) []any {
	var out []any
	models := func(sid string, actions []string, ms ...model) []map[string]any {
		var stmts []map[string]any
		direct := uniqueARNs(ms, func(m model) []arnSpec { return m.Direct })
		stmts = append(stmts, map[string]any{
			"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": arnValues(direct),
		})
		// The base models behind cross-Region profiles, only through those
		// profiles: without the condition, the role could call the base
		// model on demand in any Region.
		if via := uniqueARNs(ms, func(m model) []arnSpec { return m.ViaProfile }); len(via) > 0 {
			profiles := uniqueARNs(ms, func(m model) []arnSpec {
				if m.Profile == nil {
					return nil
				}
				return []arnSpec{*m.Profile}
			})
			stmts = append(stmts, map[string]any{
				"Sid": sid + "ViaProfile", "Effect": "Allow", "Action": actions, "Resource": arnValues(via),
				"Condition": map[string]any{"ArnLike": map[string]any{"bedrock:InferenceProfileArn": arnValues(profiles)}},
			})
		}
		return stmts
	}
	add := func(stmts []map[string]any) {
		for _, s := range stmts {
			out = append(out, s)
		}
	}
	// POST /stream, POST /v1/chat/completions, /v1/messages and
	// /v1/responses with stream, POST /generate?stream=1: ConverseStream;
	// POST /model/{id}/invoke-with-response-stream:
	// InvokeModelWithResponseStream.
	add(models("StreamingRoutes", []string{actionInvokeStream}, o.AllowedModels...))
	// POST /v1/chat/completions, /v1/messages and /v1/responses without
	// stream, POST /generate: Converse; POST /model/{id}/invoke:
	// InvokeModel.
	add(models("ConverseRoutes", []string{actionInvoke}, o.AllowedModels...))
	// POST /v1/messages/count_tokens: CountTokens, which AWS's service
	// authorization reference grants on foundation models only; the
	// gateway calls it in its own Region with the model behind a profile.
	if fms := countTokensModels(o.AllowedModels); len(fms) > 0 {
		out = append(out, map[string]any{
			"Sid": "CountTokensRoute", "Effect": "Allow", "Action": []string{actionCountTokens}, "Resource": arnValues(fms),
		})
	}
	// POST /v1/embeddings: InvokeModel on the embedding model.
	add(models("EmbeddingsRoute", []string{actionInvoke}, o.EmbeddingModel))
	// GET|POST /generate-image, POST /v1/images/generations: InvokeModel
	// on the image model, and the bucket's images/ prefix; only with
	// images enabled.
	for _, s := range models("ImageRoutes", []string{actionInvoke}, o.ImageModel) {
		out = append(out, ifThen(condImages, s, noValue()))
	}
	out = append(out, ifThen(condImages, map[string]any{
		"Sid": "ImageRoutesBucket", "Effect": "Allow",
		"Action":   []string{"s3:PutObject", "s3:GetObject"},
		"Resource": sub("${" + resImagesBucket + ".Arn}/images/*"),
	}, noValue()))
	// GET /models: ListFoundationModels has no resource-level permissions.
	out = append(out, map[string]any{
		"Sid": "ModelsRoute", "Effect": "Allow", "Action": []string{"bedrock:ListFoundationModels"}, "Resource": "*",
	})
	// GET /inference-profiles (Claude Code's Bedrock mode): neither has
	// ListInferenceProfiles.
	out = append(out, map[string]any{
		"Sid": "ProfilesRoute", "Effect": "Allow", "Action": []string{"bedrock:ListInferenceProfiles"}, "Resource": "*",
	})
	// Every route that calls a model reads its key's budget (the counter
	// and the key's own budget) and adds its tokens when it ends.
	out = append(out, map[string]any{
		"Sid": "TokenBudgets", "Effect": "Allow",
		"Action":   []string{"dynamodb:GetItem", "dynamodb:UpdateItem"},
		"Resource": getAtt(resBudgetTable, "Arn"),
	})
	// Every Converse and ConverseStream call carries the guardrail, which
	// Bedrock authorizes as ApplyGuardrail on it: only when one is set.
	out = append(out, ifThen(condGuardrail, map[string]any{
		"Sid": "Guardrail", "Effect": "Allow",
		"Action":   []string{"bedrock:ApplyGuardrail"},
		"Resource": sub("arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:guardrail/${GuardrailId}"),
	}, noValue()))
	// DELETE /stream/{requestId}, POST /v1/chat/completions/{id}/cancel and
	// POST /v1/responses/{id}/cancel put a cancel item; every running
	// stream reads its own.
	out = append(out, map[string]any{
		"Sid": "CancelStore", "Effect": "Allow",
		"Action":   []string{"dynamodb:PutItem", "dynamodb:GetItem"},
		"Resource": getAtt(resCancelTable, "Arn"),
	})
	return out
}

func arnValues(arns []arnSpec) []any {
	out := make([]any, len(arns))
	for i, a := range arns {
		out[i] = a.value()
	}
	return out
}

// code is the zip both functions run.
func code() *lambda.Function_Code {
	return &lambda.Function_Code{
		S3Bucket: cloudformation.String(ref("CodeS3Bucket")),
		S3Key:    cloudformation.String(ref("CodeS3Key")),
	}
}

// functionEnvironment is the gateway's configuration (DESIGN §4, CONTRACTS).
func functionEnvironment(o options) map[string]string {
	return map[string]string{
		"MODEL_ID":             ref("ModelId"),
		"ALLOWED_MODELS":       join(",", ref("AllowedModels")),
		"MAX_TOKENS":           ref("MaxTokens"),
		"SYSTEM_PROMPT":        ref("SystemPrompt"),
		"CORS_ALLOW_ORIGINS":   o.CORSAllowOrigins,
		"CORS_ALLOW_HEADERS":   ref("CorsAllowHeaders"),
		"LOG_LEVEL":            ref("LogLevel"),
		"HEARTBEAT_SECONDS":    ref("HeartbeatSeconds"),
		"CANCEL_TABLE":         ref(resCancelTable),
		"IMAGE_MODEL_ID":       o.ImageModel.ID,
		"IMAGES_BUCKET":        ifThen(condImages, ref(resImagesBucket), ""),
		"PRESIGN_SECONDS":      ref("PresignSeconds"),
		"EMBEDDING_MODEL_ID":   o.EmbeddingModel.ID,
		"MODELS_CACHE_SECONDS": ref("ModelsCacheSeconds"),
		"DAILY_TOKEN_BUDGET":   ref("DailyTokenBudget"),
		"BUDGET_TABLE":         ref(resBudgetTable),
		"MODEL_FALLBACKS":      ref("ModelFallbacks"),
		"GUARDRAIL_ID":         ref("GuardrailId"),
		// The version and mode mean nothing without an id, and the
		// gateway refuses to start on a mode without one.
		"GUARDRAIL_VERSION":     ifThen(condGuardrail, ref("GuardrailVersion"), ""),
		"GUARDRAIL_STREAM_MODE": ifThen(condGuardrail, ref("GuardrailStreamMode"), ""),
		"PROMPT_CACHE":          ref("PromptCache"),
		// Keeps the Go runtime's sysmon thread out of its deep sleep, which
		// otherwise costs two thread wake-ups per delta in a process that
		// idles between deltas: CPU per 1,000 deltas at 200 a second went
		// from 92 to 49 ms (BENCHMARKS.md, CPU per delta). The trace period
		// is 24.8 days, so no trace line is ever printed.
		"GODEBUG": lambdaGODEBUG,
		// One P from the start, which is what Lambda mode runs with (see
		// lambda/main.go, lambdaProcs): set at run time instead, it is a
		// stop-the-world that cost up to 1.8 ms of a 2-CPU cold start
		// (scripts/bench, section 3).
		"GOMAXPROCS": "1",
	}
}

// lambdaGODEBUG is the function's GODEBUG; scripts/benchmark measures the
// Lambda path with the same value.
const lambdaGODEBUG = "schedtrace=2147483647"

func addFunction(t *cloudformation.Template, o options) {
	t.Resources[resFunctionRole] = &iam.Role{
		Description:              cloudformation.String(sub("streamgate ${AWS::StackName}: what each route calls (Bedrock models, the guardrail, the cancel and budget tables, the images bucket) and the function's own logs")),
		AssumeRolePolicyDocument: assumeRole("lambda.amazonaws.com"),
		Policies: []iam.Role_Policy{
			writeLogs(resFunctionLogGroup),
			{PolicyName: "routes", PolicyDocument: policyDocument(routeGrants(o)...)},
		},
	}
	fn := &lambda.Function{
		Description:   cloudformation.String(sub("streamgate ${AWS::StackName}: streams Bedrock answers to API Gateway")),
		Runtime:       cloudformation.String("provided.al2023"),
		Architectures: []string{"arm64"},
		Handler:       cloudformation.String("bootstrap"),
		Role:          getAtt(resFunctionRole, "Arn"),
		Code:          code(),
		Environment:   &lambda.Function_Environment{Variables: functionEnvironment(o)},
		LoggingConfig: &lambda.Function_LoggingConfig{
			LogGroup:  cloudformation.String(ref(resFunctionLogGroup)),
			LogFormat: cloudformation.String("Text"),
		},
	}
	t.Resources[resFunction] = newOverlay(fn).
		set("MemorySize", ref("MemorySize")).
		set("Timeout", ref("FunctionTimeoutSeconds")).
		set("ReservedConcurrentExecutions", ifThen(condReserved, ref("ReservedConcurrency"), noValue()))

	// With provisioned concurrency, API Gateway calls an alias of a
	// published version, where the provisioned instances live; a version
	// is published again when the code key or FunctionRevision changes.
	// Without it, the function itself.
	target := getAtt(resFunction, "Arn")
	if o.ProvisionedConcurrency > 0 {
		t.Resources[resFunctionVersion] = &lambda.Version{
			FunctionName: ref(resFunction),
			Description:  cloudformation.String(sub("streamgate ${CodeS3Key} ${FunctionRevision}")),
		}
		t.Resources[resFunctionAlias] = newOverlay(&lambda.Alias{
			FunctionName:    ref(resFunction),
			FunctionVersion: getAtt(resFunctionVersion, "Version"),
			Name:            aliasName,
			Description:     cloudformation.String("what API Gateway calls: the published version with provisioned concurrency"),
		}).set("ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions", ref("ProvisionedConcurrency"))
		target = ref(resFunctionAlias)
	}
	t.Resources[resPermission] = &lambda.Permission{
		Action:       "lambda:InvokeFunction",
		FunctionName: target,
		Principal:    "apigateway.amazonaws.com",
		// This API only, any stage, method and path.
		SourceArn: cloudformation.String(sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + resAPI + "}/*")),
	}

	if !o.APIKeyRequired {
		return
	}
	// The authorizer: the same zip, Handler "authorizer". It calls no AWS
	// API, so its role may only write its logs.
	t.Resources[resAuthorizerRole] = &iam.Role{
		Description:              cloudformation.String(sub("streamgate ${AWS::StackName} authorizer: its own logs only")),
		AssumeRolePolicyDocument: assumeRole("lambda.amazonaws.com"),
		Policies:                 []iam.Role_Policy{writeLogs(resAuthorizerLogGroup)},
	}
	t.Resources[resAuthorizerFunction] = &lambda.Function{
		Description:   cloudformation.String(sub("streamgate ${AWS::StackName}: turns Authorization: Bearer KEY or x-api-key: KEY into the API key of the usage plan")),
		Runtime:       cloudformation.String("provided.al2023"),
		Architectures: []string{"arm64"},
		Handler:       cloudformation.String("authorizer"),
		Role:          getAtt(resAuthorizerRole, "Arn"),
		Code:          code(),
		MemorySize:    cloudformation.Int(128),
		Timeout:       cloudformation.Int(10),
		LoggingConfig: &lambda.Function_LoggingConfig{
			LogGroup:  cloudformation.String(ref(resAuthorizerLogGroup)),
			LogFormat: cloudformation.String("Text"),
		},
	}
	t.Resources[resAuthorizerPermission] = &lambda.Permission{
		Action:       "lambda:InvokeFunction",
		FunctionName: getAtt(resAuthorizerFunction, "Arn"),
		Principal:    "apigateway.amazonaws.com",
		SourceArn:    cloudformation.String(sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + resAPI + "}/authorizers/${" + resAuthorizer + "}")),
	}
}
