// Command cpu-ab compares the CPU time (user + system) of programs run with
// the same arguments, paired: each round runs every program once, in a
// random order, so a change in the machine's load during the run weighs on
// all of them alike. It prints each program's mean and the difference from
// the first with its 95% confidence interval, which stays tight on a machine
// that others share, where wall-clock comparisons (and unpaired means) drown
// differences of a few percent.
//
//	go run ./scripts/cpu-ab -n 800 old/sagequeue new/sagequeue -- --endpoint http://127.0.0.1:8642 submit -q hold -n x -- true
//
// Each program is copied to a temporary directory first: a binary the Go
// linker has just written (through a memory map) starts measurably slower
// than a copy of it, which would bias a comparison of fresh builds.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 500, "rounds: runs of each program")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: cpu-ab [-n rounds] program... -- arguments...")
		flag.PrintDefaults()
	}
	flag.Parse()
	args := flag.Args()
	i := slices.Index(args, "--")
	if i < 1 || *n < 2 {
		flag.Usage()
		os.Exit(2)
	}
	programs, rest := args[:i], args[i+1:]
	if err := run(*n, programs, rest); err != nil {
		fmt.Fprintln(os.Stderr, "cpu-ab:", err)
		os.Exit(1)
	}
}

func run(n int, programs, args []string) error {
	dir, err := os.MkdirTemp("", "cpu-ab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	copies := make([]string, len(programs))
	for i, p := range programs {
		copies[i] = filepath.Join(dir, fmt.Sprint(i), filepath.Base(p))
		if err := copyFile(p, copies[i]); err != nil {
			return err
		}
	}
	cpu := make([][]float64, len(programs)) // ms per run
	order := make([]int, len(programs))
	for i := range order {
		order[i] = i
	}
	load := loadAverage()
	start := time.Now()
	for range n {
		rand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, i := range order {
			cmd := exec.Command(copies[i], args...)
			cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s %s: %v", programs[i], strings.Join(args, " "), err)
			}
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			ms := float64(time.Duration(ru.Utime.Nano()+ru.Stime.Nano())) / float64(time.Millisecond)
			cpu[i] = append(cpu[i], ms)
		}
	}
	fmt.Printf("%d runs each, %s; load average %s at the start, %s at the end\n", n, time.Since(start).Round(time.Second), load, loadAverage())
	for i, p := range programs {
		mean, _ := meanCI(cpu[i])
		line := fmt.Sprintf("%-40s CPU %.3f ms (median %.3f)", p, mean, median(cpu[i]))
		if i > 0 {
			d := make([]float64, n)
			for k := range d {
				d[k] = cpu[i][k] - cpu[0][k]
			}
			m, ci := meanCI(d)
			line += fmt.Sprintf("   %+.3f ms ± %.3f (%+.1f %%) against %s", m, ci, 100*m/mean0(cpu[0]), programs[0])
		}
		fmt.Println(line)
	}
	return nil
}

// meanCI returns the mean and the half-width of its 95% confidence interval.
func meanCI(v []float64) (float64, float64) {
	var sum float64
	for _, x := range v {
		sum += x
	}
	mean := sum / float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / float64(len(v)-1))
	return mean, 1.96 * sd / math.Sqrt(float64(len(v)))
}

func mean0(v []float64) float64 { m, _ := meanCI(v); return m }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
