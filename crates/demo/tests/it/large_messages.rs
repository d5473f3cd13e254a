//! Messages far past tonic's 4 MiB default, within the 256 MiB limit.

use bytes::Bytes;
use yardmaster_demo::pb::EchoRequest;

use crate::{request, Upstream};

const SIXTY_FOUR_MIB: usize = 64 * 1024 * 1024;

#[tokio::test]
async fn unary_returns_64_mib_reply_bytes() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;

    let reply = client
        .unary(EchoRequest {
            reply_bytes: SIXTY_FOUR_MIB as u32,
            ..request("big")
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(reply.payload.len(), SIXTY_FOUR_MIB);
    assert!(reply
        .payload
        .iter()
        .enumerate()
        .all(|(i, byte)| *byte == i as u8));
}

#[tokio::test]
async fn unary_echoes_64_mib_request() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;
    let payload = Bytes::from(vec![0x5a; SIXTY_FOUR_MIB]);

    let reply = client
        .unary(EchoRequest {
            payload: payload.clone(),
            ..request("big")
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(reply.payload, payload);
}
