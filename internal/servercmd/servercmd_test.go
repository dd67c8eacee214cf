package servercmd

import (
	"testing"
	"time"
)

func TestDaysFlag(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90d": 90 * 24 * time.Hour, "0": 0, "36h": 36 * time.Hour, "1d": 24 * time.Hour, "90m": 90 * time.Minute,
	} {
		var d daysFlag
		if err := d.Set(in); err != nil || time.Duration(d) != want {
			t.Errorf("Set(%q) = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{"soon", "-1h", "-2d", "1.5d", ""} {
		var d daysFlag
		if err := d.Set(in); err == nil {
			t.Errorf("Set(%q) = %v, want an error", in, time.Duration(d))
		}
	}
	for d, want := range map[daysFlag]string{daysFlag(90 * 24 * time.Hour): "90d", daysFlag(36 * time.Hour): "36h0m0s", 0: "0s"} {
		if got := d.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}
