//! The stream protocols, both sides: echo (`/echo/1.0.0`) and perf (`/perf/1.0.0`,
//! the test-plans wire format). Ping is libp2p-ping's behaviour.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{AsyncReadExt as _, AsyncWriteExt as _};
use libp2p::{swarm::Stream, StreamProtocol};
use sha2::{Digest as _, Sha256};

pub const ECHO: StreamProtocol = StreamProtocol::new("/echo/1.0.0");
pub const PERF: StreamProtocol = StreamProtocol::new("/perf/1.0.0");

const CHUNK: usize = 64 * 1024;

/// xorshift64*: payload bytes only need to differ run to run, not be secret.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        Rng(nanos ^ 0x9e37_79b9_7f4a_7c15 ^ ((std::process::id() as u64) << 32))
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let word = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        self.fill(&mut buf);
        buf
    }
}

fn io(what: &str, e: std::io::Error) -> String {
    format!("{what}: {e}")
}

/// Server: copy every byte back until the remote closes its write side, then close ours.
pub async fn serve_echo(mut stream: Stream) -> Result<(), String> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| io("echo read", e))?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).await.map_err(|e| io("echo write", e))?;
    }
    stream.close().await.map_err(|e| io("echo close", e))
}

/// Server: read the u64 the client wants back, discard its upload until EOF, send, close.
pub async fn serve_perf(mut stream: Stream) -> Result<(), String> {
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).await.map_err(|e| io("perf read header", e))?;
    let mut remaining = u64::from_be_bytes(header);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| io("perf read", e))?;
        if n == 0 {
            break;
        }
    }
    while remaining > 0 {
        let n = remaining.min(CHUNK as u64) as usize;
        stream.write_all(&buf[..n]).await.map_err(|e| io("perf write", e))?;
        remaining -= n as u64;
    }
    stream.close().await.map_err(|e| io("perf close", e))
}

/// What an echo round came to.
pub struct Echoed {
    pub sent_sha256: String,
    pub echo_sha256: String,
    pub received: usize,
}

/// Client: write `payload` while reading the echo, close the write side after it,
/// read to EOF. Reading and writing run together so a large payload cannot stall
/// on both sides' windows.
pub async fn echo(stream: Stream, payload: &[u8]) -> Result<Echoed, String> {
    let (mut reader, mut writer) = stream.split();
    let write = async {
        for chunk in payload.chunks(CHUNK) {
            writer.write_all(chunk).await.map_err(|e| io("echo write", e))?;
        }
        writer.close().await.map_err(|e| io("echo close", e))
    };
    let read = async {
        let mut hash = Sha256::new();
        let mut received = 0usize;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = reader.read(&mut buf).await.map_err(|e| io("echo read", e))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            received += n;
        }
        Ok::<_, String>((hash, received))
    };
    let (written, read) = futures::join!(write, read);
    written?;
    let (hash, received) = read?;
    Ok(Echoed {
        sent_sha256: crate::out::hex(&Sha256::digest(payload)),
        echo_sha256: crate::out::hex(&hash.finalize()),
        received,
    })
}

/// Client: an echo stream that keeps writing `step` bytes every `every` and reads the
/// echo back, until the stream or its connection ends; for scenarios that need streams
/// open when a connection is cut.
pub async fn slow_echo(stream: Stream, step: usize, every: Duration) {
    let (mut reader, mut writer) = stream.split();
    let write = async {
        let mut rng = Rng::new();
        let mut buf = vec![0u8; step];
        loop {
            rng.fill(&mut buf);
            if writer.write_all(&buf).await.is_err() {
                break;
            }
            tokio::time::sleep(every).await;
        }
    };
    let read = async {
        let mut buf = vec![0u8; CHUNK];
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    futures::join!(write, read);
}

/// Client: one perf request; returns the seconds it took, stream negotiation included.
pub async fn perf(stream: Stream, upload: u64, download: u64, started: Instant) -> Result<f64, String> {
    let (mut reader, mut writer) = stream.split();
    let write = async {
        writer.write_all(&download.to_be_bytes()).await.map_err(|e| io("perf write header", e))?;
        let buf = vec![0u8; CHUNK];
        let mut left = upload;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            writer.write_all(&buf[..n]).await.map_err(|e| io("perf write", e))?;
            left -= n as u64;
        }
        writer.close().await.map_err(|e| io("perf close", e))
    };
    let read = async {
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0u64;
        loop {
            let n = reader.read(&mut buf).await.map_err(|e| io("perf read", e))?;
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        Ok::<_, String>(got)
    };
    let (written, got) = futures::join!(write, read);
    written?;
    let got = got?;
    if got != download {
        return Err(format!("perf: asked for {download} bytes, got {got}"));
    }
    Ok(started.elapsed().as_secs_f64())
}
