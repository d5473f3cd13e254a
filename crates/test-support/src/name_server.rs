//! A DNS name server on loopback whose records a test changes while it runs: A, AAAA and
//! SRV records with TTLs, and failures (SERVFAIL, NXDOMAIN) on demand. It answers over UDP
//! with hickory-proto's message types, the ones the gateway's resolver speaks.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// One SRV record: priority, weight, port, target host name.
#[derive(Clone, Debug)]
pub struct SrvRecord {
    /// Lower is preferred.
    pub priority: u16,
    /// Share among records of one priority.
    pub weight: u16,
    /// The port the target listens on.
    pub port: u16,
    /// The target's host name.
    pub target: String,
}

#[derive(Default)]
struct Zone {
    addresses: HashMap<String, (Vec<IpAddr>, u32)>,
    srv: HashMap<String, (Vec<SrvRecord>, u32)>,
    failures: HashMap<String, ResponseCode>,
    queries: HashMap<String, usize>,
}

/// A name server on `127.0.0.1:<ephemeral>` (UDP). Stops when dropped.
pub struct TestNameServer {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    task: JoinHandle<()>,
}

/// Names are kept lower case and fully qualified, as queries carry them.
fn key(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}

impl TestNameServer {
    /// Binds and starts answering; knows no names yet (every query gets NXDOMAIN).
    pub async fn start() -> TestNameServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone = Arc::new(Mutex::new(Zone::default()));
        let task = tokio::spawn(serve(socket, zone.clone()));
        TestNameServer { addr, zone, task }
    }

    /// The address to name as `name_server`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Makes `addresses` the A and AAAA records of `name`, with `ttl` seconds, and ends
    /// any failure set for it.
    pub fn set_addresses(&self, name: &str, addresses: &[IpAddr], ttl: u32) {
        let mut zone = self.zone.lock().unwrap();
        zone.failures.remove(&key(name));
        zone.addresses.insert(key(name), (addresses.to_vec(), ttl));
    }

    /// Makes `records` the SRV records of `name`, with `ttl` seconds.
    pub fn set_srv(&self, name: &str, records: &[SrvRecord], ttl: u32) {
        let mut zone = self.zone.lock().unwrap();
        zone.failures.remove(&key(name));
        zone.srv.insert(key(name), (records.to_vec(), ttl));
    }

    /// Answers every query for `name` with `code` (e.g. SERVFAIL) until its records are
    /// set again.
    pub fn fail(&self, name: &str, code: ResponseCode) {
        self.zone.lock().unwrap().failures.insert(key(name), code);
    }

    /// How many queries for `name` (of any type) arrived so far.
    pub fn queries(&self, name: &str) -> usize {
        let zone = self.zone.lock().unwrap();
        zone.queries.get(&key(name)).copied().unwrap_or(0)
    }
}

impl Drop for TestNameServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(socket: UdpSocket, zone: Arc<Mutex<Zone>>) {
    let mut buffer = vec![0_u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buffer).await else {
            return;
        };
        let Ok(query) = Message::from_vec(&buffer[..len]) else {
            continue;
        };
        let reply = answer(&query, &mut zone.lock().unwrap());
        if let Ok(bytes) = reply.to_vec() {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

fn answer(query: &Message, zone: &mut Zone) -> Message {
    let id = query.metadata.id;
    let op = query.metadata.op_code;
    let Some(question) = query.queries.first() else {
        return Message::error_msg(id, op, ResponseCode::FormErr);
    };
    let name = key(&question.name.to_ascii());
    *zone.queries.entry(name.clone()).or_default() += 1;
    if let Some(code) = zone.failures.get(&name) {
        let mut reply = Message::error_msg(id, op, *code);
        reply.add_query(question.clone());
        return reply;
    }
    let owner = question.name.clone();
    let records: Option<Vec<Record>> = match question.query_type {
        RecordType::A | RecordType::AAAA => zone.addresses.get(&name).map(|(ips, ttl)| {
            ips.iter()
                .filter_map(|ip| match (ip, question.query_type) {
                    (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(*v4))),
                    (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(*v6))),
                    _ => None,
                })
                .map(|data| Record::from_rdata(owner.clone(), *ttl, data))
                .collect()
        }),
        RecordType::SRV => zone.srv.get(&name).map(|(records, ttl)| {
            records
                .iter()
                .map(|r| {
                    let target = Name::from_ascii(key(&r.target)).unwrap();
                    let srv = SRV::new(r.priority, r.weight, r.port, target);
                    Record::from_rdata(owner.clone(), *ttl, RData::SRV(srv))
                })
                .collect()
        }),
        _ => Some(Vec::new()),
    };
    let known =
        records.is_some() || zone.addresses.contains_key(&name) || zone.srv.contains_key(&name);
    let mut reply = Message::response(id, op);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(question.clone());
    if !known {
        reply.metadata.response_code = ResponseCode::NXDomain;
    }
    for record in records.unwrap_or_default() {
        reply.add_answer(record);
    }
    reply
}
