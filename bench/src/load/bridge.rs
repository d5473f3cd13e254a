//! Raw TCP workers for the bridge scenarios: length-prefixed frames (a 4-byte big-endian
//! length, then the payload) echoed back by the bridge upstream, HAProxy's `mode tcp`
//! frontend or the plain TCP echo server, which all answer a frame with the same bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::args::{LoadArgs, CONNECT_TIMEOUT};
use super::phase::Phase;
use super::tally::Tally;
use crate::scenario::{Scenario, FRAME_PAYLOAD_BYTES};

/// Length prefix of a frame.
const PREFIX_BYTES: usize = 4;
/// Idle clients connecting at once: below the listen backlog, so no SYN is dropped and
/// retried a second later.
const CONNECTS_IN_FLIGHT: usize = 128;
/// How often the holder of the idle clients looks whether the window has closed.
const HOLD_POLL: Duration = Duration::from_millis(50);

/// `payload` as one length-prefixed frame.
pub(crate) fn encode_frame(payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut frame = Vec::with_capacity(PREFIX_BYTES + payload.len());
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// The payload of frame `index`: the index in decimal, padded with `x` to `size` bytes,
/// so an echo of another frame (or of another client's frame) is caught.
pub(crate) fn frame_payload(index: u64, size: usize) -> Vec<u8> {
    let mut payload = index.to_string().into_bytes();
    payload.resize(size.max(payload.len()), b'x');
    payload
}

/// Spawns the scenario's workers: one per client sending frames (`bridge-frames`), or one
/// that connects `concurrency` clients and holds them idle until the window closes
/// (`bridge-idle`; it returns once every client has connected and had one echo).
pub(super) async fn start(
    scenario: Scenario,
    args: &LoadArgs,
    phase: &Phase,
    workers: &mut JoinSet<Tally>,
) -> Result<(), String> {
    if scenario == Scenario::BridgeIdle {
        let (clients, tally) = connect_idle(args.addr, args.concurrency.max(1)).await;
        if clients.is_empty() {
            return Err(tally_error(tally));
        }
        let phase = phase.clone();
        workers.spawn(async move { hold(clients, tally, phase).await });
        return Ok(());
    }
    for index in 0..args.concurrency.max(1) {
        let stream = connect(args.addr).await?;
        let phase = phase.clone();
        let addr = args.addr;
        // Client ids keep every client's frames distinct.
        let first = (index as u64) << 40;
        workers.spawn(async move { exchange(addr, stream, first, phase).await });
    }
    Ok(())
}

fn tally_error(tally: Tally) -> String {
    tally
        .into_report(0.0)
        .first_error
        .unwrap_or_else(|| "no client connected".to_owned())
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("no TCP connection to {addr} after {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Sends one frame and checks that exactly the same frame comes back.
async fn round_trip(stream: &mut TcpStream, frame: &[u8]) -> Result<(), String> {
    stream
        .write_all(frame)
        .await
        .map_err(|e| format!("writing a frame: {e}"))?;
    let mut echo = vec![0_u8; frame.len()];
    match stream.read_exact(&mut echo).await {
        Ok(_) if echo == frame => Ok(()),
        Ok(_) => Err(format!(
            "echo differs from the frame sent ({:?}...)",
            String::from_utf8_lossy(echo.get(..16).unwrap_or_default())
        )),
        Err(error) => Err(format!("reading the echo: {error}")),
    }
}

/// One client, one frame in flight: send, wait for the echo, repeat until the window ends.
async fn exchange(addr: SocketAddr, stream: TcpStream, first: u64, phase: Phase) -> Tally {
    let mut tally = Tally::default();
    let mut stream = Some(stream);
    let mut index = first;
    while let Some(connection) = stream.as_mut() {
        let frame = encode_frame(&frame_payload(index, FRAME_PAYLOAD_BYTES));
        index += 1;
        let started = Instant::now();
        let outcome = round_trip(connection, &frame).await;
        let failed = outcome.is_err();
        if !tally.record(&phase, started, outcome) {
            break;
        }
        if failed {
            // The stream may hold half a frame: start over on a new connection.
            stream = match connect(addr).await {
                Ok(fresh) => Some(fresh),
                Err(error) => {
                    tally.fail(error);
                    None
                }
            };
        }
    }
    tally
}

/// Connects `count` clients, at most [`CONNECTS_IN_FLIGHT`] at a time, each with one
/// frame echoed so that it is assigned to an upstream; failures are counted in the tally.
async fn connect_idle(addr: SocketAddr, count: usize) -> (Vec<TcpStream>, Tally) {
    let permits = Arc::new(Semaphore::new(CONNECTS_IN_FLIGHT));
    let mut connecting = JoinSet::new();
    for index in 0..count {
        let permits = permits.clone();
        connecting.spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
            let mut stream = connect(addr).await?;
            let frame = encode_frame(&frame_payload(index as u64, FRAME_PAYLOAD_BYTES));
            tokio::time::timeout(CONNECT_TIMEOUT, round_trip(&mut stream, &frame))
                .await
                .map_err(|_| format!("no echo within {CONNECT_TIMEOUT:?}"))??;
            Ok::<_, String>(stream)
        });
    }
    let mut clients = Vec::with_capacity(count);
    let mut tally = Tally::default();
    while let Some(joined) = connecting.join_next().await {
        match joined {
            Ok(Ok(stream)) => clients.push(stream),
            Ok(Err(error)) => tally.fail(error),
            Err(error) => tally.fail(format!("client task failed: {error}")),
        }
    }
    (clients, tally)
}

/// Holds the idle clients until the window closes; every client held counts as one
/// operation. A client the gateway closed meanwhile counts as an error instead.
async fn hold(clients: Vec<TcpStream>, mut tally: Tally, phase: Phase) -> Tally {
    while !phase.is_stopped() {
        tokio::time::sleep(HOLD_POLL).await;
    }
    let mut probe = [0_u8; 1];
    for client in &clients {
        // Nothing was sent to an idle client: readable means closed (or garbage).
        match client.try_read(&mut probe) {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => tally.add_operation(),
            Ok(0) => tally.fail("an idle client was closed by the gateway".to_owned()),
            Ok(_) => tally.fail("an idle client got unexpected bytes".to_owned()),
            Err(error) => tally.fail(format!("an idle client failed: {error}")),
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_big_endian_length_then_payload() {
        assert_eq!(encode_frame(b"hi"), vec![0, 0, 0, 2, b'h', b'i']);
        assert_eq!(encode_frame(b""), vec![0, 0, 0, 0]);
    }

    #[test]
    fn payload_carries_its_index_padded_to_size() {
        assert_eq!(frame_payload(42, 6), b"42xxxx".to_vec());
        assert_eq!(
            frame_payload(7, FRAME_PAYLOAD_BYTES).len(),
            FRAME_PAYLOAD_BYTES
        );
        assert_ne!(frame_payload(1, 8), frame_payload(2, 8));
        // A size below the index's digits keeps every digit.
        assert_eq!(frame_payload(12345, 2), b"12345".to_vec());
    }
}
