package ebtest_test

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/sagequeue/sagequeue/internal/ebtest"
	"github.com/sagequeue/sagequeue/internal/ebus"
	"github.com/sagequeue/sagequeue/internal/events"
)

// TestDeliveryAsAWSDoes publishes through internal/ebus and the real SDK
// client: every event reaches the rule's target at least once, some twice,
// not in the order published, and entries the bus refused once are
// published by ebus's retries.
func TestDeliveryAsAWSDoes(t *testing.T) {
	bus := ebtest.New(t, ebtest.Config{Account: "123456789012", Region: "eu-west-1", BusName: "b", Seed: 7,
		Delivery: ebtest.Delivery{Duplicates: 0.3, MaxDelay: 100 * time.Millisecond, Refuse: 5}})
	var mu sync.Mutex
	var got []int
	bus.Rule("test", "Tick", func(raw []byte) {
		var ev struct {
			Detail  struct{ N int } `json:"detail"`
			Account string          `json:"account"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil || ev.Account != "123456789012" {
			t.Errorf("envelope %s: %v", raw, err)
		}
		mu.Lock()
		got = append(got, ev.Detail.N)
		mu.Unlock()
	})
	client := eventbridge.New(eventbridge.Options{BaseEndpoint: aws.String(bus.URL()), Region: "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	pub, err := ebus.New(ebus.Config{Client: client, BusName: "b", Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var evs []events.Event
	for i := range 40 {
		evs = append(evs, events.Event{Source: "test", DetailType: "Tick", Detail: map[string]int{"N": i}})
	}
	if err := pub.Publish(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	seen := map[int]int{}
	for _, n := range got {
		seen[n]++
	}
	twice := 0
	for i := range 40 {
		switch seen[i] {
		case 0:
			t.Fatalf("event %d was lost", i)
		case 2:
			twice++
		}
	}
	if twice == 0 || sort.IntsAreSorted(got) {
		t.Fatalf("delivered %v: want some twice and not in order", got)
	}
	if st := bus.Stats(); st.Refused == 0 || st.Duplicated == 0 {
		t.Fatalf("stats %+v", st)
	}
}
