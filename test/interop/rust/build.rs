//! Puts the locked libp2p version in LIBP2P_VERSION, for the agent version
//! `rx-tcp-interop/rust/<libp2p version>` that PEERS.md asks for.

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut lines = lock.lines();
    let mut version = "unknown".to_string();
    while let Some(line) = lines.next() {
        if line == "name = \"libp2p\"" {
            if let Some(next) = lines.next() {
                version = next.trim_start_matches("version = \"").trim_end_matches('"').to_string();
            }
            break;
        }
    }
    println!("cargo:rustc-env=LIBP2P_VERSION={version}");
}
