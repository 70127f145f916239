package main

import (
	"github.com/awslabs/goformation/v7/cloudformation"
)

func addOutputs(t *cloudformation.Template, o options) {
	const prompt = `{"prompt":"Tell me a long story about a lighthouse keeper."}`
	getKey := "aws apigateway get-api-key --api-key ${" + resAPIKey + "} --include-value --query value --output text --region ${AWS::Region}"
	curl := "curl --no-buffer -sS -H 'Content-Type: application/json' "
	if o.APIKeyRequired {
		curl += `-H "Authorization: Bearer $(` + getKey + `)" `
	}
	curl += "-d '" + prompt + "' " + baseURL + "/stream"
	smoke := "scripts/smoke " + baseURL
	if o.APIKeyRequired {
		smoke = `API_KEY="$(` + getKey + `)" ` + smoke
	}
	t.Outputs = cloudformation.Outputs{
		"ApiUrl": {
			Description: cloudformation.String("Base URL of the stage; give it to scripts/smoke."),
			Value:       sub(baseURL),
		},
		"ChatUrl": {
			Description: cloudformation.String("The chat page (GET /); it asks for an API key and sends it with its calls."),
			Value:       sub(baseURL + "/"),
		},
		"StreamUrl": {
			Description: cloudformation.String("POST here: JSON {\"prompt\": ...}; Accept: text/event-stream or ?format=sse for SSE."),
			Value:       sub(baseURL + "/stream"),
		},
		"OpenAIBaseUrl": {
			Description: cloudformation.String("base_url for OpenAI clients (the API key is their api_key)."),
			Value:       sub(baseURL + "/v1"),
		},
		"RestApiId": {
			Description: cloudformation.String("The REST API's id."),
			Value:       ref(resAPI),
		},
		"CurlCommand": {
			Description: cloudformation.String("Streams one answer to your terminal as it is generated."),
			Value:       sub(curl),
		},
		"SmokeCommand": {
			Description: cloudformation.String("Checks from a checkout that answers arrive incrementally and end cleanly."),
			Value:       sub(smoke),
		},
		"FunctionName": {
			Description: cloudformation.String("The gateway function."),
			Value:       ref(resFunction),
		},
		"FunctionLogGroupName": {
			Description: cloudformation.String("The function's logs: aws logs tail --follow NAME"),
			Value:       ref(resFunctionLogGroup),
		},
		"AccessLogGroupName": {
			Description: cloudformation.String("The stage's JSON access logs."),
			Value:       ref(resAccessLogGroup),
		},
		"CancelTableName": {
			Description: cloudformation.String("DynamoDB table through which DELETE /stream/{requestId} stops a stream on any instance (CANCEL_TABLE)."),
			Value:       ref(resCancelTable),
		},
		"BudgetTableName": {
			Description: cloudformation.String("DynamoDB table of the token budgets (BUDGET_TABLE): scripts/budget --table this sets a key's own budget."),
			Value:       ref(resBudgetTable),
		},
		"ImagesBucketName": {
			Description: cloudformation.String("S3 bucket of generated images (IMAGES_BUCKET)."),
			Value:       ref(resImagesBucket),
			Condition:   cloudformation.String(condImages),
		},
		"DashboardUrl": {
			Description: cloudformation.String("The CloudWatch dashboard."),
			Value:       sub("https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}#dashboards:name=${" + resDashboard + "}"),
		},
		"AlarmTopicArn": {
			Description: cloudformation.String("SNS topic of the alarms."),
			Value:       ref(resAlarmTopic),
			Condition:   cloudformation.String(condAlarmEmail),
		},
	}
	if o.ProvisionedConcurrency > 0 {
		t.Outputs["FunctionAliasArn"] = cloudformation.Output{
			Description: cloudformation.String("The alias API Gateway calls, where the provisioned instances live."),
			Value:       ref(resFunctionAlias),
		}
	}
	if o.APIKeyRequired {
		t.Outputs["ApiKeyId"] = cloudformation.Output{
			Description: cloudformation.String("Id of the first API key (CloudFormation cannot output its value: scripts/deploy prints it, or see GetApiKeyCommand)."),
			Value:       ref(resAPIKey),
		}
		t.Outputs["GetApiKeyCommand"] = cloudformation.Output{
			Description: cloudformation.String("Prints the first API key's value."),
			Value:       sub(getKey),
		}
		t.Outputs["UsagePlanId"] = cloudformation.Output{
			Description: cloudformation.String("Usage plan of the stack's keys: add a key for each team (README)."),
			Value:       ref(resUsagePlan),
		}
		t.Outputs["AuthorizerFunctionName"] = cloudformation.Output{
			Description: cloudformation.String("The API key authorizer function."),
			Value:       ref(resAuthorizerFunction),
		}
	}
}
