package sagequeue_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/sagequeue/sagequeue/infra/sagequeue"
	"github.com/sagequeue/sagequeue/internal/cloud"
	"github.com/sagequeue/sagequeue/internal/setup"
	"github.com/sagequeue/sagequeue/internal/store/dynamo"
)

// assets holds a bootstrap per function. The template does not depend on
// what a bootstrap contains (only on its asset hash), so the tests use
// stand-ins rather than cross-compiling four functions for arm64: they run
// without `make build-lambdas`, and in seconds.
var assets string

func TestMain(m *testing.M) {
	// Node 20 is past its end of life for jsii, which otherwise prints a
	// banner on every run. The jsii client takes its environment when the
	// packages' init functions register their types, before TestMain:
	// closing the (not yet started) client makes the first call start a
	// new one with this environment.
	if os.Getenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION") == "" {
		os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
		jsii.Close()
	}
	dir, err := os.MkdirTemp("", "sagequeue-assets-")
	if err != nil {
		panic(err)
	}
	for _, fn := range cloud.Functions {
		os.MkdirAll(filepath.Join(dir, string(fn)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, string(fn), "bootstrap"), []byte("stand-in for "+string(fn)), 0o755); err != nil {
			panic(err)
		}
	}
	assets = dir
	code := m.Run()
	jsii.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fullConfig uses every setting: two execution roles, a training VPC and
// key, a table key, an alarm topic, training plans (one split between two
// environments, one whole), a fair-share policy.
const fullConfig = `
deployment:
  stackName: sq-test
  namePrefix: sq
  executionRoleArns:
    - arn:aws:iam::111122223333:role/TrainA
    - arn:aws:iam::111122223333:role/TrainB
  trainingVpc:
    subnetIds: [subnet-0a, subnet-0b]
    securityGroupIds: [sg-0c]
  trainingKmsKeyArn: arn:aws:kms:eu-west-1:111122223333:key/train-key
  tableKmsKeyArn: arn:aws:kms:eu-west-1:111122223333:key/table-key
  logRetentionDays: 30
  jobRetention: 30d
  alarmTopicArn: arn:aws:sns:eu-west-1:111122223333:alarms
  logLevel: DEBUG
environments:
  - name: research
    maxCapacity: 5
    trainingPlan: &p20 {arn: "arn:aws:sagemaker:eu-west-1:111122223333:training-plan/p20", instanceCount: 20}
  - name: production
    maxCapacity: 15
    trainingPlan: *p20
  - name: other
    trainingPlan: {arn: "arn:aws:sagemaker:us-east-1:111122223333:training-plan/p8", instanceCount: 8}
policies:
  - name: teams
    shares: [{shareIdentifier: a, weightFactor: 1}]
queues:
  - {name: research, priority: 1, environments: [research]}
  - {name: production, priority: 1, environments: [production], policy: teams}
`

// synthesized is one synthesized stack and what the tests read of it.
type synthesized struct {
	stack    *sagequeue.Stack
	template assertions.Template
	json     map[string]any
	outdir   string
	// names maps logical ids to readable names (Table, Bus, ScheduleLogs,
	// ...), for render.
	names map[string]string
}

// synth builds a stack from a configuration, with the AwsSolutions checks,
// and synthesizes it.
func synth(t *testing.T, cfg *sagequeue.Config) *synthesized {
	t.Helper()
	return synthIn(t, cfg, nil)
}

// synthIn is synth in an environment (nil: environment-agnostic).
func synthIn(t *testing.T, cfg *sagequeue.Config, env *awscdk.Environment) *synthesized {
	t.Helper()
	outdir, err := os.MkdirTemp(assets, "cdk.out-")
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir)})
	st, err := sagequeue.NewStack(app, &awscdk.StackProps{Env: env}, &sagequeue.Props{Config: cfg, AssetDir: assets})
	if err != nil {
		t.Fatal(err)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	s := &synthesized{stack: st, outdir: outdir, names: map[string]string{}}
	s.template = assertions.Template_FromStack(st.Stack, nil)
	s.json = *s.template.ToJSON()
	sq := st.Sagequeue
	name := func(c constructs.IConstruct, n string) {
		s.names[*st.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))] = n
	}
	name(sq.Table, "Table")
	name(sq.Bus, "Bus")
	name(sq.EventsDeadLetters, "EventsDeadLetters")
	name(sq.ScheduleRequests, "ScheduleRequests")
	name(sq.ScheduleDeadLetters, "ScheduleDeadLetters")
	for fn, f := range sq.Functions {
		id := strings.ToUpper(string(fn[:1])) + string(fn[1:])
		name(f, id)
		name(sq.LogGroups[fn], id+"Logs")
		name(sq.Roles[fn], id+"Role")
		if q, ok := sq.AsyncDeadLetters[fn]; ok {
			name(q, id+"DeadLetters")
		}
	}
	return s
}

var (
	fullOnce sync.Once
	full     *synthesized
	fullErr  string
)

// fullStack is the stack of fullConfig, synthesized once for the tests
// that read it.
func fullStack(t *testing.T) *synthesized {
	t.Helper()
	fullOnce.Do(func() {
		cfg, err := sagequeue.ParseConfig([]byte(fullConfig))
		if err != nil {
			fullErr = err.Error()
			return
		}
		full = synth(t, cfg)
	})
	if full == nil {
		t.Fatalf("the full configuration did not synthesize: %s", fullErr)
	}
	return full
}

// resources returns the template's resources of a type, by logical id.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		if r := r.(map[string]any); r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// resource returns the one resource of a construct.
func (s *synthesized) resource(t *testing.T, c constructs.IConstruct) map[string]any {
	t.Helper()
	id := *s.stack.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
	r, ok := s.json["Resources"].(map[string]any)[id].(map[string]any)
	if !ok {
		t.Fatalf("no resource %s", id)
	}
	return r
}

func props(r map[string]any) map[string]any { return r["Properties"].(map[string]any) }

// render writes CloudFormation's intrinsic functions as text: {"Ref": X} as
// ${X}, {"Fn::GetAtt": [X, A]} as ${X.A}, {"Fn::Join": ["", [...]]} as the
// concatenation, with logical ids replaced by the construct's name.
func (s *synthesized) render(v any) any {
	name := func(id string) string {
		if n, ok := s.names[id]; ok {
			return n
		}
		return id
	}
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			return "${" + name(ref) + "}"
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(x) == 1 {
			return "${" + name(ga[0].(string)) + "." + ga[1].(string) + "}"
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(x) == 1 {
			var b strings.Builder
			for _, p := range j[1].([]any) {
				b.WriteString(fmt.Sprint(s.render(p)))
			}
			return b.String()
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = s.render(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = s.render(e)
		}
		return out
	}
	return v
}

// strs is a value that is a string or a list of strings, as a sorted list.
func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		sort.Strings(out)
		return out
	}
	return nil
}

func has(t *testing.T, tmpl assertions.Template, typ string, p map[string]any) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", typ, r)
		}
	}()
	tmpl.HasResourceProperties(jsii.String(typ), p)
}

func TestTable(t *testing.T) {
	s := fullStack(t)
	r := s.resource(t, s.stack.Sagequeue.Table)
	if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("the table is not retained: %v %v", r["DeletionPolicy"], r["UpdateReplacePolicy"])
	}
	p := props(r)
	def := dynamo.TableDefinition("")
	// The keys, attributes and indexes are dynamo.TableDefinition's.
	var attrs []any
	for _, a := range def.AttributeDefinitions {
		attrs = append(attrs, map[string]any{"AttributeName": *a.AttributeName, "AttributeType": string(a.AttributeType)})
	}
	sortBy := func(list []any, key string) []any {
		list = slices.Clone(list)
		sort.Slice(list, func(i, j int) bool {
			return fmt.Sprint(list[i].(map[string]any)[key]) < fmt.Sprint(list[j].(map[string]any)[key])
		})
		return list
	}
	if got := sortBy(p["AttributeDefinitions"].([]any), "AttributeName"); !reflect.DeepEqual(got, sortBy(attrs, "AttributeName")) {
		t.Errorf("attributes %v, want %v", got, attrs)
	}
	keys := func(ks any) string { b, _ := json.Marshal(ks); return string(b) }
	wantKeys := func(elems any) string {
		var out []any
		b, _ := json.Marshal(elems)
		json.Unmarshal(b, &out)
		return keys(out)
	}
	if keys(p["KeySchema"]) != wantKeys(def.KeySchema) {
		t.Errorf("key schema %s, want %s", keys(p["KeySchema"]), wantKeys(def.KeySchema))
	}
	gsis := map[string]any{}
	for _, g := range p["GlobalSecondaryIndexes"].([]any) {
		gsis[g.(map[string]any)["IndexName"].(string)] = g
	}
	if len(gsis) != len(def.GlobalSecondaryIndexes) {
		t.Errorf("%d indexes, want %d", len(gsis), len(def.GlobalSecondaryIndexes))
	}
	for _, want := range def.GlobalSecondaryIndexes {
		g, ok := gsis[*want.IndexName].(map[string]any)
		if !ok {
			t.Errorf("no index %s", *want.IndexName)
			continue
		}
		if keys(g["KeySchema"]) != wantKeys(want.KeySchema) {
			t.Errorf("index %s: keys %s, want %s", *want.IndexName, keys(g["KeySchema"]), wantKeys(want.KeySchema))
		}
		proj := g["Projection"].(map[string]any)
		if proj["ProjectionType"] != string(want.Projection.ProjectionType) || !reflect.DeepEqual(strs(proj["NonKeyAttributes"]), sorted(want.Projection.NonKeyAttributes)) {
			t.Errorf("index %s: projection %v, want %s %v", *want.IndexName, proj, want.Projection.ProjectionType, want.Projection.NonKeyAttributes)
		}
	}
	checks := map[string]any{
		"BillingMode":                      "PAY_PER_REQUEST",
		"DeletionProtectionEnabled":        true,
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		"TimeToLiveSpecification":          map[string]any{"AttributeName": dynamo.AttrExpiresAt, "Enabled": true},
		// fullConfig names a customer-managed key.
		"SSESpecification": map[string]any{"SSEEnabled": true, "SSEType": "KMS", "KMSMasterKeyId": "arn:aws:kms:eu-west-1:111122223333:key/table-key"},
	}
	for k, want := range checks {
		if !reflect.DeepEqual(p[k], want) {
			t.Errorf("table %s = %v, want %v", k, p[k], want)
		}
	}
	if p["TableName"] != nil {
		t.Errorf("the table has a fixed name %v: two stacks in one account would collide", p["TableName"])
	}
}

func sorted(s []string) []string { s = slices.Clone(s); sort.Strings(s); return s }

func TestAPI(t *testing.T) {
	s := fullStack(t)
	routes := map[string]string{}
	for _, r := range s.resources("AWS::ApiGatewayV2::Route") {
		p := props(r)
		routes[p["RouteKey"].(string)] = fmt.Sprint(p["AuthorizationType"])
	}
	want := map[string]string{"POST /v1/{proxy+}": "AWS_IAM", "GET /": "AWS_IAM", "GET /{proxy+}": "AWS_IAM"}
	if !reflect.DeepEqual(routes, want) {
		t.Errorf("routes and their authorization %v, want %v", routes, want)
	}
	for id, r := range s.resources("AWS::ApiGatewayV2::Integration") {
		p := s.render(props(r)).(map[string]any)
		if p["IntegrationType"] != "AWS_PROXY" || p["PayloadFormatVersion"] != "2.0" || p["IntegrationUri"] != "${Submit.Arn}" {
			t.Errorf("integration %s: %v", id, p)
		}
	}
	stages := s.resources("AWS::ApiGatewayV2::Stage")
	if len(stages) != 1 {
		t.Fatalf("%d stages", len(stages))
	}
	for _, r := range stages {
		p := props(r)
		if p["StageName"] != "$default" || p["AutoDeploy"] != true {
			t.Errorf("stage %v", p)
		}
		logs, _ := p["AccessLogSettings"].(map[string]any)
		dest := fmt.Sprint(s.render(logs["DestinationArn"]))
		if !strings.HasPrefix(dest, "${SagequeueApiAccessLogs") || !strings.HasSuffix(dest, ".Arn}") {
			t.Errorf("access logs go to %s", dest)
		}
		var format map[string]string
		if err := json.Unmarshal([]byte(fmt.Sprint(logs["Format"])), &format); err != nil || format["requestId"] != "$context.requestId" ||
			format["userArn"] != "$context.identity.userArn" || format["status"] != "$context.status" {
			t.Errorf("access log format %v (%v)", logs["Format"], err)
		}
	}
	// Every permission to invoke a function is limited to its source.
	for id, r := range s.resources("AWS::Lambda::Permission") {
		p := props(r)
		if p["SourceArn"] == nil || p["Action"] != "lambda:InvokeFunction" {
			t.Errorf("permission %s: %v", id, p)
		}
	}
}

func TestFunctions(t *testing.T) {
	s := fullStack(t)
	sq := s.stack.Sagequeue
	// Exactly the variables of docs/configuration.md, per function.
	common := map[string]any{
		"SAGEQUEUE_TABLE": "${Table}", "SAGEQUEUE_EVENT_BUS": "${Bus}", "SAGEQUEUE_NAME_PREFIX": "sq",
		"SAGEQUEUE_JOB_RETENTION": "30d", "SAGEQUEUE_LOG_LEVEL": "DEBUG",
	}
	with := func(more map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range common {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	roles := "arn:aws:iam::111122223333:role/TrainA,arn:aws:iam::111122223333:role/TrainB"
	wantEnv := map[cloud.Function]map[string]any{
		cloud.FunctionSubmit: with(map[string]any{
			"SAGEQUEUE_ACCOUNT_ID": "${AWS::AccountId}", "SAGEQUEUE_LOG_GROUP": "/aws/sagemaker/TrainingJobs", "SAGEQUEUE_EXECUTION_ROLE_ARNS": roles,
		}),
		cloud.FunctionSchedule: with(map[string]any{
			"SAGEQUEUE_EXECUTION_ROLE_ARNS": roles, "SAGEQUEUE_TRAINING_SUBNETS": "subnet-0a,subnet-0b",
			"SAGEQUEUE_TRAINING_SECURITY_GROUPS": "sg-0c", "SAGEQUEUE_TRAINING_KMS_KEY": "arn:aws:kms:eu-west-1:111122223333:key/train-key",
		}),
		cloud.FunctionStateChange: with(nil),
		cloud.FunctionConfigure:   with(map[string]any{"SAGEQUEUE_ACCOUNT_ID": "${AWS::AccountId}"}),
	}
	wantTimeout := map[cloud.Function]float64{cloud.FunctionSubmit: 29, cloud.FunctionSchedule: 50, cloud.FunctionStateChange: 30, cloud.FunctionConfigure: 300}
	if n := len(s.resources("AWS::Lambda::Function")); n != 4 {
		t.Errorf("%d functions, want 4", n)
	}
	for _, fn := range cloud.Functions {
		name := s.names[*s.stack.GetLogicalId(sq.Functions[fn].Node().DefaultChild().(awscdk.CfnElement))]
		p := s.render(props(s.resource(t, sq.Functions[fn]))).(map[string]any)
		if p["Runtime"] != "provided.al2023" || !reflect.DeepEqual(p["Architectures"], []any{"arm64"}) || p["Handler"] != "bootstrap" {
			t.Errorf("%s: runtime %v %v %v", fn, p["Runtime"], p["Architectures"], p["Handler"])
		}
		if got := p["Environment"].(map[string]any)["Variables"]; !reflect.DeepEqual(got, wantEnv[fn]) {
			t.Errorf("%s: environment\n got %v\nwant %v", fn, got, wantEnv[fn])
		}
		if p["Timeout"] != wantTimeout[fn] {
			t.Errorf("%s: timeout %v, want %v", fn, p["Timeout"], wantTimeout[fn])
		}
		if got := p["LoggingConfig"]; !reflect.DeepEqual(got, map[string]any{"LogGroup": "${" + name + "Logs}"}) {
			t.Errorf("%s: logging %v", fn, got)
		}
		if p["Role"] != "${"+name+"Role.Arn}" {
			t.Errorf("%s: role %v", fn, p["Role"])
		}
		// No reserved concurrency: it needs 100 units of unreserved account
		// concurrency that new and low-quota accounts lack.
		if rc, ok := p["ReservedConcurrentExecutions"]; ok {
			t.Errorf("%s: reserved concurrency %v", fn, rc)
		}
		dlq, async := sq.AsyncDeadLetters[fn]
		if got := p["DeadLetterConfig"]; async != (got != nil) || (async && !reflect.DeepEqual(got, map[string]any{"TargetArn": "${" + name + "DeadLetters.Arn}"})) {
			t.Errorf("%s: dead-letter config %v", fn, got)
		}
		_ = dlq
		lg := props(s.resource(t, sq.LogGroups[fn]))
		if lg["RetentionInDays"] != 30.0 {
			t.Errorf("%s: log retention %v", fn, lg["RetentionInDays"])
		}
	}
	// Asynchronous invocations: bounded retries and age, then the queue.
	invoke := map[string]map[string]any{}
	for _, r := range s.resources("AWS::Lambda::EventInvokeConfig") {
		p := s.render(props(r)).(map[string]any)
		invoke[p["FunctionName"].(string)] = p
	}
	if p := invoke["${Statechange}"]; p == nil || p["MaximumRetryAttempts"] != 2.0 || p["MaximumEventAgeInSeconds"] != 21600.0 {
		t.Errorf("statechange: event invoke config %v", p)
	}
	if len(invoke) != 1 {
		t.Errorf("event invoke configs %v: schedule is no longer invoked asynchronously", invoke)
	}
	for _, r := range s.resources("AWS::Logs::LogGroup") {
		if props(r)["RetentionInDays"] != 30.0 {
			t.Errorf("a log group without the retention: %v", props(r))
		}
	}
}

// target is a rule's target, rendered.
type target struct{ Arn, DLQ string }

func rulesByName(s *synthesized) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.resources("AWS::Events::Rule") {
		for _, n := range []string{"TrainingJobStateChange", "ScheduleRequested", "Tick"} {
			if strings.HasPrefix(id, "Sagequeue"+n) {
				out[n] = s.render(props(r)).(map[string]any)
			}
		}
	}
	return out
}

func targets(rule map[string]any) (out []target, retry []any) {
	for _, tg := range rule["Targets"].([]any) {
		tg := tg.(map[string]any)
		out = append(out, target{Arn: fmt.Sprint(tg["Arn"]), DLQ: fmt.Sprint(tg["DeadLetterConfig"].(map[string]any)["Arn"])})
		retry = append(retry, tg["RetryPolicy"])
	}
	return out, retry
}

func TestRules(t *testing.T) {
	s := fullStack(t)
	rules := rulesByName(s)
	if len(rules) != 3 || len(s.resources("AWS::Events::Rule")) != 3 {
		t.Fatalf("rules %v", rules)
	}
	sm := rules["TrainingJobStateChange"]
	wantPattern := map[string]any{
		"source": []any{"aws.sagemaker"}, "detail-type": []any{"SageMaker Training Job State Change"},
		"detail": map[string]any{"TrainingJobName": []any{map[string]any{"prefix": "sq-"}}},
	}
	if !reflect.DeepEqual(sm["EventPattern"], wantPattern) || sm["EventBusName"] != nil {
		t.Errorf("SageMaker rule: pattern %v on bus %v, want %v on the default bus", sm["EventPattern"], sm["EventBusName"], wantPattern)
	}
	// Statechange only: it asks for a pass when a job gave capacity back.
	tg, retry := targets(sm)
	if !reflect.DeepEqual(tg, []target{{"${Statechange.Arn}", "${EventsDeadLetters.Arn}"}}) {
		t.Errorf("SageMaker rule targets %v", tg)
	}
	for _, r := range retry {
		if !reflect.DeepEqual(r, map[string]any{"MaximumEventAgeInSeconds": 7200.0, "MaximumRetryAttempts": 8.0}) {
			t.Errorf("SageMaker rule retry policy %v", r)
		}
	}

	req := rules["ScheduleRequested"]
	if !reflect.DeepEqual(req["EventPattern"], map[string]any{"source": []any{"sagequeue"}, "detail-type": []any{"Schedule Requested"}}) || req["EventBusName"] != "${Bus}" {
		t.Errorf("Schedule Requested rule: %v on %v", req["EventPattern"], req["EventBusName"])
	}
	if tg, retry := targets(req); !reflect.DeepEqual(tg, []target{{"${ScheduleRequests.Arn}", "${EventsDeadLetters.Arn}"}}) ||
		!reflect.DeepEqual(retry[0], map[string]any{"MaximumEventAgeInSeconds": 300.0, "MaximumRetryAttempts": 3.0}) {
		t.Errorf("Schedule Requested targets %v %v", tg, retry)
	}

	tick := rules["Tick"]
	if tick["ScheduleExpression"] != "rate(1 minute)" || tick["EventBusName"] != nil {
		t.Errorf("tick %v", tick)
	}
	if tg, _ := targets(tick); !reflect.DeepEqual(tg, []target{{"${ScheduleRequests.Arn}", "${EventsDeadLetters.Arn}"}}) {
		t.Errorf("tick targets %v", tg)
	}
	if n := len(s.resources("AWS::Events::EventBus")); n != 1 {
		t.Errorf("%d buses", n)
	}
}

func TestDeadLetterQueuesAndAlarms(t *testing.T) {
	s := fullStack(t)
	queues := s.resources("AWS::SQS::Queue")
	if len(queues) != 4 {
		t.Errorf("%d queues, want 4", len(queues))
	}
	for id, q := range queues {
		p := s.render(props(q)).(map[string]any)
		if p["SqsManagedSseEnabled"] != true {
			t.Errorf("queue %s: %v", id, p)
		}
		if strings.HasPrefix(id, "SagequeueScheduleRequests") {
			// Six times the function's timeout and the batching window; a
			// day's retention; five failed passes to the dead letters.
			if p["VisibilityTimeout"] != 301.0 || p["MessageRetentionPeriod"] != 86400.0 ||
				!reflect.DeepEqual(p["RedrivePolicy"], map[string]any{"deadLetterTargetArn": "${ScheduleDeadLetters.Arn}", "maxReceiveCount": 5.0}) {
				t.Errorf("schedule queue: %v", p)
			}
		} else if p["MessageRetentionPeriod"] != 1209600.0 {
			t.Errorf("dead-letter queue %s: %v", id, p)
		}
	}
	// Every queue refuses requests without TLS; EventBridge may send to the
	// schedule queue, from the rules that target it only.
	ssl := map[string]bool{}
	senders := map[string]bool{}
	for _, r := range s.resources("AWS::SQS::QueuePolicy") {
		p := s.render(props(r)).(map[string]any)
		for _, st := range p["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Effect"] == "Deny" && reflect.DeepEqual(st["Condition"], map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}) {
				ssl[fmt.Sprint(st["Resource"])] = true
			}
			if st["Effect"] == "Allow" && reflect.DeepEqual(st["Principal"], map[string]any{"Service": "events.amazonaws.com"}) && st["Resource"] == "${ScheduleRequests.Arn}" {
				senders[fmt.Sprint(st["Condition"].(map[string]any)["ArnEquals"].(map[string]any)["aws:SourceArn"])] = true
			}
		}
	}
	for _, q := range []string{"EventsDeadLetters", "StatechangeDeadLetters", "ScheduleRequests", "ScheduleDeadLetters"} {
		if !ssl["${"+q+".Arn}"] {
			t.Errorf("queue %s does not enforce TLS: %v", q, ssl)
		}
	}
	if len(senders) != 2 {
		t.Errorf("rules allowed to send to the schedule queue: %v, want the two that target it", senders)
	}
	// The event source mapping: batches of a second, two invocations at most.
	maps := s.resources("AWS::Lambda::EventSourceMapping")
	if len(maps) != 1 {
		t.Fatalf("%d event source mappings", len(maps))
	}
	for _, m := range maps {
		p := s.render(props(m)).(map[string]any)
		want := map[string]any{
			"FunctionName": "${Schedule}", "EventSourceArn": "${ScheduleRequests.Arn}", "BatchSize": 100.0,
			"MaximumBatchingWindowInSeconds": 1.0, "ScalingConfig": map[string]any{"MaximumConcurrency": 2.0},
		}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("event source mapping\n got %v\nwant %v", p, want)
		}
	}

	type alarm struct {
		metric, subject, stat string
		threshold, periods    float64
	}
	var got []alarm
	for id, r := range s.resources("AWS::CloudWatch::Alarm") {
		p := s.render(props(r)).(map[string]any)
		if !reflect.DeepEqual(p["AlarmActions"], []any{"arn:aws:sns:eu-west-1:111122223333:alarms"}) ||
			p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || p["TreatMissingData"] != "notBreaching" || p["Period"] != 300.0 ||
			p["EvaluationPeriods"] != p["DatapointsToAlarm"] {
			t.Errorf("alarm %s: %v", id, p)
		}
		dims := p["Dimensions"].([]any)
		got = append(got, alarm{fmt.Sprint(p["MetricName"]), fmt.Sprint(dims[0].(map[string]any)["Value"]), fmt.Sprint(p["Statistic"]), p["Threshold"].(float64), p["EvaluationPeriods"].(float64)})
	}
	var want []alarm
	for _, fn := range []string{"Submit", "Schedule", "Statechange", "Configure"} {
		errors := 1.0
		if fn == "Schedule" || fn == "Statechange" {
			errors = 3 // retried: only sustained failure
		}
		want = append(want, alarm{"Errors", "${" + fn + "}", "Sum", 1, errors}, alarm{"Throttles", "${" + fn + "}", "Sum", 1, 3})
	}
	for _, q := range []string{"EventsDeadLetters", "StatechangeDeadLetters", "ScheduleDeadLetters"} {
		want = append(want, alarm{"ApproximateNumberOfMessagesVisible", "${" + q + ".QueueName}", "Maximum", 1, 1})
	}
	want = append(want, alarm{"ApproximateAgeOfOldestMessage", "${ScheduleRequests.QueueName}", "Maximum", 600, 2})
	key := func(a alarm) string { return a.metric + " " + a.subject }
	sort.Slice(got, func(i, j int) bool { return key(got[i]) < key(got[j]) })
	sort.Slice(want, func(i, j int) bool { return key(want[i]) < key(want[j]) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("alarms\n got %v\nwant %v", got, want)
	}
}

// statement is an IAM statement, rendered.
type statement struct {
	Sid       string
	Actions   []string
	Resources []string
	Condition string
}

func (s *synthesized) statements(t *testing.T, fn cloud.Function) []statement {
	t.Helper()
	role := s.resource(t, s.stack.Sagequeue.Roles[fn])
	p := s.render(props(role)).(map[string]any)
	policies := p["Policies"].([]any)
	if len(policies) != 1 {
		t.Fatalf("%s: %d policies", fn, len(policies))
	}
	var out []statement
	for _, st := range policies[0].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
		st := st.(map[string]any)
		if st["Effect"] != "Allow" {
			t.Errorf("%s: %v", fn, st)
		}
		cond := ""
		if c, ok := st["Condition"]; ok {
			b, _ := json.Marshal(c)
			cond = string(b)
		}
		out = append(out, statement{fmt.Sprint(st["Sid"]), strs(st["Action"]), strs(st["Resource"]), cond})
	}
	return out
}

// TestLeastPrivilege checks each role's policy, statement by statement.
func TestLeastPrivilege(t *testing.T) {
	s := fullStack(t)
	const (
		jobs  = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:training-job/sq-*"
		table = "${Table.Arn}"
		group = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/sagemaker/TrainingJobs"
	)
	ownLogs := func(name string) statement {
		return statement{"OwnLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{"${" + name + "Logs.Arn}"}, ""}
	}
	tableKey := statement{"TableKey", []string{"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"},
		[]string{"arn:aws:kms:eu-west-1:111122223333:key/table-key"}, `{"StringEquals":{"kms:ViaService":"dynamodb.${AWS::Region}.amazonaws.com"}}`}
	events := statement{"PublishEvents", []string{"events:PutEvents"}, []string{"${Bus.Arn}"}, ""}
	index := func(names ...string) statement {
		var arns []string
		for _, n := range names {
			arns = append(arns, table+"/index/"+n)
		}
		sort.Strings(arns)
		return statement{"TableIndexes", []string{"dynamodb:Query"}, arns, ""}
	}
	ddb := func(actions ...string) statement {
		return statement{"Table", sorted(append([]string{"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query"}, actions...)), []string{table}, ""}
	}
	// Exactly the plans of the configuration, nothing of other plans.
	describePlans := statement{"DescribeTrainingPlans", []string{"sagemaker:DescribeTrainingPlan"}, []string{
		"arn:aws:sagemaker:eu-west-1:111122223333:training-plan/p20",
		"arn:aws:sagemaker:us-east-1:111122223333:training-plan/p8",
	}, ""}
	want := map[cloud.Function][]statement{
		cloud.FunctionSubmit: {
			ownLogs("Submit"),
			ddb("dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
			index("byQueue", "byQueueStatus", "byStatus", "heads"),
			tableKey, events,
			// getservicejoblogs only; no logs:FilterLogEvents, which it does not call.
			{"TrainingJobLogs", []string{"logs:DescribeLogStreams", "logs:GetLogEvents"}, []string{group, group + ":*"}, ""},
			describePlans,
		},
		cloud.FunctionSchedule: {
			ownLogs("Schedule"),
			ddb("dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
			index("heads"),
			tableKey, events,
			// The event source mapping reads the schedule queue, and only it.
			{"ScheduleRequests", []string{"sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"}, []string{"${ScheduleRequests.Arn}"}, ""},
			{"TrainingJobs", []string{"sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"}, []string{jobs}, ""},
			{"TagTrainingJobsAtCreation", []string{"sagemaker:AddTags"}, []string{jobs}, `{"StringEquals":{"sagemaker:TaggingAction":"CreateTrainingJob"}}`},
			{"PassExecutionRoles", []string{"iam:PassRole"}, []string{"arn:aws:iam::111122223333:role/TrainA", "arn:aws:iam::111122223333:role/TrainB"},
				`{"StringEquals":{"iam:PassedToService":"sagemaker.amazonaws.com"}}`},
			{"TrainingPlans", []string{"sagemaker:CreateTrainingJob"}, []string{
				"arn:aws:sagemaker:eu-west-1:111122223333:reserved-capacity/*",
				"arn:aws:sagemaker:eu-west-1:111122223333:training-plan/p20",
				"arn:aws:sagemaker:us-east-1:111122223333:reserved-capacity/*",
				"arn:aws:sagemaker:us-east-1:111122223333:training-plan/p8",
			}, ""},
			{"TrainingKey", []string{"kms:CreateGrant"}, []string{"arn:aws:kms:eu-west-1:111122223333:key/train-key"}, `{"Bool":{"kms:GrantIsForAWSResource":"true"}}`},
			{"DescribeTrainingKey", []string{"kms:DescribeKey"}, []string{"arn:aws:kms:eu-west-1:111122223333:key/train-key"},
				`{"StringEquals":{"kms:ViaService":"sagemaker.${AWS::Region}.amazonaws.com"}}`},
			describePlans,
		},
		cloud.FunctionStateChange: {
			ownLogs("Statechange"),
			ddb("dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
			tableKey, events,
			{"DeadLetters", []string{"sqs:SendMessage"}, []string{"${StatechangeDeadLetters.Arn}"}, ""},
		},
		cloud.FunctionConfigure: {
			ownLogs("Configure"),
			ddb("dynamodb:PutItem"),
			tableKey, events,
			describePlans,
		},
	}
	for _, fn := range cloud.Functions {
		got := s.statements(t, fn)
		if !reflect.DeepEqual(got, want[fn]) {
			t.Errorf("%s's policy:\n got %s\nwant %s", fn, pretty(got), pretty(want[fn]))
		}
		// Whatever the lists say: no wildcard action, no "*" resource, and
		// wildcards in resources only where a suppression explains them.
		for _, st := range got {
			for _, a := range st.Actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s: wildcard action %s", fn, a)
				}
			}
			for _, r := range st.Resources {
				if r == "*" || strings.Contains(r, "*") && !strings.HasSuffix(r, "training-job/sq-*") &&
					!strings.HasSuffix(r, ":reserved-capacity/*") && r != group+":*" {
					t.Errorf("%s: wildcard resource %s in %s", fn, r, st.Sid)
				}
			}
		}
		role := props(s.resource(t, s.stack.Sagequeue.Roles[fn]))
		if role["ManagedPolicyArns"] != nil {
			t.Errorf("%s: managed policies %v", fn, role["ManagedPolicyArns"])
		}
		if trust, _ := json.Marshal(role["AssumeRolePolicyDocument"]); !strings.Contains(string(trust), `"Service":"lambda.amazonaws.com"`) {
			t.Errorf("%s: trust policy %s", fn, trust)
		}
	}
	// Nothing else grants the functions anything: no policies beside the
	// roles' own (CDK's grants would add AWS::IAM::Policy resources).
	if n := len(s.resources("AWS::IAM::Policy")); n != 0 {
		t.Errorf("%d AWS::IAM::Policy resources", n)
	}
	if n := len(s.resources("AWS::IAM::Role")); n != 4 {
		t.Errorf("%d roles, want 4", n)
	}
	// The lists are cloud.PermissionsOf's, which the cloud package's
	// end-to-end tests check against the calls the functions make.
	for _, fn := range cloud.Functions {
		p := cloud.PermissionsOf(fn)
		for _, st := range s.statements(t, fn) {
			if st.Sid == "Table" && !reflect.DeepEqual(st.Actions, sorted(p.DynamoDB)) {
				t.Errorf("%s: table actions %v, cloud.PermissionsOf %v", fn, st.Actions, p.DynamoDB)
			}
		}
	}
}

func pretty(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// TestConfigurationResource checks what the custom resource gets: the
// sagequeue part of the file, with capacities from the training plans.
func TestConfigurationResource(t *testing.T) {
	s := fullStack(t)
	r := s.resource(t, s.stack.Sagequeue.Configuration)
	if r["Type"] != "Custom::SagequeueConfiguration" {
		t.Errorf("type %v", r["Type"])
	}
	p := s.render(props(r)).(map[string]any)
	if p["ServiceToken"] != "${Configure.Arn}" || p["ServiceTimeout"] != "360" {
		t.Errorf("custom resource %v", p)
	}
	var cfg setup.Config
	if err := json.Unmarshal([]byte(p[cloud.ConfigurationProperty].(string)), &cfg); err != nil {
		t.Fatal(err)
	}
	caps := map[string]int32{}
	for _, e := range cfg.Environments {
		caps[e.Name] = e.Capacity()
		if !strings.Contains(e.PlanArn(), ":training-plan/") {
			t.Errorf("environment %s has no plan: %+v", e.Name, e)
		}
	}
	if !reflect.DeepEqual(caps, map[string]int32{"research": 5, "production": 15, "other": 8}) || len(cfg.Queues) != 2 || len(cfg.Policies) != 1 {
		t.Errorf("configuration %+v (capacities %v)", cfg, caps)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

func TestOutputs(t *testing.T) {
	s := fullStack(t)
	out := s.render(s.json["Outputs"]).(map[string]any)
	want := map[string]string{"ApiUrl": "${SagequeueApi", "TableName": "${Table}", "EventBusName": "${Bus}"}
	for k, prefix := range want {
		o, ok := out[k].(map[string]any)
		if !ok || !strings.HasPrefix(fmt.Sprint(o["Value"]), prefix) {
			t.Errorf("output %s: %v", k, out[k])
		}
	}
	if *s.stack.StackName() != "sq-test" {
		t.Errorf("stack name %s", *s.stack.StackName())
	}
}

// suppression is a finding cdk-nag reports as suppressed: the rule, the
// resource's path and the reason.
type suppression struct{ rule, resource, reason string }

// nagClean checks the AwsSolutions checks: no finding left unsuppressed,
// and every suppression used, with its reason, in the report — and no
// other.
func nagClean(t *testing.T, s *synthesized, want []suppression) {
	t.Helper()
	ann := assertions.Annotations_FromStack(s.stack.Stack)
	any := assertions.Match_StringLikeRegexp(jsii.String(".*"))
	for level, list := range map[string]*[]*cxapi.SynthesisMessage{
		"error": ann.FindError(jsii.String("*"), any), "warning": ann.FindWarning(jsii.String("*"), any),
	} {
		for _, m := range *list {
			t.Errorf("unsuppressed %s at %s: %v", level, *m.Id, m.Entry.Data)
		}
	}
	reports, _ := filepath.Glob(filepath.Join(s.outdir, "AwsSolutions-*"+*s.stack.StackName()+"-NagReport.csv"))
	if len(reports) != 1 {
		t.Fatalf("no cdk-nag report in %s (did the checks run?)", s.outdir)
	}
	f, err := os.Open(reports[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 10 {
		t.Fatalf("cdk-nag report: %d rows, %v", len(rows), err)
	}
	var got []suppression
	for _, r := range rows[1:] { // Rule ID, Resource ID, Compliance, Exception Reason, Rule Level, Rule Info
		switch r[2] {
		case "Suppressed":
			got = append(got, suppression{r[0], r[1], r[3]})
		case "Non-Compliant":
			t.Errorf("non-compliant: %v", r)
		}
	}
	matches := func(g, w suppression) bool {
		return g.rule == w.rule && g.resource == w.resource && strings.Contains(g.reason, w.reason)
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g suppression) bool { return matches(g, w) }) {
			t.Errorf("no suppression %s on %s with %q; suppressed: %v", w.rule, w.resource, w.reason, got)
		}
	}
	for _, g := range got {
		if !slices.ContainsFunc(want, func(w suppression) bool { return matches(g, w) }) {
			t.Errorf("unexpected suppression %+v", g)
		}
	}
}

func TestNag(t *testing.T) {
	s := fullStack(t)
	nagClean(t, s, []suppression{
		{"AwsSolutions-IAM5", "sq-test/Sagequeue/ScheduleRole/Resource", "[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/sq-*] " + sagequeue.ReasonTrainingJobs},
		{"AwsSolutions-IAM5", "sq-test/Sagequeue/ScheduleRole/Resource", "[Resource::arn:aws:sagemaker:eu-west-1:111122223333:reserved-capacity/*] " + sagequeue.ReasonReservedCapacity},
		{"AwsSolutions-IAM5", "sq-test/Sagequeue/ScheduleRole/Resource", "[Resource::arn:aws:sagemaker:us-east-1:111122223333:reserved-capacity/*] " + sagequeue.ReasonReservedCapacity},
		{"AwsSolutions-IAM5", "sq-test/Sagequeue/SubmitRole/Resource", "[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/TrainingJobs:*] " + sagequeue.ReasonTrainingLogs},
		{"AwsSolutions-SQS3", "sq-test/Sagequeue/EventsDeadLetters/Resource", sagequeue.ReasonEventsDeadLetters},
	})
}

// TestExamples synthesizes the documented configurations: the seed's 20
// instances split 5 + 15, the fair-share alternative, and the built-in
// example, each with the AwsSolutions checks clean.
func TestExamples(t *testing.T) {
	load := func(t *testing.T, path string) *sagequeue.Config {
		cfg, err := sagequeue.LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	reservedCapacity := suppression{"AwsSolutions-IAM5", "sagequeue/Sagequeue/ScheduleRole/Resource",
		"[Resource::arn:aws:sagemaker:us-east-1:111122223333:reserved-capacity/*] " + sagequeue.ReasonReservedCapacity}
	common := []suppression{
		{"AwsSolutions-IAM5", "sagequeue/Sagequeue/ScheduleRole/Resource", "training-job/sagequeue-*] " + sagequeue.ReasonTrainingJobs},
		{"AwsSolutions-IAM5", "sagequeue/Sagequeue/SubmitRole/Resource", "TrainingJobs:*] " + sagequeue.ReasonTrainingLogs},
		{"AwsSolutions-SQS3", "sagequeue/Sagequeue/EventsDeadLetters/Resource", sagequeue.ReasonEventsDeadLetters},
	}
	builtIn := func(t *testing.T) *sagequeue.Config {
		cfg, err := sagequeue.ParseConfig(sagequeue.ExampleConfig)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	for _, tc := range []struct {
		name     string
		cfg      func(t *testing.T) *sagequeue.Config
		caps     map[string]int32
		queues   int
		plans    bool
		suppress []suppression
		env      *awscdk.Environment
	}{
		{"cloud.yaml", func(t *testing.T) *sagequeue.Config { return load(t, "../../examples/cloud.yaml") },
			map[string]int32{"research": 5, "production": 15}, 2, true, append([]suppression{reservedCapacity}, common...), nil},
		{"cloud-fairshare.yaml", func(t *testing.T) *sagequeue.Config { return load(t, "../../examples/cloud-fairshare.yaml") },
			map[string]int32{"plan": 0}, 1, true, append([]suppression{reservedCapacity}, common...), nil},
		{"built-in", builtIn, map[string]int32{"default": 4}, 1, false, common, nil},
		// `cdk deploy` synthesizes in the account and region it deploys to
		// (infra/main.go): ARNs then hold literals, and the suppressions
		// still apply.
		{"in an environment", func(t *testing.T) *sagequeue.Config { return load(t, "../../examples/cloud.yaml") },
			map[string]int32{"research": 5, "production": 15}, 2, true, append([]suppression{reservedCapacity}, common...),
			&awscdk.Environment{Account: jsii.String("111122223333"), Region: jsii.String("eu-west-1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg(t)
			caps := map[string]int32{}
			for _, e := range cfg.Environments {
				caps[e.Name] = e.Capacity()
			}
			if !reflect.DeepEqual(caps, tc.caps) || len(cfg.Queues) != tc.queues {
				t.Errorf("capacities %v and %d queues, want %v and %d", caps, len(cfg.Queues), tc.caps, tc.queues)
			}
			s := synthIn(t, cfg, tc.env)
			nagClean(t, s, tc.suppress)
			var sids []string
			for _, st := range s.statements(t, cloud.FunctionSchedule) {
				sids = append(sids, st.Sid)
			}
			if slices.Contains(sids, "TrainingPlans") != tc.plans || slices.Contains(sids, "TrainingKey") || slices.Contains(sids, "TableKey") {
				t.Errorf("schedule's statements %v", sids)
			}
			// No keys configured: the table is encrypted with an AWS-owned
			// key (CloudFormation's SSEEnabled false), and nobody is
			// notified by the alarms.
			if got := props(s.resource(t, s.stack.Sagequeue.Table))["SSESpecification"]; !reflect.DeepEqual(got, map[string]any{"SSEEnabled": false}) {
				t.Errorf("table encryption %v", got)
			}
			for id, a := range s.resources("AWS::CloudWatch::Alarm") {
				if props(a)["AlarmActions"] != nil {
					t.Errorf("alarm %s has actions without a topic", id)
				}
			}
			env := props(s.resource(t, s.stack.Sagequeue.Functions[cloud.FunctionSchedule]))["Environment"].(map[string]any)["Variables"].(map[string]any)
			for _, k := range []string{cloud.EnvTrainingSubnets, cloud.EnvTrainingGroups, cloud.EnvTrainingKMSKey} {
				if env[k] != nil {
					t.Errorf("schedule has %s without a setting", k)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	const role = "deployment: {executionRoleArns: [arn:aws:iam::111122223333:role/R]}\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"no role", "environments: []\n", "at least one execution role is required"},
		{"not a role", "deployment: {executionRoleArns: [arn:aws:iam::1:user/x]}\n", `SAGEQUEUE_EXECUTION_ROLE_ARNS: "arn:aws:iam::1:user/x" is not an IAM role ARN`},
		{"typo", role + "deployment2: {}\n", "deployment2"},
		{"typo in deployment", "deployment: {executionRoleArns: [arn:aws:iam::111122223333:role/R], namePrefx: x}\n", "namePrefx"},
		{"prefix", "deployment: {executionRoleArns: [arn:aws:iam::111122223333:role/R], namePrefix: -bad}\n", "SAGEQUEUE_NAME_PREFIX"},
		{"prefix case", "deployment: {executionRoleArns: [arn:aws:iam::111122223333:role/R], namePrefix: TeamA}\n", `deployment.namePrefix "TeamA" must be lower case`},
		{"retention", "deployment: {executionRoleArns: [arn:aws:iam::111122223333:role/R], jobRetention: soon}\n", "SAGEQUEUE_JOB_RETENTION"},
		{"log retention", "deployment: {executionRoleArns: [arn:aws:iam::111122223333:role/R], logRetentionDays: 10}\n", "logRetentionDays 10 is not a CloudWatch Logs retention period (1, 3, 5, 7, 14, 30"},
		{"vpc", "deployment: {executionRoleArns: [arn:aws:iam::111122223333:role/R], trainingVpc: {subnetIds: [subnet-0a]}}\n", "needs both subnetIds and securityGroupIds"},
		{"key alias", "deployment: {executionRoleArns: [arn:aws:iam::111122223333:role/R], trainingKmsKeyArn: alias/x}\n", "trainingKmsKeyArn \"alias/x\" must be a KMS key ARN"},
		{"topic", "deployment: {executionRoleArns: [arn:aws:iam::111122223333:role/R], alarmTopicArn: x}\n", "alarmTopicArn \"x\" is not an SNS topic ARN"},
		{"plan", role + "environments: [{name: e, trainingPlan: {arn: nope, instanceCount: 2}}]\n", `"nope" is not a SageMaker training plan ARN`},
		{"capacity", role + "environments: [{name: e}]\n", "environment e: maxCapacity is required"},
		{"oversubscribed", role + "environments: [{name: a, maxCapacity: 3, trainingPlan: {arn: \"arn:aws:sagemaker:us-east-1:111122223333:training-plan/p\", instanceCount: 2}}]\n", "has 2 instances, but its environments hold 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sagequeue.ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	cfg, err := sagequeue.ParseConfig([]byte(role))
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Deployment
	if d.StackName != "sagequeue" || d.NamePrefix != "sagequeue" || d.LogRetentionDays != 90 || d.JobRetention != "90d" || d.LogLevel != "INFO" {
		t.Errorf("defaults %+v", d)
	}
}

func TestMissingBootstrap(t *testing.T) {
	cfg, err := sagequeue.ParseConfig(sagequeue.ExampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	_, err = sagequeue.NewStack(app, nil, &sagequeue.Props{Config: cfg, AssetDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "run `make build-lambdas` first") {
		t.Fatalf("got %v", err)
	}
	if _, err := sagequeue.NewStack(app, nil, &sagequeue.Props{}); err == nil {
		t.Fatal("a stack without a configuration")
	}
}
