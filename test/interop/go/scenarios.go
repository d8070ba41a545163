package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// scenario is what the dialing peer does once connected.
type scenario func(ctx context.Context, h host.Host, ids *identified, p peer.ID, o options) error

var scenarios = map[string]scenario{
	"ping":     runPing,
	"echo":     runEcho,
	"streams":  runStreams,
	"identify": runIdentify,
	"hold":     runHold,
	"perf":     runPerf,
}

// or is v, or def when the flag was not given.
func or(v, def int64) int64 {
	if v < 0 {
		return def
	}
	return v
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d.Nanoseconds())/1e3) / 1e3
}

func runPing(ctx context.Context, h host.Host, _ *identified, p peer.ID, o options) error {
	n := or(o.count, 10)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := ping.Ping(ctx, h, p)
	for i := int64(0); i < n; i++ {
		res, ok := <-results
		if !ok {
			return fmt.Errorf("ping %d: %w", i+1, ctx.Err())
		}
		if res.Error != nil {
			return fmt.Errorf("ping %d: %w", i+1, res.Error)
		}
		emit(map[string]any{"event": "ping", "rttMs": ms(res.RTT)})
	}
	return nil
}

// echoOnce sends n random bytes on a new echo stream, closes its write side
// and reads everything back, returning the sha256 of both.
func echoOnce(ctx context.Context, h host.Host, p peer.ID, n int64) (string, string, error) {
	data := make([]byte, n)
	_, _ = rand.Read(data)
	sent := sha256.Sum256(data)
	s, err := h.NewStream(ctx, p, echoID)
	if err != nil {
		return "", "", err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(deadline)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := s.Write(data)
		if err == nil {
			err = s.CloseWrite()
		}
		wrote <- err
	}()
	back := sha256.New()
	got, err := io.Copy(back, s)
	if err != nil {
		_ = s.Reset()
		return "", "", fmt.Errorf("read back after %d bytes: %w", got, err)
	}
	if err := <-wrote; err != nil {
		_ = s.Reset()
		return "", "", fmt.Errorf("write: %w", err)
	}
	_ = s.Close()
	return hex.EncodeToString(sent[:]), hex.EncodeToString(back.Sum(nil)), nil
}

func runEcho(ctx context.Context, h host.Host, _ *identified, p peer.ID, o options) error {
	n := or(o.bytes, 1<<20)
	sent, back, err := echoOnce(ctx, h, p, n)
	if err != nil {
		return err
	}
	emit(map[string]any{"event": "echo", "bytes": n, "sha256": sent, "echoSha256": back})
	if sent != back {
		return errors.New("the bytes echoed back differ from those sent")
	}
	return nil
}

func runStreams(ctx context.Context, h host.Host, _ *identified, p peer.ID, o options) error {
	count := or(o.count, 64)
	n := or(o.bytes, 16<<10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	var first error
	for i := int64(0); i < count; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, back, err := echoOnce(ctx, h, p, n)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && first == nil:
				first = err
			case err == nil && sent == back:
				ok++
			case err == nil && first == nil:
				first = errors.New("a stream echoed back other bytes")
			}
		}()
	}
	wg.Wait()
	emit(map[string]any{"event": "streams", "count": count, "ok": ok})
	if first != nil {
		return fmt.Errorf("%d of %d streams failed, first: %w", count-int64(ok), count, first)
	}
	return nil
}

func runIdentify(ctx context.Context, _ host.Host, ids *identified, p peer.ID, o options) error {
	// the identify line itself is printed by watch, as for every identify
	select {
	case <-ids.wait(p):
	case <-ctx.Done():
		return fmt.Errorf("no identify from %s: %w", p, ctx.Err())
	}
	// stay connected a moment, so that the remote's identify of us (which runs
	// at the same time) completes before this process exits and closes
	time.Sleep(time.Duration(or(o.holdMs, 500)) * time.Millisecond)
	return nil
}

func runHold(ctx context.Context, h host.Host, _ *identified, p peer.ID, o options) error {
	count := or(o.count, 8)
	dead := make(chan struct{}, count)
	for i := int64(0); i < count; i++ {
		s, err := h.NewStream(ctx, p, echoID)
		if err != nil {
			return fmt.Errorf("open stream %d: %w", i+1, err)
		}
		go trickle(s, dead)
	}
	time.Sleep(time.Duration(or(o.holdMs, 1000)) * time.Millisecond)
	open := count - int64(len(dead))
	// go-libp2p's TCP transport set SO_LINGER 0 on the socket: this close is an RST
	for _, c := range h.Network().ConnsToPeer(p) {
		_ = c.Close()
	}
	emit(map[string]any{"event": "closed", "streams": open})
	return nil
}

func runPerf(ctx context.Context, h host.Host, _ *identified, p peer.ID, o options) error {
	count := or(o.count, 1)
	up, down := uint64(or(o.bytes, 0)), uint64(or(o.download, 0))
	times := make([]float64, 0, count)
	for i := int64(0); i < count; i++ {
		d, err := perfRequest(ctx, h, p, up, down)
		if err != nil {
			return fmt.Errorf("request %d: %w", i+1, err)
		}
		times = append(times, ms(d))
		emit(map[string]any{"event": "perf", "upload": up, "download": down, "seconds": d.Seconds()})
	}
	if count > 1 {
		sort.Float64s(times)
		emit(map[string]any{"event": "perf-summary", "count": count, "medianMs": quantile(times, 0.5), "p95Ms": quantile(times, 0.95)})
	}
	return nil
}

// quantile of sorted values, by linear interpolation between ranks
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	v := sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
	return math.Round(v*1e3) / 1e3
}

// abandon connects over raw TCP, selects /noise with multistream-select,
// sends the first bytes of a noise frame and closes with an RST.
func abandon(target ma.Multiaddr, o options) {
	tr, _ := peer.SplitAddr(target)
	if tr == nil {
		fail("bad --dial %s", target)
	}
	network, addr, err := manet.DialArgs(tr)
	if err != nil {
		fail("bad --dial %s: %v", target, err)
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.Dial(network, addr)
	if err != nil {
		fail("dial %s: %v", addr, err)
	}
	conn := c.(*net.TCPConn)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	msg := func(s string) []byte {
		return append(binary.AppendUvarint(nil, uint64(len(s))), s...)
	}
	if _, err := conn.Write(append(msg("/multistream/1.0.0\n"), msg("/noise\n")...)); err != nil {
		fail("abandon: write multistream-select: %v", err)
	}
	// wait for the listener to agree on /noise, so the bytes below reach its noise handshake
	want := string(msg("/multistream/1.0.0\n")) + string(msg("/noise\n"))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(conn, got); err != nil {
		fail("abandon: read multistream-select answer: %v", err)
	}
	if string(got) != want {
		fail("abandon: multistream-select answered %q", got)
	}
	// a noise frame announcing 32 bytes (the XX initiator's ephemeral key), of which only 8 follow
	partial := []byte{0x00, 0x20, 1, 2, 3, 4, 5, 6, 7, 8}
	if _, err := conn.Write(partial); err != nil {
		fail("abandon: write partial noise frame: %v", err)
	}
	time.Sleep(time.Duration(or(o.holdMs, 100)) * time.Millisecond)
	if err := conn.SetLinger(0); err != nil {
		fail("abandon: SO_LINGER 0: %v", err)
	}
	_ = conn.Close()
	emit(map[string]string{"event": "abandoned"})
}
