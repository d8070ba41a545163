package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multistream"
)

const (
	echoID protocol.ID = "/echo/1.0.0"
	// perfID is the protocol of libp2p's test-plans perf: the client writes
	// an 8-byte big-endian u64 N, its upload bytes, then closes its write
	// side; the server discards until EOF, then writes N bytes and closes.
	perfID protocol.ID = "/perf/1.0.0"
	// chunk is how much perf and echo move per write, yamux's frame size
	// being the real unit on the wire
	chunk = 64 << 10
)

// serve registers the server sides this peer offers whatever its role;
// identify and ping come with the host.
func serve(h host.Host) {
	h.SetStreamHandler(echoID, handleEcho)
	h.SetStreamHandler(perfID, handlePerf)
}

// handleEcho copies every byte back until the remote closes its write side,
// then closes its own.
func handleEcho(s network.Stream) {
	if _, err := io.Copy(s, s); err != nil {
		logf("echo from %s: %v", s.Conn().RemotePeer(), err)
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

// handlePerf is the perf server: read N, discard the upload until EOF, then
// send N bytes and close.
func handlePerf(s network.Stream) {
	var hdr [8]byte
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		logf("perf from %s: header: %v", s.Conn().RemotePeer(), err)
		_ = s.Reset()
		return
	}
	if _, err := io.Copy(io.Discard, s); err != nil {
		logf("perf from %s: upload: %v", s.Conn().RemotePeer(), err)
		_ = s.Reset()
		return
	}
	if err := writeZeros(s, binary.BigEndian.Uint64(hdr[:]), nil); err != nil {
		logf("perf from %s: download: %v", s.Conn().RemotePeer(), err)
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

var zeros = make([]byte, chunk)

// writeZeros writes n zero bytes, the first write prefixed with head (so a
// one-byte perf request goes out as one frame with its header).
func writeZeros(w io.Writer, n uint64, head []byte) error {
	first := true
	for n > 0 || first {
		take := uint64(chunk)
		if n < take {
			take = n
		}
		buf := zeros[:take]
		if first && len(head) > 0 {
			buf = append(append(make([]byte, 0, len(head)+int(take)), head...), buf...)
		}
		first = false
		if len(buf) > 0 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		n -= take
	}
	return nil
}

// perfRequest runs one perf request on a new stream and returns how long
// it took, from opening the stream to the end of the download.
func perfRequest(ctx context.Context, h host.Host, p peer.ID, upload, download uint64) (time.Duration, error) {
	start := time.Now()
	s, err := h.NewStream(ctx, p, perfID)
	if err != nil {
		return 0, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(deadline)
	}
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], download)
	if err := writeZeros(s, upload, hdr[:]); err != nil {
		_ = s.Reset()
		return 0, fmt.Errorf("upload: %w", err)
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return 0, fmt.Errorf("close write: %w", err)
	}
	got, err := io.Copy(io.Discard, s)
	if err != nil {
		_ = s.Reset()
		return 0, fmt.Errorf("download after %d bytes: %w", got, err)
	}
	elapsed := time.Since(start)
	_ = s.Close()
	if uint64(got) != download {
		return 0, fmt.Errorf("download: got %d bytes, asked for %d", got, download)
	}
	return elapsed, nil
}

// openSlowStreams opens n echo streams towards the dialer of c and writes to
// them slowly, so that they are open when the connection closes under them.
func openSlowStreams(c network.Conn, n int) {
	for i := 0; i < n; i++ {
		s, err := c.NewStream(context.Background())
		if err != nil {
			logf("open stream %d towards %s: %v", i, c.RemotePeer(), err)
			return
		}
		if err := multistream.SelectProtoOrFail(echoID, s); err != nil {
			logf("select %s on stream %d towards %s: %v", echoID, i, c.RemotePeer(), err)
			_ = s.Reset()
			return
		}
		_ = s.SetProtocol(echoID)
		go trickle(s, nil)
	}
}

// trickle writes 1 KiB every 50 ms to an echo stream and discards what comes
// back, until the stream fails; it reports on dead when it does.
func trickle(s network.Stream, dead chan<- struct{}) {
	go func() { _, _ = io.Copy(io.Discard, s) }()
	buf := make([]byte, 1024)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if _, err := s.Write(buf); err != nil {
			_ = s.Reset()
			if dead != nil {
				dead <- struct{}{}
			}
			return
		}
	}
}
