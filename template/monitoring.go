package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"
	"github.com/awslabs/goformation/v7/cloudformation/sns"
)

// emfNamespace is the CloudWatch namespace of the metrics the gateway writes
// in its log lines (Embedded Metric Format), with the dimension sets
// [route] and [route, model], and tokens alone by [keyId]. route is the gateway's route pattern, such as
// "POST /stream".
const emfNamespace = "streamgate"

// streamingRoutes are the routes whose time to first token the TTFT alarm
// watches: the ones people read as they stream.
func streamingRoutes() []string {
	return []string{"POST /stream", "POST /v1/chat/completions", "POST /v1/responses", "POST /v1/messages"}
}

// reservedPlaceholder marks where the dashboard body takes
// ${ReservedConcurrency} as a JSON number, not a string.
const reservedPlaceholder = "__RESERVED_CONCURRENCY__"

// dashboardBody is the CloudWatch dashboard as an Fn::Sub string: ${...}
// are the stack's names and parameters.
func dashboardBody(o options) string {
	api := []any{"ApiName", "${AWS::StackName}", "Stage", "${StageName}"}
	fn := []any{"FunctionName", "${" + resFunction + "}"}
	metric := func(namespace, name string, dims []any, opts map[string]any) []any {
		m := append([]any{namespace, name}, dims...)
		if opts != nil {
			m = append(m, opts)
		}
		return m
	}
	search := func(id, dims, name, stat string, period int, label string) []any {
		return []any{map[string]any{
			"id":         id,
			"expression": fmt.Sprintf("SEARCH('{%s,%s} MetricName=\"%s\"', '%s', %d)", emfNamespace, dims, name, stat, period),
			"label":      label,
		}}
	}
	widget := func(x, y int, title string, stat string, metrics []any, extra map[string]any) map[string]any {
		props := map[string]any{
			"title": title, "region": "${AWS::Region}", "view": "timeSeries", "stacked": false,
			"period": 60, "stat": stat, "metrics": metrics,
		}
		for k, v := range extra {
			props[k] = v
		}
		return map[string]any{"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": props}
	}
	lambdaMetrics := []any{
		metric("AWS/Lambda", "Throttles", fn, map[string]any{"label": "gateway throttles", "color": "#d62728"}),
		metric("AWS/Lambda", "Errors", fn, map[string]any{"label": "gateway errors"}),
	}
	if o.APIKeyRequired {
		auth := []any{"FunctionName", "${" + resAuthorizerFunction + "}"}
		lambdaMetrics = append(lambdaMetrics,
			metric("AWS/Lambda", "Throttles", auth, map[string]any{"label": "authorizer throttles"}),
			metric("AWS/Lambda", "Errors", auth, map[string]any{"label": "authorizer errors"}))
	}
	widgets := []any{
		widget(0, 0, "Requests, 4xx and 5xx (API Gateway)", "Sum", []any{
			metric("AWS/ApiGateway", "Count", api, map[string]any{"label": "requests"}),
			metric("AWS/ApiGateway", "4XXError", api, map[string]any{"label": "4xx"}),
			metric("AWS/ApiGateway", "5XXError", api, map[string]any{"label": "5xx", "color": "#d62728"}),
		}, nil),
		widget(12, 0, "Throttles and errors (Lambda)", "Sum", lambdaMetrics, nil),
		widget(0, 6, "Time to first token p50 / p99 (ms, by route)", "p99", []any{
			search("ttft50", "route", "ttftMs", "p50", 60, "p50"),
			search("ttft99", "route", "ttftMs", "p99", 60, "p99"),
		}, nil),
		widget(12, 6, "Answer duration p50 / p99 (ms, by route)", "p99", []any{
			search("dur50", "route", "durationMs", "p50", 60, "p50"),
			search("dur99", "route", "durationMs", "p99", 60, "p99"),
		}, nil),
		widget(0, 12, "Output and input tokens (by route and model)", "Sum", []any{
			search("out", "route,model", "outputTokens", "Sum", 300, "output"),
			search("in", "route,model", "inputTokens", "Sum", 300, "input"),
		}, map[string]any{"period": 300}),
		widget(12, 12, "Concurrent executions and the reservation", "Maximum", []any{
			metric("AWS/Lambda", "ConcurrentExecutions", fn, map[string]any{"label": "concurrent executions (streams in flight)"}),
		}, map[string]any{"annotations": map[string]any{"horizontal": []any{
			map[string]any{"label": "ReservedConcurrency (0 = unreserved)", "value": reservedPlaceholder, "color": "#d62728"},
		}}}),
		widget(0, 18, "Errors, client aborts and cancels (by route)", "Sum", []any{
			search("err", "route", "errors", "Sum", 60, "errors"),
			search("abort", "route", "clientAborts", "Sum", 60, "client aborts"),
			search("cancel", "route", "cancels", "Sum", 60, "cancels"),
		}, nil),
		widget(12, 18, "Bytes streamed (by route and model)", "Sum", []any{
			search("bytes", "route,model", "bytes", "Sum", 300, "bytes"),
		}, map[string]any{"period": 300}),
		// keyId is a short hash of the API key (never the key): what
		// scripts/budget show prints for it.
		widget(0, 24, "Tokens per API key (keyId; DailyTokenBudget applies per UTC day)", "Sum", []any{
			search("tokens", "keyId", "tokens", "Sum", 3600, ""),
		}, map[string]any{"period": 3600}),
		widget(12, 24, "Fallbacks and cached input tokens (by route and model)", "Sum", []any{
			search("fb", "route,model", "fallbacks", "Sum", 300, "fallbacks"),
			search("cache", "route,model", "cacheReadInputTokens", "Sum", 300, "cache reads"),
		}, map[string]any{"period": 300}),
	}
	b, err := json.Marshal(map[string]any{"widgets": widgets})
	if err != nil {
		panic("template: dashboard: " + err.Error())
	}
	body := strings.Replace(string(b), `"value":"`+reservedPlaceholder+`"`, `"value":${ReservedConcurrency}`, 1)
	if strings.Contains(body, reservedPlaceholder) {
		panic("template: dashboard: the reservation placeholder was not replaced")
	}
	return body
}

func addMonitoring(t *cloudformation.Template, o options) {
	t.Resources[resDashboard] = &cloudwatch.Dashboard{
		// Dashboard names are account-wide, stack names per Region.
		DashboardName: cloudformation.String(sub("streamgate-${AWS::StackName}-${AWS::Region}")),
		DashboardBody: sub(dashboardBody(o)),
	}
	t.Resources[resAlarmTopic] = &sns.Topic{
		DisplayName:                cloudformation.String("streamgate alarms"),
		Subscription:               []sns.Topic_Subscription{{Endpoint: ref("AlarmEmail"), Protocol: "email"}},
		AWSCloudFormationCondition: condAlarmEmail,
	}
	actions := ifThen(condAlarmEmail, []any{ref(resAlarmTopic)}, noValue())
	alarm := func(a *cloudwatch.Alarm) *overlay {
		a.TreatMissingData = cloudformation.String("notBreaching")
		return newOverlay(a).set("AlarmActions", actions).set("OKActions", actions)
	}
	stat := func(id, namespace, name, statistic string, period int, dims map[string]string) cloudwatch.Alarm_MetricDataQuery {
		var d []cloudwatch.Alarm_Dimension
		for _, k := range sortedKeys(dims) {
			d = append(d, cloudwatch.Alarm_Dimension{Name: k, Value: dims[k]})
		}
		return cloudwatch.Alarm_MetricDataQuery{
			Id:         id,
			ReturnData: cloudformation.Bool(false),
			MetricStat: &cloudwatch.Alarm_MetricStat{
				Metric: &cloudwatch.Alarm_Metric{Namespace: cloudformation.String(namespace), MetricName: cloudformation.String(name), Dimensions: d},
				Period: period,
				Stat:   statistic,
			},
		}
	}
	expression := func(id, expr, label string) cloudwatch.Alarm_MetricDataQuery {
		return cloudwatch.Alarm_MetricDataQuery{Id: id, Expression: cloudformation.String(expr), Label: cloudformation.String(label), ReturnData: cloudformation.Bool(true)}
	}
	apiDims := map[string]string{"ApiName": ref("AWS::StackName"), "Stage": ref(resStage)}
	fnDims := map[string]string{"FunctionName": ref(resFunction)}

	t.Resources[resAlarm5xx] = alarm(&cloudwatch.Alarm{
		AlarmDescription:   cloudformation.String(sub("streamgate ${AWS::StackName}: more than Alarm5xxRatePercent of requests got a 5xx from API Gateway for 10 minutes")),
		ComparisonOperator: "GreaterThanThreshold",
		EvaluationPeriods:  2,
		Metrics: []cloudwatch.Alarm_MetricDataQuery{
			stat("errors", "AWS/ApiGateway", "5XXError", "Average", 300, apiDims),
			expression("rate", "errors * 100", "5xx rate (%)"),
		},
	}).set("Threshold", ref("Alarm5xxRatePercent"))

	t.Resources[resAlarmThrottles] = alarm(&cloudwatch.Alarm{
		AlarmDescription:   cloudformation.String(sub("streamgate ${AWS::StackName}: Lambda refused invocations of the gateway (concurrency used up); callers got 5xx")),
		ComparisonOperator: "GreaterThanOrEqualToThreshold",
		EvaluationPeriods:  1,
		Threshold:          cloudformation.Float64(1),
		Metrics: []cloudwatch.Alarm_MetricDataQuery{
			stat("throttles", "AWS/Lambda", "Throttles", "Sum", 300, fnDims),
			expression("total", "throttles", "throttled invocations"),
		},
	})

	ttft := []cloudwatch.Alarm_MetricDataQuery{}
	var ids []string
	for i, route := range streamingRoutes() {
		id := fmt.Sprintf("ttft%d", i)
		ids = append(ids, id)
		ttft = append(ttft, stat(id, emfNamespace, "ttftMs", "p99", 300, map[string]string{"route": route}))
	}
	ttft = append(ttft, expression("worst", "MAX(["+strings.Join(ids, ",")+"])", "time to first token p99 (ms), worst streaming route"))
	t.Resources[resAlarmTTFT] = alarm(&cloudwatch.Alarm{
		AlarmDescription: cloudformation.String(sub("streamgate ${AWS::StackName}: the 99th percentile time to first token of " +
			strings.Join(streamingRoutes(), " or ") + " stayed above AlarmTtftP99Ms")),
		ComparisonOperator: "GreaterThanThreshold",
		EvaluationPeriods:  3,
		DatapointsToAlarm:  cloudformation.Int(2),
		Metrics:            ttft,
	}).set("Threshold", ref("AlarmTtftP99Ms"))

	concurrency := alarm(&cloudwatch.Alarm{
		AlarmDescription:   cloudformation.String(sub("streamgate ${AWS::StackName}: concurrent executions above 80% of ReservedConcurrency; new streams will soon be refused")),
		ComparisonOperator: "GreaterThanOrEqualToThreshold",
		EvaluationPeriods:  2,
		Threshold:          cloudformation.Float64(80),
		Metrics: []cloudwatch.Alarm_MetricDataQuery{
			stat("concurrent", "AWS/Lambda", "ConcurrentExecutions", "Maximum", 60, fnDims),
			expression("used", sub("concurrent * 100 / ${ReservedConcurrency}"), "share of the reservation in use (%)"),
		},
	})
	concurrency.resource.(*cloudwatch.Alarm).AWSCloudFormationCondition = condReserved
	t.Resources[resAlarmConcurrency] = concurrency
}
