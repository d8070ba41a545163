package main

// The relay client and hole punching (DCUtR) of the go peer, for
// `npm run holepunch` (test/holepunch/): with --relay the peer reserves a slot
// on a circuit-relay-v2 relay, with --announce it announces its address
// through a NAT, with --hole-punch it runs go-libp2p's hole punching service,
// and `--run holepunch` dials a peer through the relay and waits for the
// direct connection. Without these flags the peer is unchanged.

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
)

// dialStarted is when main began the dial of the scenario: `holepunch`
// reports the direct connection's time from it.
var dialStarted time.Time

func init() {
	scenarios["holepunch"] = runHolePunch
}

// holePunchOptions are the libp2p options the hole punching flags ask for:
// none of them changes a peer started without these flags, which keeps
// go-libp2p's relay transport off as before.
func holePunchOptions(o options) []libp2p.Option {
	var opts []libp2p.Option
	if o.relay == "" && o.run != "holepunch" {
		opts = append(opts, libp2p.DisableRelay())
	} else {
		opts = append(opts, libp2p.EnableRelay())
	}
	if o.holePunch {
		opts = append(opts, libp2p.EnableHolePunching())
	}
	if o.announce != "" {
		extra, err := ma.NewMultiaddr(o.announce)
		if err != nil {
			fail("bad --announce %q: %v", o.announce, err)
		}
		opts = append(opts, libp2p.AddrsFactory(func(addrs []ma.Multiaddr) []ma.Multiaddr {
			return append(addrs, extra)
		}))
	}
	return opts
}

// reserve connects to the relay and reserves a slot, printing
// {"event":"reserved","addrs":[<relay>/p2p-circuit/p2p/<self>],"limitData":N,"limitSeconds":N}.
func reserve(h host.Host, o options) {
	addr, err := ma.NewMultiaddr(o.relay)
	if err != nil {
		fail("bad --relay %q: %v", o.relay, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil {
		fail("bad --relay %q (it must end in /p2p/<id>): %v", o.relay, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Connect(ctx, *info); err != nil {
		fail("connect to the relay %s: %v", o.relay, err)
	}
	r, err := client.Reserve(ctx, h, *info)
	if err != nil {
		fail("reserve a slot on %s: %v", o.relay, err)
	}
	emit(map[string]any{
		"event":        "reserved",
		"addrs":        []string{addr.String() + "/p2p-circuit/p2p/" + h.ID().String()},
		"limitData":    r.LimitData,
		"limitSeconds": r.LimitDuration.Seconds(),
	})
}

func isRelayed(c network.Conn) bool {
	_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// directConn waits for a connection to p that does not go through a relay.
func directConn(ctx context.Context, h host.Host, p peer.ID) (network.Conn, error) {
	found := make(chan network.Conn, 1)
	bundle := &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if c.RemotePeer() == p && !isRelayed(c) {
			select {
			case found <- c:
			default:
			}
		}
	}}
	h.Network().Notify(bundle)
	defer h.Network().StopNotify(bundle)
	for _, c := range h.Network().ConnsToPeer(p) {
		if !isRelayed(c) {
			return c, nil
		}
	}
	select {
	case c := <-found:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// runHolePunch is the dialing side of a hole punch: main has dialed the
// peer through the relay; this waits for DCUtR's direct connection, prints
// {"event":"direct","ms":N,"remoteAddr":"…"} (N from the start of the
// relayed dial), then pings (--count, default 1) and echoes (--bytes,
// default 1 MiB) over it, then {"event":"echoed","ms":N}.
func runHolePunch(ctx context.Context, h host.Host, ids *identified, p peer.ID, o options) error {
	wait, cancel := context.WithTimeout(ctx, time.Duration(o.directTimeoutMs)*time.Millisecond)
	defer cancel()
	c, err := directConn(wait, h, p)
	if err != nil {
		return fmt.Errorf("no direct connection within %d ms: %w", o.directTimeoutMs, err)
	}
	emit(map[string]any{"event": "direct", "ms": ms(time.Since(dialStarted)), "remoteAddr": c.RemoteMultiaddr().String()})
	if err := runPing(ctx, h, ids, p, options{count: or(o.count, 1)}); err != nil {
		return err
	}
	start := time.Now()
	if err := runEcho(ctx, h, ids, p, o); err != nil {
		return err
	}
	emit(map[string]any{"event": "echoed", "ms": ms(time.Since(start))})
	return nil
}
