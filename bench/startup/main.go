// Command startup measures whole-process start-up side by side
// (docs/performance.md, "Start-up"): a Go hello-world, `tlsrpt --version`,
// `tlsrpt filter` storing one new small report into an existing SQLite
// store, and the seed script on the same message, run by its interpreter
// directly. The commands alternate within each round (the order rotates
// from round to round), so that the machine's drift and other load fall on
// all of them alike; it prints the median wall time of each and the ratios
// measured in the same run. Beside the wall time it prints the CPU time
// (user and system) of each, which a loaded machine disturbs less.
//
//	go run ./bench/startup -tlsrpt BIN -hello BIN -msgs DIR [-runs 200] [-old BIN]
//
// With -old, an older tlsrpt binary's --version and filter join the same
// rounds (its filter reads messages -runs ... 2*-runs-1), so that a change
// is judged against the binary before it in the same run.
//
// Two floors join the rounds when named: -libs, a hello-world that links
// every library tlsrpt links (their package initialisation and the size
// of the binary, without a line of tlsrpt), the floor under --version;
// and -sqlfloor (bench/startup/sqlfloor), a Go process that keeps the
// message as one row of a SQLite file with the store's settings and
// nothing else, the floor under the filter.
//
// bench/startup.sh builds the binaries and writes the messages.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// command is one of the commands measured; stdin names the file it
// reads in round i ("" for none).
type command struct {
	name  string
	args  func(i int) []string
	stdin func(i int) string
	times []time.Duration // wall
	cpu   []time.Duration // user + system
}

func main() {
	runs := flag.Int("runs", 200, "rounds; each runs every command once")
	tl := flag.String("tlsrpt", "", "the tlsrpt binary")
	hello := flag.String("hello", "", "a Go hello-world binary")
	py := flag.String("python", "/usr/bin/python3", "the seed's interpreter")
	seed := flag.String("seed", "bench/seed/tlsrpt.py", "the seed script")
	msgs := flag.String("msgs", "", "folder of messages 0.eml ... one new report each, at least -runs of them")
	db := flag.String("db", "", "the existing SQLite store the filter writes into")
	old := flag.String("old", "", "an older tlsrpt binary to run beside -tlsrpt (optional)")
	libs := flag.String("libs", "", "a hello-world linking tlsrpt's libraries (optional)")
	sqlfloor := flag.String("sqlfloor", "", "the SQLite floor program (optional; with -floordb)")
	floordb := flag.String("floordb", "", "the existing SQLite file -sqlfloor writes into")
	flag.Parse()
	msg := func(i int) string { return filepath.Join(*msgs, fmt.Sprintf("%d.eml", i)) }
	none := func(int) string { return "" }
	cmds := []*command{
		{name: "hello-world", args: func(int) []string { return []string{*hello} }, stdin: none},
		{name: "tlsrpt --version", args: func(int) []string { return []string{*tl, "--version"} }, stdin: none},
		{name: "tlsrpt filter (one new report, existing store)", args: func(int) []string {
			return []string{*tl, "filter", "--db", *db, "--no-config", "--resolver", "127.0.0.1:9"}
		}, stdin: msg},
		{name: "seed script (same message)", args: func(int) []string { return []string{*py, *seed} }, stdin: msg},
	}
	if *old != "" {
		cmds = append(cmds,
			&command{name: "old tlsrpt --version", args: func(int) []string { return []string{*old, "--version"} }, stdin: none},
			&command{name: "old tlsrpt filter", args: func(int) []string {
				return []string{*old, "filter", "--db", *db, "--no-config", "--resolver", "127.0.0.1:9"}
			}, stdin: func(i int) string { return msg(*runs + i) }})
	}
	// The floors come after the four and -old, so that the ratios below
	// keep their indexes.
	floor := map[string]int{}
	if *libs != "" {
		floor["libs"] = len(cmds)
		cmds = append(cmds, &command{name: "hello-world linking tlsrpt's libraries",
			args: func(int) []string { return []string{*libs} }, stdin: none})
	}
	if *sqlfloor != "" {
		floor["sql"] = len(cmds)
		cmds = append(cmds, &command{name: "SQLite floor (message as one row)",
			args: func(int) []string { return []string{*sqlfloor, *floordb} }, stdin: msg})
	}
	for i := 0; i < *runs; i++ {
		for k := range cmds {
			c := cmds[(i+k)%len(cmds)]
			d, cpu, err := run(c.args(i), c.stdin(i))
			if err != nil {
				fmt.Fprintf(os.Stderr, "startup: %s: %v\n", c.name, err)
				os.Exit(1)
			}
			c.times = append(c.times, d)
			c.cpu = append(c.cpu, cpu)
		}
	}
	med := make([]time.Duration, len(cmds))
	cpu := make([]time.Duration, len(cmds))
	fmt.Printf("%-48s %s\n", fmt.Sprintf("%d rounds", *runs), "wall median (p10, p90)      CPU median")
	for k, c := range cmds {
		med[k], cpu[k] = median(c.times), median(c.cpu)
		fmt.Printf("%-48s %6.2f ms (%6.2f, %6.2f)  %6.2f ms\n", c.name, ms(med[k]),
			ms(quantile(c.times, 0.1)), ms(quantile(c.times, 0.9)), ms(cpu[k]))
	}
	fmt.Printf("tlsrpt --version - hello-world: wall %+.2f ms, CPU %+.2f ms\n", ms(med[1]-med[0]), ms(cpu[1]-cpu[0]))
	fmt.Printf("seed / filter: wall %.1fx, CPU %.1fx\n", ratio(med[3], med[2]), ratio(cpu[3], cpu[2]))
	if *old != "" {
		fmt.Printf("old tlsrpt --version - hello-world: wall %+.2f ms, CPU %+.2f ms\n", ms(med[4]-med[0]), ms(cpu[4]-cpu[0]))
		fmt.Printf("seed / old filter: wall %.1fx, CPU %.1fx\n", ratio(med[3], med[5]), ratio(cpu[3], cpu[5]))
	}
	if k, ok := floor["libs"]; ok {
		fmt.Printf("libraries' hello-world - hello-world: wall %+.2f ms, CPU %+.2f ms\n", ms(med[k]-med[0]), ms(cpu[k]-cpu[0]))
		fmt.Printf("tlsrpt --version - libraries' hello-world: wall %+.2f ms, CPU %+.2f ms\n", ms(med[1]-med[k]), ms(cpu[1]-cpu[k]))
	}
	if k, ok := floor["sql"]; ok {
		fmt.Printf("seed / SQLite floor: wall %.1fx, CPU %.1fx\n", ratio(med[3], med[k]), ratio(cpu[3], cpu[k]))
		fmt.Printf("tlsrpt filter - SQLite floor: wall %+.2f ms, CPU %+.2f ms\n", ms(med[2]-med[k]), ms(cpu[2]-cpu[k]))
	}
}

// run runs args with stdin (or nothing) as input and output thrown away,
// and returns its wall time from start to exit and its CPU time.
func run(args []string, stdin string) (time.Duration, time.Duration, error) {
	cmd := exec.Command(args[0], args[1:]...)
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			return 0, 0, err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, err
	}
	wall := time.Since(start)
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func median(d []time.Duration) time.Duration { return quantile(d, 0.5) }

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
