//! A tiny stream behaviour: every inbound stream on one of our protocols goes to an
//! unbounded channel, and any number of outbound streams can be opened at once.
//!
//! Why not `libp2p-stream`: its inbound channel has a single slot per protocol and
//! drops ("Channel is full, dropping inbound stream") any stream that negotiates
//! while the slot is taken, so 64 streams opened at once by the remote lose some;
//! and it opens one outbound stream at a time per connection. An interop peer
//! must take whatever the other side opens.

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    fmt,
    future::{ready, Ready},
    task::{Context, Poll, Waker},
    time::Duration,
};

use futures::channel::oneshot;
use libp2p::{
    core::{transport::PortUse, Endpoint, InboundUpgrade, OutboundUpgrade, UpgradeInfo},
    swarm::{
        handler::{ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound},
        ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
        NetworkBehaviour, NotifyHandler, Stream, StreamProtocol, SubstreamProtocol, THandler,
        THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
    Multiaddr, PeerId,
};
use tokio::sync::mpsc;

/// An inbound stream, negotiated on one of the protocols we serve.
pub struct Inbound {
    pub peer: PeerId,
    pub protocol: StreamProtocol,
    pub stream: Stream,
}

/// The answer to an open request: the stream, or why it could not be opened.
pub type OpenResult = Result<Stream, String>;

/// A request to open an outbound stream on a given connection.
pub struct OpenRequest {
    conn: ConnectionId,
    protocol: StreamProtocol,
    reply: oneshot::Sender<OpenResult>,
}

impl fmt::Debug for OpenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpenRequest({:?}, {})", self.conn, self.protocol)
    }
}

/// A cloneable handle that opens outbound streams through the behaviour.
#[derive(Clone)]
pub struct Opener {
    tx: mpsc::UnboundedSender<OpenRequest>,
}

impl Opener {
    /// Opens a stream for `protocol` on connection `conn`.
    pub async fn open(&self, conn: ConnectionId, protocol: StreamProtocol) -> OpenResult {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(OpenRequest { conn, protocol: protocol.clone(), reply })
            .map_err(|_| "swarm is gone".to_string())?;
        answer
            .await
            .map_err(|_| format!("connection closed before {protocol} was negotiated"))?
    }
}

/// The behaviour: one [`Handler`] per connection.
pub struct Behaviour {
    protocols: Vec<StreamProtocol>,
    inbound: mpsc::UnboundedSender<Inbound>,
    requests: mpsc::UnboundedReceiver<OpenRequest>,
    connections: HashMap<ConnectionId, PeerId>,
}

impl Behaviour {
    /// A behaviour serving `protocols`, its opener, and the channel inbound streams arrive on.
    pub fn new(protocols: Vec<StreamProtocol>) -> (Self, Opener, mpsc::UnboundedReceiver<Inbound>) {
        let (inbound, inbound_rx) = mpsc::unbounded_channel();
        let (tx, requests) = mpsc::unbounded_channel();
        let behaviour = Behaviour { protocols, inbound, requests, connections: HashMap::new() };
        (behaviour, Opener { tx }, inbound_rx)
    }

    fn handler(&self, peer: PeerId) -> Handler {
        Handler {
            peer,
            protocols: self.protocols.clone(),
            inbound: self.inbound.clone(),
            queue: VecDeque::new(),
            waker: None,
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                self.connections.insert(e.connection_id, e.peer_id);
            }
            FromSwarm::ConnectionClosed(e) => {
                self.connections.remove(&e.connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        while let Poll::Ready(Some(request)) = self.requests.poll_recv(cx) {
            match self.connections.get(&request.conn) {
                Some(peer) => {
                    return Poll::Ready(ToSwarm::NotifyHandler {
                        peer_id: *peer,
                        handler: NotifyHandler::One(request.conn),
                        event: request,
                    })
                }
                None => {
                    let _ = request.reply.send(Err("not connected".to_string()));
                }
            }
        }
        Poll::Pending
    }
}

/// Per connection: hands negotiated inbound streams to the channel, and asks the
/// swarm for one outbound stream per queued request (all may be in flight at once).
pub struct Handler {
    peer: PeerId,
    protocols: Vec<StreamProtocol>,
    inbound: mpsc::UnboundedSender<Inbound>,
    queue: VecDeque<OpenRequest>,
    waker: Option<Waker>,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = OpenRequest;
    type ToBehaviour = Infallible;
    type InboundProtocol = Protocols;
    type OutboundProtocol = Protocols;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = oneshot::Sender<OpenResult>;

    fn listen_protocol(&self) -> SubstreamProtocol<Protocols> {
        SubstreamProtocol::new(Protocols(self.protocols.clone()), ())
    }

    // the scenarios decide when a connection ends, not an idle timer
    fn connection_keep_alive(&self) -> bool {
        true
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Protocols, oneshot::Sender<OpenResult>, Infallible>> {
        if let Some(request) = self.queue.pop_front() {
            let protocol = SubstreamProtocol::new(Protocols(vec![request.protocol]), request.reply)
                .with_timeout(Duration::from_secs(30));
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { protocol });
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, request: OpenRequest) {
        self.queue.push_back(request);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Protocols, Protocols, (), oneshot::Sender<OpenResult>>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: (stream, protocol), ..
            }) => {
                let _ = self.inbound.send(Inbound { peer: self.peer, protocol, stream });
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: (stream, _), info: reply,
            }) => {
                let _ = reply.send(Ok(stream));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info: reply, error }) => {
                let _ = reply.send(Err(error.to_string()));
            }
            _ => {}
        }
    }
}

/// The upgrade: multistream-select over a list of protocols, nothing after it.
#[derive(Debug, Clone)]
pub struct Protocols(Vec<StreamProtocol>);

impl UpgradeInfo for Protocols {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Protocols {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Infallible>>;

    fn upgrade_inbound(self, stream: Stream, protocol: StreamProtocol) -> Self::Future {
        ready(Ok((stream, protocol)))
    }
}

impl OutboundUpgrade<Stream> for Protocols {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<Result<Self::Output, Infallible>>;

    fn upgrade_outbound(self, stream: Stream, protocol: StreamProtocol) -> Self::Future {
        ready(Ok((stream, protocol)))
    }
}
