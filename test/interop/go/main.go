// Command go-peer is rx-tcp's interop peer on go-libp2p: TCP + noise + yamux,
// identify, ping, /echo/1.0.0 and /perf/1.0.0, driven by the flags that
// test/interop/PEERS.md describes. Only JSON lines go to stdout; logs go to
// stderr.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// options are the command line of PEERS.md; -1 means "not given", so each
// scenario can pick its own default.
type options struct {
	listen              string
	dial                string
	run                 string
	count               int64
	bytes               int64
	download            int64
	holdMs              int64
	seed                int64
	closeInboundAfterMs int64
	openStreams         int64
	relay               string
	announce            string
	holePunch           bool
	directTimeoutMs     int64
}

// out serialises JSON lines on stdout: every goroutine of the peer prints
// through it, so lines never interleave.
var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

// emit prints one JSON object on its own line.
func emit(v any) {
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(v)
}

// fail prints the error event and exits 1, as PEERS.md asks for anything
// that fails.
func fail(format string, args ...any) {
	emit(map[string]any{"event": "error", "message": fmt.Sprintf(format, args...)})
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "go-peer: "+format+"\n", args...)
}

// stackVersion is the go-libp2p module version compiled in, for the agent
// version `rx-tcp-interop/go/<stack version>`.
func stackVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/libp2p/go-libp2p" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

const usage = `usage (test/interop/PEERS.md):
  go-peer --listen <multiaddr> [--close-inbound-after-ms N] [--open-streams N] [--seed N]
      listen (e.g. /ip4/127.0.0.1/tcp/0); serve until SIGTERM or stdin closes
  go-peer --dial <multiaddr/p2p/<id>> --run <scenario> [options]
      scenario: ping | echo | streams | identify | hold | perf | abandon | holepunch
  --count N        pings, streams or round trips (default per scenario)
  --bytes N        bytes per echo stream / perf upload
  --download N     perf: bytes to ask the server for
  --hold-ms N      how long to keep streams open before the scenario's action
  --seed N         deterministic ed25519 key from a 32-byte seed filled with N (0-255)
  --close-inbound-after-ms N   listen: close each inbound connection N ms after it is up
  --open-streams N             listen: open N slow echo streams towards each dialer
  --relay <multiaddr/p2p/id>   reserve a slot on this circuit-relay-v2 relay (relay client on)
  --announce <multiaddr>       add this address to the ones the peer announces (its address through a NAT)
  --hole-punch                 enable hole punching (DCUtR)
  --dial <relay>/p2p-circuit/p2p/<id> --run holepunch [--listen <multiaddr>] [--direct-timeout-ms N]
      dial through the relay, wait for the direct connection, then ping and echo over it
stdout carries JSON lines only; logs go to stderr.
`

func parseFlags() options {
	o := options{}
	fs := flag.NewFlagSet("go-peer", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	fs.StringVar(&o.listen, "listen", "", "listen on this multiaddr (e.g. /ip4/127.0.0.1/tcp/0) and serve until SIGTERM or stdin closes")
	fs.StringVar(&o.dial, "dial", "", "dial this multiaddr, ending in /p2p/<id>")
	fs.StringVar(&o.run, "run", "", "scenario when dialing: ping|echo|streams|identify|hold|perf|abandon")
	fs.Int64Var(&o.count, "count", -1, "pings, streams or round trips (default per scenario)")
	fs.Int64Var(&o.bytes, "bytes", -1, "bytes per echo stream / perf upload")
	fs.Int64Var(&o.download, "download", -1, "perf: bytes to ask the server for")
	fs.Int64Var(&o.holdMs, "hold-ms", -1, "how long to keep streams open before the scenario's action")
	fs.Int64Var(&o.seed, "seed", -1, "deterministic ed25519 key from a 32-byte seed filled with this byte (0-255)")
	fs.Int64Var(&o.closeInboundAfterMs, "close-inbound-after-ms", -1, "listen: close each inbound connection this many ms after it is up")
	fs.Int64Var(&o.openStreams, "open-streams", 0, "listen: open this many slow echo streams towards each dialer")
	fs.StringVar(&o.relay, "relay", "", "reserve a slot on this circuit-relay-v2 relay (multiaddr ending in /p2p/<id>)")
	fs.StringVar(&o.announce, "announce", "", "add this multiaddr to the announced addresses")
	fs.BoolVar(&o.holePunch, "hole-punch", false, "enable hole punching (DCUtR)")
	fs.Int64Var(&o.directTimeoutMs, "direct-timeout-ms", 20000, "holepunch: how long to wait for the direct connection")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fail("bad command line: %v", err)
	}
	if fs.NArg() > 0 {
		fail("bad command line: unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.listen != "" && o.dial != "" && o.run != "holepunch":
		fail("bad command line: give --listen or --dial, not both (except with --run holepunch)")
	case o.listen == "" && o.dial == "":
		fail("bad command line: give --listen <multiaddr> or --dial <multiaddr/p2p/id> --run <scenario>")
	case o.dial != "" && o.run == "":
		fail("bad command line: --dial needs --run <scenario>")
	case o.listen != "" && o.run != "" && o.dial == "":
		fail("bad command line: --run is for --dial")
	case o.seed > 255:
		fail("bad command line: --seed %d is not a byte (0-255)", o.seed)
	}
	return o
}

// identity is a fresh ed25519 key, or with --seed n the key whose 32-byte
// seed is n repeated, the same key the rust and JS peers derive.
func identity(seed int64) crypto.PrivKey {
	if seed < 0 {
		priv, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			fail("key: %v", err)
		}
		return priv
	}
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = byte(seed)
	}
	priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(s))
	if err != nil {
		fail("key: %v", err)
	}
	return priv
}

// newHost builds a go-libp2p host on TCP + noise + yamux only, without a
// resource manager or a connection manager (go-libp2p's defaults are an
// autoscaled resource manager and a 160/192 connection manager, which the
// 64-stream and 100 MiB scenarios must not run into).
func newHost(o options) host.Host {
	opts := []libp2p.Option{
		libp2p.Identity(identity(o.seed)),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.ConnectionManager(connmgr.NullConnMgr{}),
		libp2p.UserAgent("rx-tcp-interop/go/" + stackVersion()),
		libp2p.DisableMetrics(),
	}
	// the relay client and hole punching only when asked for (holepunch.go):
	// without them the peer is what the other scenarios have always run against
	opts = append(opts, holePunchOptions(o)...)
	if o.listen != "" {
		opts = append(opts, libp2p.ListenAddrStrings(o.listen))
	} else {
		opts = append(opts, libp2p.NoListenAddrs)
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		fail("host: %v", err)
	}
	return h
}

// identified records the identify of each remote peer, so the identify
// scenario can wait for one that may already have happened.
type identified struct {
	sync.Mutex
	seen    map[peer.ID]bool
	waiters map[peer.ID][]chan struct{}
}

func (id *identified) done(p peer.ID) {
	id.Lock()
	defer id.Unlock()
	id.seen[p] = true
	for _, w := range id.waiters[p] {
		close(w)
	}
	delete(id.waiters, p)
}

func (id *identified) wait(p peer.ID) <-chan struct{} {
	id.Lock()
	defer id.Unlock()
	w := make(chan struct{})
	if id.seen[p] {
		close(w)
		return w
	}
	id.waiters[p] = append(id.waiters[p], w)
	return w
}

func strs[T fmt.Stringer](xs []T) []string {
	s := make([]string, 0, len(xs))
	for _, x := range xs {
		s = append(s, x.String())
	}
	return s
}

// watch prints connected, disconnected and identify events for every
// connection, whatever the role, and applies the listener's options to
// inbound connections.
func watch(h host.Host, o options) *identified {
	ids := &identified{seen: map[peer.ID]bool{}, waiters: map[peer.ID][]chan struct{}{}}
	h.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			dir := "outbound"
			if c.Stat().Direction == network.DirInbound {
				dir = "inbound"
			}
			emit(map[string]any{"event": "connected", "peerId": c.RemotePeer().String(), "remoteAddr": c.RemoteMultiaddr().String(), "direction": dir})
			if dir != "inbound" {
				return
			}
			if o.openStreams > 0 {
				go openSlowStreams(c, int(o.openStreams))
			}
			if o.closeInboundAfterMs >= 0 {
				time.AfterFunc(time.Duration(o.closeInboundAfterMs)*time.Millisecond, func() {
					// the TCP transport set SO_LINGER 0 on this socket, so this is an RST
					logf("closing inbound connection from %s with %d streams open", c.RemotePeer(), len(c.GetStreams()))
					_ = c.Close()
				})
			}
		},
		DisconnectedF: func(_ network.Network, c network.Conn) {
			emit(map[string]any{"event": "disconnected", "peerId": c.RemotePeer().String()})
		},
	})
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		fail("event bus: %v", err)
	}
	go func() {
		for e := range sub.Out() {
			ev := e.(event.EvtPeerIdentificationCompleted)
			observed := ""
			if ev.ObservedAddr != nil {
				observed = ev.ObservedAddr.String()
			}
			protocols := make([]string, 0, len(ev.Protocols))
			for _, p := range ev.Protocols {
				protocols = append(protocols, string(p))
			}
			emit(map[string]any{
				"event":        "identify",
				"peerId":       ev.Peer.String(),
				"agentVersion": ev.AgentVersion,
				"protocols":    protocols,
				"observedAddr": observed,
				"listenAddrs":  strs(ev.ListenAddrs),
			})
			ids.done(ev.Peer)
		}
	}()
	return ids
}

func main() {
	o := parseFlags()
	h := newHost(o)
	serve(h)
	ids := watch(h, o)

	if o.relay != "" {
		reserve(h, o)
	}
	if o.listen != "" && o.dial == "" {
		listen(h)
		return
	}

	target, err := ma.NewMultiaddr(o.dial)
	if err != nil {
		fail("bad --dial %q: %v", o.dial, err)
	}
	if o.run == "abandon" {
		_ = h.Close()
		abandon(target, o)
		emit(map[string]string{"event": "done"})
		return
	}
	info, err := peer.AddrInfoFromP2pAddr(target)
	if err != nil {
		fail("bad --dial %q (it must end in /p2p/<id>): %v", o.dial, err)
	}
	scenario, ok := scenarios[o.run]
	if !ok {
		fail("bad --run %q: one of ping, echo, streams, identify, hold, perf, abandon, holepunch", o.run)
	}

	// every scenario is bounded: a peer that stops answering ends the run with an error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		fail("stopped by a signal during %s", o.run)
	}()

	dialStarted = time.Now()
	if err := h.Connect(ctx, *info); err != nil {
		fail("dial %s: %v", o.dial, err)
	}
	if err := scenario(ctx, h, ids, info.ID, o); err != nil {
		fail("%s: %v", o.run, err)
	}
	_ = h.Close()
	emit(map[string]string{"event": "done"})
}

// listen prints the listening line and serves until SIGTERM (or SIGINT) or
// until stdin closes.
func listen(h host.Host) {
	addrs := h.Addrs()
	if len(addrs) == 0 {
		addrs = h.Network().ListenAddresses()
	}
	full := make([]string, 0, len(addrs))
	for _, a := range addrs {
		full = append(full, a.String()+"/p2p/"+h.ID().String())
	}
	emit(map[string]any{"event": "listening", "peerId": h.ID().String(), "addrs": full})

	done := make(chan string, 2)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() { done <- (<-stop).String() }()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		done <- "stdin closed"
	}()
	why := <-done
	logf("stopping: %s", strings.ToLower(why))
	_ = h.Close()
}
