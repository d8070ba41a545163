//! rx-tcp's interop peer on rust-libp2p: TCP + noise + yamux, identify, ping, echo and
//! perf. Flags, scenarios and output lines follow test/interop/PEERS.md exactly.

mod out;
mod protocols;
mod streams;

use std::{process::exit, str::FromStr, time::{Duration, Instant}};

use futures::StreamExt as _;
use libp2p::{
    identify, identity, multiaddr::Protocol, noise, ping,
    swarm::{ConnectionId, NetworkBehaviour, SwarmEvent},
    tcp, yamux, Multiaddr, PeerId, Swarm,
};
use tokio::{io::AsyncReadExt as _, sync::mpsc};

use out::{event, fail, list, ms, s};

const USAGE: &str = "usage: rust-peer --listen <multiaddr> [--close-inbound-after-ms N] [--open-streams N] [--seed N]
       rust-peer --dial <multiaddr>/p2p/<id> --run ping|echo|streams|identify|hold|perf|abandon
                 [--count N] [--bytes N] [--download N] [--hold-ms N] [--seed N]";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Run { Ping, Echo, Streams, Identify, Hold, Perf, Abandon }

#[derive(Debug)]
struct Opts {
    listen: Option<Multiaddr>,
    dial: Option<Multiaddr>,
    run: Option<Run>,
    count: Option<u64>,
    bytes: Option<u64>,
    download: Option<u64>,
    hold_ms: Option<u64>,
    seed: Option<u8>,
    close_inbound_after_ms: Option<u64>,
    open_streams: u64,
}

fn usage_error(message: &str) -> ! {
    eprintln!("{message}\n{USAGE}");
    exit(2)
}

fn parse_args() -> Opts {
    let mut opts = Opts {
        listen: None, dial: None, run: None, count: None, bytes: None, download: None,
        hold_ms: None, seed: None, close_inbound_after_ms: None, open_streams: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            exit(0)
        }
        let value = args.next().unwrap_or_else(|| usage_error(&format!("{flag} needs a value")));
        let number = || u64::from_str(&value).unwrap_or_else(|_| usage_error(&format!("{flag}: not a number: {value}")));
        let addr = || Multiaddr::from_str(&value).unwrap_or_else(|e| usage_error(&format!("{flag}: bad multiaddr {value}: {e}")));
        match flag.as_str() {
            "--listen" => opts.listen = Some(addr()),
            "--dial" => opts.dial = Some(addr()),
            "--run" => opts.run = Some(match value.as_str() {
                "ping" => Run::Ping, "echo" => Run::Echo, "streams" => Run::Streams,
                "identify" => Run::Identify, "hold" => Run::Hold, "perf" => Run::Perf,
                "abandon" => Run::Abandon,
                other => usage_error(&format!("--run: unknown scenario {other}")),
            }),
            "--count" => opts.count = Some(number()),
            "--bytes" => opts.bytes = Some(number()),
            "--download" => opts.download = Some(number()),
            "--hold-ms" => opts.hold_ms = Some(number()),
            "--seed" => opts.seed = Some(u8::try_from(number()).unwrap_or_else(|_| usage_error("--seed: 0..255"))),
            "--close-inbound-after-ms" => opts.close_inbound_after_ms = Some(number()),
            "--open-streams" => opts.open_streams = number(),
            other => usage_error(&format!("unknown option {other}")),
        }
    }
    match (&opts.listen, &opts.dial, opts.run) {
        (Some(_), None, None) | (None, Some(_), Some(_)) => opts,
        (Some(_), Some(_), _) => usage_error("--listen and --dial exclude each other"),
        (None, Some(_), None) => usage_error("--dial needs --run"),
        (Some(_), None, Some(_)) => usage_error("--run goes with --dial"),
        (None, None, _) => usage_error("--listen or --dial is required"),
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    streams: streams::Behaviour,
}

/// What scenario tasks tell the swarm loop.
enum Ctl {
    /// close this connection now (listener: `--close-inbound-after-ms`)
    Close(ConnectionId),
    /// `hold`: close the connection, then report how many streams were open
    CloseAndReport(ConnectionId, u64),
    /// the dial-side scenario is over
    Finished(Result<(), String>),
}

/// `/p2p/<id>` taken off the end of an address, and the id.
fn split_peer(addr: &Multiaddr) -> (Multiaddr, Option<PeerId>) {
    let mut base = addr.clone();
    match base.pop() {
        Some(Protocol::P2p(id)) => (base, Some(id)),
        _ => (addr.clone(), None),
    }
}

fn main() {
    let opts = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("tokio runtime: {e}")));
    let code = runtime.block_on(run(opts));
    exit(code)
}

async fn run(opts: Opts) -> i32 {
    if opts.run == Some(Run::Abandon) {
        let (addr, _) = split_peer(opts.dial.as_ref().expect("checked in parse_args"));
        if let Err(e) = abandon(&addr).await {
            fail(&e)
        }
        event("abandoned", &[]);
        event("done", &[]);
        return 0;
    }

    let key = match opts.seed {
        Some(n) => identity::Keypair::ed25519_from_bytes([n; 32]).unwrap_or_else(|e| fail(&format!("seed key: {e}"))),
        None => identity::Keypair::generate_ed25519(),
    };
    let local = key.public().to_peer_id();
    let agent = format!("rx-tcp-interop/rust/{}", env!("LIBP2P_VERSION"));

    // SO_LINGER 0 makes the close an RST, as go-libp2p does on every connection; only the
    // scenarios that cut connections ask for it, the others close with a FIN
    let abrupt = opts.run == Some(Run::Hold) || opts.close_inbound_after_ms.is_some();
    let tcp_config = tcp::Config::new().nodelay(true).linger(abrupt.then_some(Duration::ZERO));

    let (streams, opener, mut inbound) = streams::Behaviour::new(vec![protocols::ECHO, protocols::PERF]);
    let mut swarm: Swarm<Behaviour> = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp_config, noise::Config::new, yamux::Config::default)
        .unwrap_or_else(|e| fail(&format!("transport: {e}")))
        .with_behaviour(|key| Behaviour {
            identify: identify::Behaviour::new(
                identify::Config::new("/ipfs/id/1.0.0".to_string(), key.public()).with_agent_version(agent.clone()),
            ),
            // --run ping counts the ping behaviour's own round trips, one every 50 ms; rust-libp2p
            // answers one inbound ping stream per connection and drops the older one when another
            // comes, so a second ping stream of ours would race the behaviour's
            ping: ping::Behaviour::new(if opts.run == Some(Run::Ping) {
                ping::Config::new().with_interval(Duration::from_millis(50)).with_timeout(Duration::from_secs(10))
            } else {
                ping::Config::new()
            }),
            streams,
        })
        .unwrap_or_else(|e| fail(&format!("behaviour: {e}")))
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();

    // inbound streams of every protocol we serve, whatever the role
    tokio::spawn(async move {
        while let Some(streams::Inbound { peer, protocol, stream }) = inbound.recv().await {
            tokio::spawn(async move {
                let served = if protocol == protocols::ECHO {
                    protocols::serve_echo(stream).await
                } else {
                    protocols::serve_perf(stream).await
                };
                // a remote that resets or drops its connection mid-stream is a scenario, not our failure
                if let Err(e) = served {
                    eprintln!("{protocol} from {peer}: {e}");
                }
            });
        }
    });

    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel::<Ctl>();
    let mut remote: Option<(PeerId, ConnectionId)> = None;
    let mut started = false;
    let mut finishing = false;
    let mut report_closed: Option<u64> = None;
    let mut pings_left = 0u64;
    let mut listen_printed = false;
    let mut stop_deadline: std::pin::Pin<Box<tokio::time::Sleep>> = Box::pin(tokio::time::sleep(Duration::from_secs(15)));
    let mut stdin_closed = Box::pin(stdin_eof());
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .unwrap_or_else(|e| fail(&format!("SIGTERM handler: {e}")));
    let listening = opts.listen.is_some();
    let unspecified = opts.listen.as_ref().is_some_and(|a| a.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    }));
    let mut listen_addrs: Vec<String> = Vec::new();
    let mut listen_gather: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;

    if let Some(addr) = &opts.listen {
        if let Err(e) = swarm.listen_on(addr.clone()) {
            fail(&format!("listen on {addr}: {e}"))
        }
    }
    if let Some(addr) = &opts.dial {
        if let Err(e) = swarm.dial(addr.clone()) {
            fail(&format!("dial {addr}: {e}"))
        }
    }

    loop {
        tokio::select! {
            swarm_event = swarm.select_next_some() => match swarm_event {
                SwarmEvent::NewListenAddr { address, .. } => {
                    if !listen_printed {
                        listen_addrs.push(address.with(Protocol::P2p(local)).to_string());
                        if !unspecified {
                            listen_printed = true;
                            event("listening", &[("peerId", s(&local.to_string())), ("addrs", list(&listen_addrs))]);
                        } else if listen_gather.is_none() {
                            // 0.0.0.0 / :: yields one address per interface, reported one by one
                            listen_gather = Some(Box::pin(tokio::time::sleep(Duration::from_millis(200))));
                        }
                    }
                }
                SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, .. } => {
                    let (remote_addr, _) = split_peer(endpoint.get_remote_address());
                    let direction = if endpoint.is_dialer() { "outbound" } else { "inbound" };
                    event("connected", &[
                        ("peerId", s(&peer_id.to_string())),
                        ("remoteAddr", s(&remote_addr.to_string())),
                        ("direction", s(direction)),
                    ]);
                    if listening {
                        on_inbound(&opts, connection_id, &opener, &ctl_tx);
                    } else if !started {
                        started = true;
                        remote = Some((peer_id, connection_id));
                        let run = opts.run.expect("dial has a scenario");
                        if run == Run::Ping {
                            pings_left = opts.count.unwrap_or(10);
                            if pings_left == 0 {
                                let _ = ctl_tx.send(Ctl::Finished(Ok(())));
                            }
                        } else if run == Run::Identify {
                            // bounded: a remote that never answers identify fails the scenario
                            let ctl = ctl_tx.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(Duration::from_secs(15)).await;
                                let _ = ctl.send(Ctl::Finished(Err("no identify from the remote within 15 s".to_string())));
                            });
                        } else {
                            let (opener, ctl, scenario) = (opener.clone(), ctl_tx.clone(), Scenario::from(&opts));
                            tokio::spawn(async move {
                                let result = scenario.run(run, connection_id, &opener, &ctl).await;
                                let _ = ctl.send(Ctl::Finished(result));
                            });
                        }
                    }
                }
                SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
                    if let Some(e) = &cause {
                        eprintln!("connection to {peer_id} closed: {e}");
                    }
                    event("disconnected", &[("peerId", s(&peer_id.to_string()))]);
                    if !listening {
                        if let Some(streams) = report_closed.take() {
                            event("closed", &[("streams", streams.to_string())]);
                            finishing = true;
                        }
                        if finishing && !swarm.is_connected(&peer_id) {
                            event("done", &[]);
                            return 0;
                        }
                    }
                }
                SwarmEvent::OutgoingConnectionError { error, .. } if !listening && !started => {
                    fail(&format!("dial {}: {error}", opts.dial.as_ref().map(|a| a.to_string()).unwrap_or_default()))
                }
                SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                    eprintln!("incoming connection from {send_back_addr} failed: {error}");
                }
                SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                    event("identify", &[
                        ("peerId", s(&peer_id.to_string())),
                        ("agentVersion", s(&info.agent_version)),
                        ("protocols", list(info.protocols.iter().map(|p| p.to_string()))),
                        ("observedAddr", s(&info.observed_addr.to_string())),
                        ("listenAddrs", list(info.listen_addrs.iter().map(|a| a.to_string()))),
                    ]);
                    if opts.run == Some(Run::Identify) && remote.map(|r| r.0) == Some(peer_id) && !finishing {
                        // stay connected a moment, so that the remote's identify of us completes before we close
                        let (ctl, hold) = (ctl_tx.clone(), Duration::from_millis(opts.hold_ms.unwrap_or(500)));
                        tokio::spawn(async move {
                            tokio::time::sleep(hold).await;
                            let _ = ctl.send(Ctl::Finished(Ok(())));
                        });
                    }
                }
                SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, connection, result })) => {
                    if pings_left > 0 && remote.map(|r| r.1) == Some(connection) {
                        match result {
                            Ok(rtt) => {
                                event("ping", &[("rttMs", ms(rtt.as_secs_f64()))]);
                                pings_left -= 1;
                                if pings_left == 0 {
                                    let _ = ctl_tx.send(Ctl::Finished(Ok(())));
                                }
                            }
                            Err(e) => {
                                pings_left = 0;
                                let _ = ctl_tx.send(Ctl::Finished(Err(format!("ping {peer}: {e}"))));
                            }
                        }
                    }
                }
                SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Error { peer_id, error, .. })) => {
                    eprintln!("identify with {peer_id}: {error}");
                }
                _ => {}
            },
            Some(ctl) = ctl_rx.recv() => match ctl {
                Ctl::Close(conn) => {
                    swarm.close_connection(conn);
                }
                Ctl::CloseAndReport(conn, streams) => {
                    report_closed = Some(streams);
                    stop_deadline = Box::pin(tokio::time::sleep(Duration::from_secs(5)));
                    if !swarm.close_connection(conn) {
                        event("closed", &[("streams", streams.to_string())]);
                        event("done", &[]);
                        return 0;
                    }
                }
                Ctl::Finished(Err(e)) if !finishing => fail(&e),
                Ctl::Finished(Err(_)) => {}
                Ctl::Finished(Ok(())) if !finishing => {
                    // leave with a clean close, so the remote sees the connection end rather than the process
                    finishing = true;
                    stop_deadline = Box::pin(tokio::time::sleep(Duration::from_secs(5)));
                    let (peer, _) = remote.expect("a scenario runs on a connection");
                    if swarm.disconnect_peer_id(peer).is_err() || !swarm.is_connected(&peer) {
                        event("done", &[]);
                        return 0;
                    }
                }
                Ctl::Finished(Ok(())) => {}
            },
            _ = &mut stop_deadline, if !listening && (!started || finishing || report_closed.is_some()) => {
                if finishing || report_closed.is_some() {
                    // the close did not complete in time: the scenario is still done
                    eprintln!("connection close did not finish within 5 s");
                    if let Some(streams) = report_closed.take() {
                        event("closed", &[("streams", streams.to_string())]);
                    }
                    event("done", &[]);
                    return 0;
                }
                fail(&format!("no connection to {} within 15 s", opts.dial.as_ref().map(|a| a.to_string()).unwrap_or_default()))
            }
            _ = async { listen_gather.as_mut().expect("guarded").await }, if listen_gather.is_some() && !listen_printed => {
                listen_printed = true;
                event("listening", &[("peerId", s(&local.to_string())), ("addrs", list(&listen_addrs))]);
            }
            _ = &mut stdin_closed, if listening => return 0,
            _ = sigterm.recv() => return 0,
        }
    }
}

/// Resolves when stdin reaches EOF (the harness that started us went away).
async fn stdin_eof() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 256];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// Listener options that act on each inbound connection.
fn on_inbound(opts: &Opts, conn: ConnectionId, opener: &streams::Opener, ctl: &mpsc::UnboundedSender<Ctl>) {
    for _ in 0..opts.open_streams {
        let opener = opener.clone();
        tokio::spawn(async move {
            match opener.open(conn, protocols::ECHO).await {
                Ok(stream) => protocols::slow_echo(stream, 1024, Duration::from_millis(50)).await,
                Err(e) => eprintln!("--open-streams: {e}"),
            }
        });
    }
    if let Some(after) = opts.close_inbound_after_ms {
        let ctl = ctl.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(after)).await;
            let _ = ctl.send(Ctl::Close(conn));
        });
    }
}

/// The dial-side scenario parameters, with the defaults of PEERS.md.
#[derive(Clone, Copy)]
struct Scenario {
    count: Option<u64>,
    bytes: Option<u64>,
    download: u64,
    hold_ms: u64,
}

impl From<&Opts> for Scenario {
    fn from(o: &Opts) -> Self {
        Scenario { count: o.count, bytes: o.bytes, download: o.download.unwrap_or(0), hold_ms: o.hold_ms.unwrap_or(1000) }
    }
}

impl Scenario {
    async fn run(self, run: Run, conn: ConnectionId, opener: &streams::Opener, ctl: &mpsc::UnboundedSender<Ctl>) -> Result<(), String> {
        match run {
            Run::Echo => {
                let payload = protocols::Rng::new().bytes(self.bytes.unwrap_or(1 << 20) as usize);
                let stream = opener.open(conn, protocols::ECHO).await?;
                let echoed = protocols::echo(stream, &payload).await?;
                event("echo", &[
                    ("bytes", payload.len().to_string()),
                    ("sha256", s(&echoed.sent_sha256)),
                    ("echoSha256", s(&echoed.echo_sha256)),
                ]);
                if echoed.echo_sha256 != echoed.sent_sha256 {
                    return Err(format!("echo: sent {} bytes, got {} back, different content", payload.len(), echoed.received));
                }
                Ok(())
            }
            Run::Streams => {
                let count = self.count.unwrap_or(64);
                let bytes = self.bytes.unwrap_or(16 * 1024) as usize;
                let rounds = (0..count).map(|_| {
                    let opener = opener.clone();
                    tokio::spawn(async move {
                        let payload = protocols::Rng::new().bytes(bytes);
                        let stream = opener.open(conn, protocols::ECHO).await?;
                        let echoed = protocols::echo(stream, &payload).await?;
                        Ok::<bool, String>(echoed.echo_sha256 == echoed.sent_sha256)
                    })
                }).collect::<Vec<_>>();
                let mut ok = 0u64;
                let mut first_error = None;
                for round in rounds {
                    match round.await {
                        Ok(Ok(true)) => ok += 1,
                        Ok(Ok(false)) => first_error = first_error.or(Some("echo content differs".to_string())),
                        Ok(Err(e)) => first_error = first_error.or(Some(e)),
                        Err(e) => first_error = first_error.or(Some(e.to_string())),
                    }
                }
                event("streams", &[("count", count.to_string()), ("ok", ok.to_string())]);
                match first_error {
                    Some(e) => Err(format!("streams: {ok}/{count} ok, first failure: {e}")),
                    None => Ok(()),
                }
            }
            Run::Hold => {
                let count = self.count.unwrap_or(8);
                let ended = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
                for _ in 0..count {
                    let stream = opener.open(conn, protocols::ECHO).await?;
                    let ended = ended.clone();
                    tokio::spawn(async move {
                        protocols::slow_echo(stream, 1024, Duration::from_millis(50)).await;
                        ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    });
                }
                tokio::time::sleep(Duration::from_millis(self.hold_ms)).await;
                // the streams still open when the connection is cut
                let open = count - ended.load(std::sync::atomic::Ordering::SeqCst);
                let _ = ctl.send(Ctl::CloseAndReport(conn, open));
                // the swarm loop ends the process once the connection is closed
                std::future::pending::<()>().await;
                Ok(())
            }
            Run::Perf => {
                let count = self.count.unwrap_or(1);
                let upload = self.bytes.unwrap_or(0);
                let mut times = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    let started = Instant::now();
                    let stream = opener.open(conn, protocols::PERF).await?;
                    let seconds = protocols::perf(stream, upload, self.download, started).await?;
                    event("perf", &[
                        ("upload", upload.to_string()),
                        ("download", self.download.to_string()),
                        ("seconds", format!("{seconds:.6}")),
                    ]);
                    times.push(seconds);
                }
                if count > 1 {
                    times.sort_by(|a, b| a.total_cmp(b));
                    // linear interpolation between ranks, as the go peer computes them
                    let quantile = |q: f64| {
                        let pos = q * (times.len() - 1) as f64;
                        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                        times[lo] + (times[hi] - times[lo]) * (pos - lo as f64)
                    };
                    event("perf-summary", &[
                        ("count", count.to_string()),
                        ("medianMs", ms(quantile(0.5))),
                        ("p95Ms", ms(quantile(0.95))),
                    ]);
                }
                Ok(())
            }
            Run::Ping | Run::Identify | Run::Abandon => unreachable!("handled by the swarm loop"),
        }
    }
}

/// Raw TCP: multistream-select `/noise`, a truncated first noise frame, then an RST.
async fn abandon(addr: &Multiaddr) -> Result<(), String> {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    let (Some(ip), Some(port)) = (ip, port) else {
        return Err(format!("abandon: {addr} is not an ip4/ip6 tcp address"));
    };
    use tokio::io::AsyncWriteExt as _;
    let bounded = Duration::from_secs(5);
    let mut socket = tokio::time::timeout(bounded, tokio::net::TcpStream::connect((ip, port)))
        .await
        .map_err(|_| format!("abandon: connect to {addr} timed out"))?
        .map_err(|e| format!("abandon: connect to {addr}: {e}"))?;
    socket.write_all(b"\x13/multistream/1.0.0\n\x07/noise\n").await.map_err(|e| format!("abandon: write: {e}"))?;
    // wait until the listener agrees to /noise, so the cut falls inside the noise handshake
    let mut seen = Vec::new();
    let agreed = tokio::time::timeout(bounded, async {
        let mut buf = [0u8; 256];
        loop {
            let n = socket.read(&mut buf).await.map_err(|e| format!("abandon: read: {e}"))?;
            if n == 0 {
                return Err("abandon: the listener closed during multistream-select".to_string());
            }
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(7).any(|w| w == b"/noise\n") {
                return Ok(());
            }
            if seen.windows(3).any(|w| w == b"na\n") {
                return Err("abandon: the listener refused /noise".to_string());
            }
        }
    }).await;
    agreed.map_err(|_| "abandon: no multistream answer within 5 s".to_string())??;
    // a noise frame announcing 32 bytes (the initiator's ephemeral key), of which 4 come
    socket.write_all(&[0x00, 0x20, 0x5a, 0x5a, 0x5a, 0x5a]).await.map_err(|e| format!("abandon: write: {e}"))?;
    socket.flush().await.map_err(|e| format!("abandon: flush: {e}"))?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    socket2::SockRef::from(&socket).set_linger(Some(Duration::ZERO)).map_err(|e| format!("abandon: linger: {e}"))?;
    drop(socket);
    Ok(())
}
