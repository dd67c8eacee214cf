package server

import "testing"

func TestLoopbackListen(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8642": true, "127.0.0.2:8642": true, "[::1]:8642": true, "localhost:8642": true,
		"0.0.0.0:8642": false, ":8642": false, "[::]:8642": false, "192.0.2.2:8642": false, "[fd00::2]:8642": false,
	} {
		got, err := loopbackListen(addr)
		if err != nil || got != want {
			t.Errorf("loopbackListen(%q) = %v, %v; want %v", addr, got, err, want)
		}
	}
	if _, err := loopbackListen("8642"); err == nil {
		t.Error("an address without a port was taken")
	}
}
