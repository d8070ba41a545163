// The flood's attacker: opens connections to a victim at a steady rate from
// many loopback source addresses, each behaving as one of the attacks, and
// prints one JSON summary of what the victim did with them. Cheap per
// connection on purpose (a goroutine and a socket), so that the figure
// measures the victim. Built by build.sh; driven by test/flood/run.ts.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var modes = []string{"silent", "half", "garbage", "reset", "drip"}

type summary struct {
	Attempts       int64            `json:"attempts"`
	Connected      int64            `json:"connected"`
	ConnectErrors  map[string]int64 `json:"connectErrors"`
	ClosedByVictim int64            `json:"closedByVictim"`
	OpenAtEnd      int64            `json:"openAtEnd"`
	MaxOpen        int64            `json:"maxOpen"`
	// ms from connect to the victim's close, of the sockets it closed
	Lifetime    map[string]float64 `json:"lifetimeMs"`
	ByMode      map[string]int64   `json:"byMode"`
	Sources     int                `json:"sources"`
	DurationSec float64            `json:"durationSec"`
}

type stats struct {
	mu        sync.Mutex
	lifetimes []float64
	errs      map[string]int64
	byMode    map[string]int64
	attempts  atomic.Int64
	connected atomic.Int64
	closed    atomic.Int64
	open      atomic.Int64
	maxOpen   atomic.Int64
}

func (s *stats) connectError(err error) {
	kind := "other"
	var opErr *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = "refused"
	case errors.Is(err, syscall.ECONNRESET):
		kind = "reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		kind = "addrnotavail"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		kind = "fds"
	case errors.As(err, &opErr) && opErr.Timeout():
		kind = "timeout"
	}
	s.mu.Lock()
	s.errs[kind]++
	s.mu.Unlock()
}

func main() {
	target := flag.String("target", "", "victim host:port")
	rate := flag.Float64("rate", 10, "new connections per second")
	duration := flag.Duration("duration", 5*time.Second, "how long to open connections")
	mode := flag.String("mode", "silent", "silent|half|garbage|reset|drip|mixed")
	spread := flag.String("spread", "many16", "one24 (127.66.6.0/24) or many16 (127.10-209.x.y)")
	seed := flag.Int64("seed", 1, "seed of the source addresses and the mixed choice")
	flag.Parse()
	if *target == "" || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "attacker: -target host:port and -rate > 0 are required")
		os.Exit(2)
	}
	valid := *mode == "mixed"
	for _, m := range modes {
		valid = valid || m == *mode
	}
	if !valid || (*spread != "one24" && *spread != "many16") {
		fmt.Fprintf(os.Stderr, "attacker: unknown -mode %q or -spread %q\n", *mode, *spread)
		os.Exit(2)
	}

	rng := rand.New(rand.NewSource(*seed))
	s := &stats{errs: map[string]int64{}, byMode: map[string]int64{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	sources := map[string]bool{}

	start := time.Now()
	interval := time.Duration(float64(time.Second) / *rate)
	next := start
	for time.Since(start) < *duration {
		var src net.IP
		if *spread == "one24" {
			src = net.IPv4(127, 66, 6, byte(1+rng.Intn(254)))
		} else {
			src = net.IPv4(127, byte(10+rng.Intn(200)), byte(rng.Intn(256)), byte(1+rng.Intn(254)))
		}
		sources[src.String()] = true
		m := *mode
		if m == "mixed" {
			m = modes[rng.Intn(len(modes))]
		}
		s.mu.Lock()
		s.byMode[m]++
		s.mu.Unlock()
		junk := make([]byte, 256)
		rng.Read(junk)
		wg.Add(1)
		go func() {
			defer wg.Done()
			attack(*target, src, m, junk, s, stop)
		}()
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	elapsed := time.Since(start)
	// what is still open now outlived the step; the victim never closed it
	openAtEnd := s.open.Load()
	close(stop)
	wg.Wait()

	sort.Float64s(s.lifetimes)
	pct := func(p float64) float64 {
		if len(s.lifetimes) == 0 {
			return 0
		}
		return s.lifetimes[int(p*float64(len(s.lifetimes)-1))]
	}
	out := summary{
		Attempts:       s.attempts.Load(),
		Connected:      s.connected.Load(),
		ConnectErrors:  s.errs,
		ClosedByVictim: s.closed.Load(),
		OpenAtEnd:      openAtEnd,
		MaxOpen:        s.maxOpen.Load(),
		Lifetime:       map[string]float64{"p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1)},
		ByMode:         s.byMode,
		Sources:        len(sources),
		DurationSec:    elapsed.Seconds(),
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

// the first bytes a libp2p dialer sends: multistream-select's header and a
// proposal of noise, each with its varint length
var multistream = []byte("\x13/multistream/1.0.0\n\x07/noise\n")

func attack(target string, src net.IP, mode string, junk []byte, s *stats, stop chan struct{}) {
	s.attempts.Add(1)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 3 * time.Second}
	c, err := d.Dial("tcp4", target)
	if err != nil {
		s.connectError(err)
		return
	}
	conn := c.(*net.TCPConn)
	s.connected.Add(1)
	if n := s.open.Add(1); n > s.maxOpen.Load() {
		s.maxOpen.Store(n)
	}
	connected := time.Now()
	// at the end of the run every socket goes with an RST, as a flood's would
	defer func() {
		_ = conn.SetLinger(0)
		_ = conn.Close()
	}()
	if mode == "reset" {
		s.open.Add(-1)
		return
	}

	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		close(gone)
	}()
	switch mode {
	case "half":
		_, _ = conn.Write(multistream)
		// the length of noise's first message, and nothing of it
		_, _ = conn.Write([]byte{0x00, 0x20})
	case "garbage":
		_, _ = conn.Write(junk)
	}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	dripped := 0
	for {
		select {
		case <-gone:
			s.open.Add(-1)
			s.closed.Add(1)
			ms := float64(time.Since(connected).Microseconds()) / 1000
			s.mu.Lock()
			s.lifetimes = append(s.lifetimes, ms)
			s.mu.Unlock()
			return
		case <-stop:
			s.open.Add(-1)
			return
		case <-tick.C:
			if mode == "drip" {
				b := byte(0)
				if dripped < len(multistream) {
					b = multistream[dripped]
				}
				dripped++
				_, _ = conn.Write([]byte{b})
			}
		}
	}
}
