package main

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dashboard returns the dashboard body with its ${...} filled in, decoded.
func dashboard(t *testing.T, d tmpl) (body string, doc map[string]any) {
	t.Helper()
	body = resourceString(t, d.props(t, resDashboard)["DashboardBody"])
	filled := regexp.MustCompile(`\$\{[^}]+\}`).ReplaceAllStringFunc(body, func(v string) string {
		if v == "${ReservedConcurrency}" {
			return "100"
		}
		return "sample"
	})
	if err := json.Unmarshal([]byte(filled), &doc); err != nil {
		t.Fatalf("dashboard body is not JSON once filled in: %v\n%s", err, filled)
	}
	return body, doc
}

// TestDashboard checks that the dashboard shows what issue 13 lists, from
// the gateway's EMF metrics (namespace streamgate) and API Gateway's and
// Lambda's: requests, 4xx/5xx, throttles, time to first token p50/p99,
// duration, output tokens, cancels, and concurrency against the
// reservation.
func TestDashboard(t *testing.T) {
	d := templateJSON(t)
	body, doc := dashboard(t, d)
	for _, want := range []string{
		`["AWS/ApiGateway","Count","ApiName","${AWS::StackName}","Stage","${StageName}"`,
		`["AWS/ApiGateway","4XXError","ApiName","${AWS::StackName}","Stage","${StageName}"`,
		`["AWS/ApiGateway","5XXError","ApiName","${AWS::StackName}","Stage","${StageName}"`,
		`["AWS/Lambda","Throttles","FunctionName","${Function}"`,
		`["AWS/Lambda","ConcurrentExecutions","FunctionName","${Function}"`,
		`"value":${ReservedConcurrency}`,
		`SEARCH('{streamgate,route} MetricName=\"ttftMs\"', 'p50', 60)`,
		`SEARCH('{streamgate,route} MetricName=\"ttftMs\"', 'p99', 60)`,
		`SEARCH('{streamgate,route} MetricName=\"durationMs\"', 'p99', 60)`,
		`SEARCH('{streamgate,route,model} MetricName=\"outputTokens\"', 'Sum', 300)`,
		`SEARCH('{streamgate,route} MetricName=\"cancels\"', 'Sum', 60)`,
		`SEARCH('{streamgate,route} MetricName=\"clientAborts\"', 'Sum', 60)`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	widgets := doc["widgets"].([]any)
	if len(widgets) < 8 {
		t.Errorf("%d widgets", len(widgets))
	}
	// Widgets do not overlap on the 24-column grid.
	cells := map[[2]int]bool{}
	for _, w := range widgets {
		w := w.(map[string]any)
		x, y, width, height := int(w["x"].(float64)), int(w["y"].(float64)), int(w["width"].(float64)), int(w["height"].(float64))
		if x+width > 24 {
			t.Errorf("widget %v is wider than the grid", w["properties"].(map[string]any)["title"])
		}
		for i := x; i < x+width; i++ {
			for j := y; j < y+height; j++ {
				if cells[[2]int{i, j}] {
					t.Errorf("widgets overlap at %d,%d", i, j)
				}
				cells[[2]int{i, j}] = true
			}
		}
	}
}

// alarmMetrics returns an alarm's metric queries by id.
func alarmMetrics(t *testing.T, d tmpl, id string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, m := range get(t, d.props(t, id), "Metrics").([]any) {
		m := m.(map[string]any)
		out[m["Id"].(string)] = m
	}
	return out
}

func TestAlarms(t *testing.T) {
	d := templateJSON(t)
	topic := d.resource(t, resAlarmTopic)
	if topic["Condition"] != condAlarmEmail {
		t.Errorf("topic condition %v", topic["Condition"])
	}
	if diff := cmp.Diff([]any{map[string]any{"Endpoint": map[string]any{"Ref": "AlarmEmail"}, "Protocol": "email"}}, get(t, topic, "Properties", "Subscription")); diff != "" {
		t.Errorf("subscription (-want +got):\n%s", diff)
	}
	actions := map[string]any{"Fn::If": []any{condAlarmEmail, []any{map[string]any{"Ref": resAlarmTopic}}, map[string]any{"Ref": "AWS::NoValue"}}}
	alarms := d.resourcesOfType("AWS::CloudWatch::Alarm")
	if diff := cmp.Diff([]string{resAlarm5xx, resAlarmConcurrency, resAlarmThrottles, resAlarmTTFT}, alarms); diff != "" {
		t.Errorf("alarms (-want +got):\n%s", diff)
	}
	for _, id := range alarms {
		p := d.props(t, id)
		for _, key := range []string{"AlarmActions", "OKActions"} {
			if diff := cmp.Diff(actions, p[key]); diff != "" {
				t.Errorf("%s %s (-want +got):\n%s", id, key, diff)
			}
		}
		// Exactly one query returns the alarm's series.
		var returned int
		for _, m := range alarmMetrics(t, d, id) {
			if m["ReturnData"] == true {
				returned++
			}
		}
		if returned != 1 {
			t.Errorf("%s: %d queries return data, want 1", id, returned)
		}
	}

	metric := func(m map[string]any) (namespace, name, stat string, dims map[string]any) {
		ms := m["MetricStat"].(map[string]any)
		mm := ms["Metric"].(map[string]any)
		dims = map[string]any{}
		for _, d := range asList(mm["Dimensions"]) {
			d := d.(map[string]any)
			dims[d["Name"].(string)] = d["Value"]
		}
		return mm["Namespace"].(string), mm["MetricName"].(string), ms["Stat"].(string), dims
	}

	// Time to first token p99 of the streaming routes, from the EMF metrics.
	ttft := alarmMetrics(t, d, resAlarmTTFT)
	var routes []string
	for id, m := range ttft {
		if m["MetricStat"] == nil {
			continue
		}
		ns, name, stat, dims := metric(m)
		if ns != "streamgate" || name != "ttftMs" || stat != "p99" {
			t.Errorf("TTFT query %s: %s %s %s", id, ns, name, stat)
		}
		routes = append(routes, dims["route"].(string))
	}
	if diff := cmp.Diff([]string{"POST /stream", "POST /v1/chat/completions", "POST /v1/responses", "POST /v1/messages"}, routes, cmp.Transformer("sort", func(s []string) []string {
		out := append([]string(nil), s...)
		sort.Strings(out)
		return out
	})); diff != "" {
		t.Errorf("TTFT routes (-want +got):\n%s", diff)
	}
	if got, _ := refTo(d.props(t, resAlarmTTFT)["Threshold"]); got != "AlarmTtftP99Ms" {
		t.Errorf("TTFT threshold %v", d.props(t, resAlarmTTFT)["Threshold"])
	}

	// 5xx rate from API Gateway.
	ns, name, stat, dims := metric(alarmMetrics(t, d, resAlarm5xx)["errors"])
	if ns != "AWS/ApiGateway" || name != "5XXError" || stat != "Average" || dims["ApiName"] == nil || dims["Stage"] == nil {
		t.Errorf("5xx alarm metric %s %s %s %v", ns, name, stat, dims)
	}
	if got, _ := refTo(d.props(t, resAlarm5xx)["Threshold"]); got != "Alarm5xxRatePercent" {
		t.Errorf("5xx threshold %v", d.props(t, resAlarm5xx)["Threshold"])
	}

	// Throttles of the gateway function.
	ns, name, _, dims = metric(alarmMetrics(t, d, resAlarmThrottles)["throttles"])
	if ns != "AWS/Lambda" || name != "Throttles" {
		t.Errorf("throttle alarm metric %s %s", ns, name)
	}
	if got, _ := refTo(dims["FunctionName"]); got != resFunction {
		t.Errorf("throttle alarm on %v", dims["FunctionName"])
	}

	// Concurrency near the reservation, only when there is one.
	if got := d.resource(t, resAlarmConcurrency)["Condition"]; got != condReserved {
		t.Errorf("concurrency alarm condition %v", got)
	}
	used := alarmMetrics(t, d, resAlarmConcurrency)["used"]
	if got := resourceString(t, used["Expression"]); got != "concurrent * 100 / ${ReservedConcurrency}" {
		t.Errorf("concurrency expression %q", got)
	}
	ns, name, stat, _ = metric(alarmMetrics(t, d, resAlarmConcurrency)["concurrent"])
	if ns != "AWS/Lambda" || name != "ConcurrentExecutions" || stat != "Maximum" {
		t.Errorf("concurrency metric %s %s %s", ns, name, stat)
	}
}
