package metrics

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestTextExposition(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("t_requests_total", "Requests.\nSecond line with a \\ backslash.", "op", "code")
	g := r.NewGauge("t_temperature", "A gauge.")
	h := r.NewHistogram("t_latency_seconds", "A histogram.", []float64{0.1, 1}, "op")
	c.Add(2, "get", "200")
	c.Inc("put", "500")
	c.Inc("get", "200")
	c.Add(-5, "get", "200") // counters never go down
	c.Inc(`we"ird\`, "a\nb")
	g.Set(-1.5)
	h.Observe(0.05, "get")
	h.Observe(0.1, "get") // on a bound: counts in that bucket (le)
	h.Observe(0.5, "get")
	h.Observe(7, "get")

	var b bytes.Buffer
	if err := r.WriteText(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP t_latency_seconds A histogram.
# TYPE t_latency_seconds histogram
t_latency_seconds_bucket{op="get",le="0.1"} 2
t_latency_seconds_bucket{op="get",le="1"} 3
t_latency_seconds_bucket{op="get",le="+Inf"} 4
t_latency_seconds_sum{op="get"} 7.65
t_latency_seconds_count{op="get"} 4
# HELP t_requests_total Requests.\nSecond line with a \\ backslash.
# TYPE t_requests_total counter
t_requests_total{op="get",code="200"} 3
t_requests_total{op="put",code="500"} 1
t_requests_total{op="we\"ird\\",code="a\nb"} 1
# HELP t_temperature A gauge.
# TYPE t_temperature gauge
t_temperature -1.5
`
	if b.String() != want {
		t.Fatalf("exposition:\n%s\nwant:\n%s", b.String(), want)
	}
	if v, ok := c.Value("get", "200"); !ok || v != 3 {
		t.Fatalf("Value %v %v", v, ok)
	}
	if v, ok := h.Value("get"); !ok || v != 4 {
		t.Fatalf("histogram count %v %v", v, ok)
	}
}

func TestRegistryRefusesBadDefinitions(t *testing.T) {
	for name, register := range map[string]func(r *Registry){
		"bad name":           func(r *Registry) { r.NewCounter("1x", "") },
		"bad label":          func(r *Registry) { r.NewCounter("x", "", "a-b") },
		"reserved label":     func(r *Registry) { r.NewGauge("x", "", "__x") },
		"le on a histogram":  func(r *Registry) { r.NewHistogram("x", "", []float64{1}, "le") },
		"unsorted buckets":   func(r *Registry) { r.NewHistogram("x", "", []float64{2, 1}) },
		"registered twice":   func(r *Registry) { r.NewGauge("x", ""); r.NewCounter("x", "") },
		"wrong label values": func(r *Registry) { r.NewGauge("x", "", "a").Set(1, "a", "b") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			register(NewRegistry())
		})
	}
}

func TestScrapeRunsCollectorsAndHandler(t *testing.T) {
	r := NewRegistry()
	g := r.NewGauge("t_queue_depth", "Depth.", "queue")
	n := 0
	r.OnScrape(func(context.Context) {
		n++
		g.Reset()
		if n == 1 {
			g.Set(5, "gone")
		}
		g.Set(float64(n), "kept")
	})
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	get := func() string {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ContentType {
			t.Fatalf("status %d content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if out := get(); !strings.Contains(out, `t_queue_depth{queue="gone"} 5`) || !strings.Contains(out, `t_queue_depth{queue="kept"} 1`) {
		t.Fatalf("first scrape:\n%s", out)
	}
	if out := get(); strings.Contains(out, "gone") || !strings.Contains(out, `t_queue_depth{queue="kept"} 2`) {
		t.Fatalf("second scrape:\n%s", out)
	}
	resp, err := http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
}

func TestConcurrentUpdatesAndScrapes(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("t_total", "", "k")
	h := r.NewHistogram("t_seconds", "", []float64{1}, "k")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 1000 {
				c.Inc(string(rune('a' + i%2)))
				h.Observe(float64(j%3), "x")
				if j%100 == 0 {
					_ = r.WriteText(context.Background(), io.Discard)
				}
			}
		}()
	}
	wg.Wait()
	a, _ := c.Value("a")
	b, _ := c.Value("b")
	n, _ := h.Value("x")
	if a+b != 8000 || n != 8000 {
		t.Fatalf("a %v b %v histogram %v", a, b, n)
	}
}
