package server

import "testing"

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8642": true, "localhost:8642": true, "[::1]:8642": true, "127.1.2.3": true,
		"app.localhost:80": true, "LOCALHOST": true,
		"evil.example.com:8642": false, "10.0.0.1:8642": false, "": false, "127.0.0.1.nip.io:8642": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
