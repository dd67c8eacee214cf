// Command train is the training program of the test image (see package
// containertest): it reports what SageMaker's contract gives a training
// container, writes a model, and stops as told.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "probe" {
		fmt.Println("done") // the runtime can run the image
		return
	}
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	fmt.Printf("PROGRAM=%s\n", os.Args[0])
	fmt.Printf("ARGS=%s\n", strings.Join(os.Args[1:], " "))
	host, _ := os.Hostname()
	fmt.Printf("HOSTNAME=%s\n", host)
	fmt.Printf("UID=%d\n", os.Getuid())
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SM_") || strings.HasPrefix(kv, "TRAINING_JOB_") || strings.HasPrefix(kv, "USER_") {
			env = append(env, kv)
		}
	}
	sort.Strings(env)
	for _, kv := range env {
		fmt.Println(kv)
	}
	hps := map[string]string{}
	b, err := os.ReadFile("/opt/ml/input/config/hyperparameters.json")
	if err == nil {
		err = json.Unmarshal(b, &hps)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot read the hyperparameters:", err)
		os.Exit(2)
	}
	fmt.Printf("HYPERPARAMETERS=%s\n", b)
	var channels []string
	json.Unmarshal([]byte(os.Getenv("SM_CHANNELS")), &channels)
	for _, dir := range channels {
		entries, _ := os.ReadDir(filepath.Join("/opt/ml/input/data", dir))
		for _, e := range entries {
			data, _ := os.ReadFile(filepath.Join("/opt/ml/input/data", dir, e.Name()))
			fmt.Printf("CHANNEL %s/%s=%s\n", dir, e.Name(), strings.TrimSpace(string(data)))
		}
	}
	if err := os.WriteFile("/opt/ml/model/model.txt", []byte("trained in a container\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "cannot write the model:", err)
		os.Exit(3)
	}
	switch hps["mode"] {
	case "wait": // until SIGTERM
		fmt.Println("waiting for SIGTERM")
		<-terms
		fmt.Println("got SIGTERM")
	case "stubborn": // SIGTERM changes nothing
		fmt.Println("ignoring SIGTERM")
		for {
			<-terms
			fmt.Println("got SIGTERM, going on")
		}
	case "until": // checkpoint, then wait until a file in the checkpoint directory appears
		if err := os.WriteFile("/opt/ml/checkpoints/checkpoint", []byte("step 1\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "cannot checkpoint:", err)
			os.Exit(5)
		}
		for {
			if _, err := os.Stat(filepath.Join("/opt/ml/checkpoints", hps["file"])); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	case "fail":
		fmt.Fprintln(os.Stderr, "the loss went to NaN")
		os.Exit(4)
	}
	fmt.Println("done")
}
