//! Attacks 1–7 of issue 11, and the idle cost of a connection. Each returns its own checks (the
//! bound, what the attacker was told); [`Tier::run`] adds memory and the bystander.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use crate::probe::rss;
use crate::wire::{
    json, status_text, Raw, ServerFrame, Upgrade, BINARY, CLOSE, CONTINUE, PONG, TEXT,
};
use crate::{settled_rss, Gateway, Tier, MIB};

/// The gateway's defaults the checks refer to.
const MAX_CONNECTIONS: usize = 100;
const MAX_CLIENT_CHANNELS: usize = 64;
const MAX_PARAMETER_SUBSCRIPTIONS: usize = 10_000;

type Checks = Vec<(bool, String)>;

/// A colcon-style workspace with one package of meshes, installed with `--symlink-install`
/// (the installed mesh links into `src/`), a symlink to `/etc/passwd`, and a 20 MiB and a 4 MiB
/// mesh. Returns the install prefix to give to `--interfaces`.
pub fn asset_workspace(dir: &Path) -> PathBuf {
    let ws = dir.join("ws");
    let prefix = ws.join("install/abuse_assets");
    let marker = prefix.join("share/ament_index/resource_index/packages/abuse_assets");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(&marker, "").unwrap();
    let meshes = prefix.join("share/abuse_assets/meshes");
    std::fs::create_dir_all(&meshes).unwrap();
    let src = ws.join("src/abuse_assets/meshes");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("linked.stl"), b"solid linked").unwrap();
    let link = |target: &Path, name: &str| {
        let _ = std::fs::remove_file(meshes.join(name));
        std::os::unix::fs::symlink(target, meshes.join(name)).unwrap();
    };
    link(&src.join("linked.stl"), "linked.stl");
    link(Path::new("/etc/passwd"), "passwd.stl");
    std::fs::write(meshes.join("big.stl"), vec![1u8; 20 << 20]).unwrap();
    std::fs::write(meshes.join("mid.stl"), vec![2u8; 4 << 20]).unwrap();
    prefix
}

fn fetch(uri: &str, id: u32) -> String {
    json!({"op": "fetchAsset", "uri": uri, "requestId": id}).to_string()
}

/// `n` of `items` satisfy `pred`, as text.
fn tally<T>(items: &[T], pred: impl Fn(&T) -> bool) -> usize {
    items.iter().filter(|i| pred(i)).count()
}

/// The close code and reason of every connection, in parallel.
async fn closes(tasks: Vec<tokio::task::JoinHandle<Option<(u16, String)>>>) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            t.await
                .ok()
                .flatten()
                .unwrap_or((0, "no Close frame".into())),
        );
    }
    out
}

fn names_limit(reason: &str, param: &str) -> bool {
    reason.contains(param)
}

// --- 1 ------------------------------------------------------------------------------------

/// 8 connections each declare a 60 MiB message; 8 send it in 15 MiB fragments; 8 leave a 15 MiB
/// message unfinished and keep the connection alive with pongs.
pub async fn unfinished_messages(tier: &mut Tier) {
    tier.run(
        "1 unfinished messages",
        200 * MIB,
        |addr, _, _| async move {
            let mut checks = Checks::new();
            let mut tasks = Vec::new();
            for _ in 0..8 {
                tasks.push(tokio::spawn(async move {
                    let mut c = Raw::open(addr).await.ok()?;
                    c.tcp
                        .write_all(&Raw::header(true, BINARY, 60 * MIB))
                        .await
                        .ok()?;
                    let _ = c.tcp.write_all(&vec![0u8; 256 * 1024]).await;
                    c.until_close(Duration::from_secs(5)).await.0
                }));
            }
            let got = closes(tasks).await;
            let ok = tally(&got, |(c, r)| {
                *c == 1009 && names_limit(r, "max_incoming_message_size")
            });
            checks.push((
                ok == 8,
                format!(
                    "a frame declaring 60 MiB: {ok}/8 closed with 1009 naming the limit ({:?})",
                    got[0]
                ),
            ));

            let fragment = Arc::new(vec![0u8; 15 << 20]);
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let fragment = fragment.clone();
                tasks.push(tokio::spawn(async move {
                    let mut c = Raw::open(addr).await.ok()?;
                    for i in 0..4 {
                        let op = if i == 0 { BINARY } else { CONTINUE };
                        if c.frame(false, op, &fragment).await.is_err() {
                            break;
                        }
                    }
                    c.until_close(Duration::from_secs(5)).await.0
                }));
            }
            let got = closes(tasks).await;
            let too_big = tally(&got, |(c, _)| *c == 1009);
            let evicted = tally(&got, |(c, _)| *c == 1008);
            let ok = tally(&got, |(c, r)| {
                (*c == 1009 || *c == 1008) && names_limit(r, "max_incoming_message_size")
            });
            checks.push((
                ok == 8,
                format!(
                    "4 × 15 MiB fragments: {ok}/8 closed naming max_incoming_message_size \
                 ({too_big} with 1009 at the fragment over the limit, {evicted} with 1008 when \
                 the shared budget was full)"
                ),
            ));

            // Unfinished, under the limit, kept alive: the shared budget (4 × 16 MiB) holds four.
            let mut tasks = Vec::new();
            for i in 0..8u64 {
                let fragment = fragment.clone();
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(150 * i)).await;
                    let mut c = Raw::open(addr).await.ok()?;
                    c.frame(false, BINARY, &fragment).await.ok()?;
                    let end = Instant::now() + Duration::from_secs(4);
                    while Instant::now() < end {
                        let _ = c.frame(true, PONG, b"").await; // unsolicited: keeps it alive
                        match tokio::time::timeout(Duration::from_millis(500), c.next()).await {
                            Ok(Ok(Some(f))) if f.opcode == CLOSE => {
                                let code = u16::from_be_bytes([f.payload[0], f.payload[1]]);
                                return Some((
                                    code,
                                    String::from_utf8_lossy(&f.payload[2..]).into(),
                                ));
                            }
                            Ok(Ok(None)) | Ok(Err(_)) => return Some((0, "ended".into())),
                            _ => {}
                        }
                    }
                    Some((1000, "still open".into()))
                }));
            }
            let got = closes(tasks).await;
            let evicted = tally(&got, |(c, r)| {
                *c == 1008 && names_limit(r, "max_incoming_message_size")
            });
            let holding = tally(&got, |(c, _)| *c == 1000);
            checks.push((
                evicted == 4 && holding == 4,
                format!(
                    "8 unfinished 15 MiB messages kept alive: {holding} held (the budget's 4 × \
                 max_incoming_message_size fits four), {evicted} closed with 1008 naming it"
                ),
            ));
            checks
        },
    )
    .await;
    let log = tier.gateway.log_text();
    tier.report.check(
        "1 unfinished messages",
        log.contains("closing the connection: message of") && log.contains("was the largest"),
        "INFO log lines say why (1009 too big, 1008 shared budget)",
    );
}

// --- 2 ------------------------------------------------------------------------------------

/// Asset responses read from a connection: (answered, refused texts, data bytes).
async fn read_assets(c: &mut Raw, want: usize, within: Duration) -> (usize, Vec<String>, u64) {
    let (mut ok, mut refused, mut bytes) = (0, Vec::new(), 0u64);
    let deadline = tokio::time::Instant::now() + within;
    let mut in_response = false;
    while ok + refused.len() < want {
        let f = match tokio::time::timeout_at(deadline, c.next()).await {
            Ok(Ok(Some(f))) => f,
            _ => break,
        };
        match f.opcode {
            BINARY if f.payload.first() == Some(&4) => {
                let status = f.payload[5];
                let n = u32::from_le_bytes(f.payload[6..10].try_into().unwrap()) as usize;
                if status != 0 {
                    refused.push(String::from_utf8_lossy(&f.payload[10..10 + n]).into());
                    continue;
                }
                bytes += (f.payload.len() - 10 - n) as u64;
                if f.fin {
                    ok += 1;
                } else {
                    in_response = true;
                }
            }
            CONTINUE if in_response => {
                bytes += f.payload.len() as u64;
                if f.fin {
                    ok += 1;
                    in_response = false;
                }
            }
            _ => {}
        }
    }
    (ok, refused, bytes)
}

pub async fn assets(tier: &mut Tier) {
    tier.run("2 assets", 256 * MIB, |addr, pid, _| async move {
        let mut checks = Checks::new();
        let big = "package://abuse_assets/meshes/big.stl";
        let mid = "package://abuse_assets/meshes/mid.stl";
        // Three viewers ask for the 20 MiB mesh, five times each, and never read.
        let mut stalled = Vec::new();
        for _ in 0..3 {
            let mut c = Raw::open(addr).await.expect("connect");
            for id in 0..5 {
                c.text(&fetch(big, id)).await.expect("send");
            }
            stalled.push(c);
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let held = rss(pid);
        checks.push((
            held < 200 * MIB,
            format!(
                "3 stalled viewers × 5 × 20 MiB asked: RSS {:.0} MiB (asset_buffer_limit 64 MiB, \
                 16 MiB or one asset per viewer)",
                held as f64 / MIB as f64
            ),
        ));
        drop(stalled);

        // 32 viewers fetch the 4 MiB mesh 34 times each at once and read everything.
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..32 {
            tasks.push(tokio::spawn(async move {
                let mut c = Raw::open(addr).await.ok()?;
                for id in 0..34 {
                    c.text(&fetch(mid, id)).await.ok()?;
                }
                Some(read_assets(&mut c, 34, Duration::from_secs(60)).await)
            }));
        }
        let (mut ok, mut refused, mut bytes) = (0, Vec::new(), 0u64);
        for t in tasks {
            if let Ok(Some((o, r, b))) = t.await {
                ok += o;
                refused.extend(r);
                bytes += b;
            }
        }
        // A response written before the 33rd request arrives frees its slot: a few more than
        // 32 per viewer may be served.
        checks.push((
            ok >= 32 * 32 && ok + refused.len() == 32 * 34 && bytes == ok as u64 * (4 << 20),
            format!(
                "32 viewers × 34 fetches of a 4 MiB mesh at once: {ok} served whole in {:.1} s",
                t0.elapsed().as_secs_f64()
            ),
        ));
        let told = tally(&refused, |r| r.contains("at most 32 per viewer"));
        checks.push((
            !refused.is_empty() && told == refused.len(),
            format!(
                "over 32 in flight: {told}/{} refused naming the limit ({:?})",
                refused.len(),
                refused.first()
            ),
        ));
        checks
    })
    .await;
}

// --- 3 ------------------------------------------------------------------------------------

enum Outcome {
    Accepted(Raw),
    Busy(String),
    Other(String),
}

pub async fn connections(tier: &mut Tier) {
    tier.run("3 connections", 256 * MIB, |addr, pid, _| async move {
        let mut checks = Checks::new();
        // 10,000 connections, 1,000 being opened at a time, all kept open by the attacker.
        let gate = Arc::new(Semaphore::new(1000));
        let mut tasks = Vec::new();
        for _ in 0..10_000 {
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                match tokio::time::timeout(Duration::from_secs(10), Raw::connect(addr)).await {
                    Ok(Ok(Upgrade::Accepted(r))) => Outcome::Accepted(r),
                    Ok(Ok(Upgrade::Refused(text))) if text.starts_with("HTTP/1.1 503") => {
                        Outcome::Busy(text)
                    }
                    Ok(Ok(Upgrade::Refused(text))) => Outcome::Other(text),
                    Ok(Err(e)) => Outcome::Other(e.to_string()),
                    Err(_) => Outcome::Other("timed out".into()),
                }
            }));
        }
        let (mut held, mut busy, mut other) = (Vec::new(), Vec::new(), Vec::new());
        for t in tasks {
            match t.await {
                Ok(Outcome::Accepted(r)) => held.push(r),
                Ok(Outcome::Busy(b)) => busy.push(b),
                Ok(Outcome::Other(o)) => other.push(o),
                Err(e) => other.push(e.to_string()),
            }
        }
        let peak = rss(pid);
        checks.push((
            held.len() <= MAX_CONNECTIONS,
            format!(
                "10,000 connections: {} accepted (max_connections {MAX_CONNECTIONS}), {} refused \
                 with 503, {} otherwise ({:?}); RSS {:.0} MiB",
                held.len(),
                busy.len(),
                other.len(),
                other.first(),
                peak as f64 / MIB as f64
            ),
        ));
        let told = tally(&busy, |b| b.contains("max_connections"));
        checks.push((
            told == busy.len() && busy.len() >= 9_000,
            format!(
                "{told} of the refused were told why: {:?}",
                busy.first().and_then(|b| b.split("\r\n\r\n").nth(1))
            ),
        ));
        drop(held);
        tokio::time::sleep(Duration::from_millis(500)).await;

        // 50 sockets send the request a byte a second, 40 send nothing.
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..90 {
            tasks.push(tokio::spawn(async move {
                let mut tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
                let (mut r, mut w) = tcp.split();
                let slow = async {
                    if i < 50 {
                        for b in crate::wire::UPGRADE.as_bytes() {
                            if w.write_all(&[*b]).await.is_err() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    std::future::pending::<()>().await
                };
                let mut got = Vec::new();
                let read = tokio::io::AsyncReadExt::read_to_end(&mut r, &mut got);
                tokio::select! {
                    _ = slow => {}
                    _ = tokio::time::timeout(Duration::from_secs(15), read) => {}
                }
                Some((String::from_utf8_lossy(&got).to_string(), t0.elapsed()))
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.ok().flatten().unwrap_or_default());
        }
        let timed_out = tally(&answers, |(a, at)| {
            a.starts_with("HTTP/1.1 408")
                && a.contains("handshake_timeout_ms")
                && *at < Duration::from_secs(13)
        });
        let slowest = answers.iter().map(|(_, at)| *at).max().unwrap_or_default();
        checks.push((
            timed_out == 90,
            format!(
                "50 byte-a-second and 40 silent handshakes: {timed_out}/90 answered 408 naming \
                 handshake_timeout_ms (10 s), the last after {:.1} s",
                slowest.as_secs_f64()
            ),
        ));
        match Raw::connect(addr).await {
            Ok(Upgrade::Accepted(_)) => {
                checks.push((true, "a new viewer gets in afterwards".into()))
            }
            _ => checks.push((false, "a new viewer was refused afterwards".into())),
        }
        checks
    })
    .await;
    let log = tier.gateway.log_text();
    tier.report.check(
        "3 connections",
        log.contains("connection refused (HTTP 503)") && log.contains("handshake_timeout_ms"),
        "INFO log lines say why (503 max_connections, handshake timeout)",
    );
}

/// What a viewer costs while idle: RSS of a second gateway with 10,000 idle viewers.
pub async fn idle_cost(tier: &mut Tier) {
    const N: usize = 10_000;
    let name = "idle viewers";
    let gw = Gateway::start(
        &tier.bin,
        &tier.dir,
        "idle",
        "    max_connections: 10100\n",
        &tier.prefix,
    );
    let pid = gw.pid();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pre = settled_rss(pid, Duration::from_secs(1)).await;
    let gate = Arc::new(Semaphore::new(500));
    let mut tasks = Vec::new();
    for _ in 0..N {
        let gate = gate.clone();
        let addr = gw.addr;
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let mut c = Raw::open(addr).await.ok()?;
            // Read up to the advertisement, as a viewer does, then stay idle.
            while let Ok(Some(f)) = c.next().await {
                if json(&f).is_some_and(|v| v["op"] == "advertise") {
                    break;
                }
            }
            Some(c)
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        if let Ok(Some(c)) = t.await {
            held.push(c);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with = settled_rss(pid, Duration::from_secs(1)).await;
    let per = with.saturating_sub(pre) as f64 / held.len().max(1) as f64;
    tier.report.check(
        name,
        held.len() == N,
        format!("{} of {N} viewers connected and idle", held.len()),
    );
    tier.report.check(
        name,
        per <= 16.0 * 1024.0 && with <= 300 * MIB,
        format!(
            "idle cost {:.1} KiB per viewer (<= 16 KiB): RSS {:.1} MiB → {:.1} MiB with {N} \
             (ceiling 300 MiB)",
            per / 1024.0,
            pre as f64 / MIB as f64,
            with as f64 / MIB as f64
        ),
    );
    drop(held);
    let allowed = pre + ((pre as f64 * crate::RETURN_FRACTION) as u64).max(crate::RETURN_SLACK);
    let left = Instant::now();
    let mut now = rss(pid);
    while now > allowed && left.elapsed() < crate::RETURN_WITHIN {
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = rss(pid);
    }
    tier.report.check(
        name,
        now <= allowed,
        format!(
            "RSS back to {:.1} MiB {:.1} s after they left (allowed {:.1} MiB)",
            now as f64 / MIB as f64,
            left.elapsed().as_secs_f64(),
            allowed as f64 / MIB as f64
        ),
    );
}

// --- 4 ------------------------------------------------------------------------------------

fn advertise(channels: &[(u32, String)]) -> String {
    let list: Vec<_> = channels
        .iter()
        .map(|(id, topic)| {
            json!({"id": id, "topic": topic, "encoding": "cdr",
                   "schemaName": "geometry_msgs/msg/Twist"})
        })
        .collect();
    json!({"op": "advertise", "channels": list}).to_string()
}

pub async fn client_publishing(tier: &mut Tier) {
    tier.run("4 client publishing", 160 * MIB, |addr, _, _| async move {
        let mut checks = Checks::new();
        // A Twist flood on /cmd_vel for 5 s.
        let mut c = Raw::open(addr).await.expect("connect");
        c.text(&advertise(&[(1, "/cmd_vel".into())]))
            .await
            .expect("advertise");
        let (mut reader, mut writer) = c.into_split();
        let statuses = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Ok(Some(f)) = reader.next().await {
                if let Some(s) = (f.opcode == TEXT)
                    .then(|| status_text(&f.payload))
                    .flatten()
                {
                    seen.push(s);
                }
            }
            seen
        });
        let mut frame = Raw::header(true, BINARY, 57);
        frame.extend_from_slice(&[1, 1, 0, 0, 0, 0, 1, 0, 0]);
        frame.extend_from_slice(&[0u8; 48]);
        let batch: Vec<u8> = frame
            .iter()
            .copied()
            .cycle()
            .take(frame.len() * 1000)
            .collect();
        let t0 = Instant::now();
        let mut sent = 0u64;
        while t0.elapsed() < Duration::from_secs(5) {
            if writer.write_all(&batch).await.is_err() {
                break;
            }
            sent += 1000;
        }
        let rate = sent as f64 / t0.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(writer);
        let seen = tokio::time::timeout(Duration::from_secs(5), statuses)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let reports: Vec<&String> = seen.iter().filter(|s| s.starts_with("Dropped")).collect();
        let told = reports
            .iter()
            .all(|s| s.contains("client_publish_queue_size"));
        checks.push((
            told,
            format!(
                "{sent} Twists in 5 s ({rate:.0}/s): {} drop report(s) naming \
                 client_publish_queue_size{}",
                reports.len(),
                if reports.is_empty() {
                    " (none needed: the simulated robot took every one)".to_string()
                } else {
                    format!(": {:?}", reports[0])
                }
            ),
        ));

        // 10 viewers advertise 4,000 client channels each.
        let mut viewers = Vec::new();
        let mut told = 0;
        let mut example = String::new();
        for v in 0..10u32 {
            let mut c = Raw::open(addr).await.expect("connect");
            for chunk in 0..8u32 {
                let list: Vec<(u32, String)> = (0..500)
                    .map(|i| (chunk * 500 + i, format!("/abuse_{v}_{}", chunk * 500 + i)))
                    .collect();
                c.text(&advertise(&list)).await.expect("send");
            }
            viewers.push(c);
        }
        // Read what the first viewer hears for a moment: refusals, and the channels that exist.
        let mut topics = std::collections::BTreeSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(Ok(Some(f))) = tokio::time::timeout_at(deadline, viewers[0].next()).await {
            let Some(v) = json(&f) else { continue };
            if v["op"] == "status" {
                let m = v["message"].as_str().unwrap_or("");
                if m.contains("max_client_channels") {
                    told += 1;
                    example = m.to_string();
                }
            }
            if v["op"] == "advertise" {
                for c in v["channels"].as_array().into_iter().flatten() {
                    if let Some(t) = c["topic"].as_str().filter(|t| t.starts_with("/abuse_")) {
                        topics.insert(t.to_string());
                    }
                }
            }
        }
        checks.push((
            topics.len() == 10 * MAX_CLIENT_CHANNELS,
            format!(
                "10 viewers × 4,000 client channels: {} became topics (max_client_channels \
                 {MAX_CLIENT_CHANNELS} per viewer)",
                topics.len()
            ),
        ));
        checks.push((told > 0, format!("refusals name the limit: {example:?}")));
        checks
    })
    .await;
}

// --- 5 ------------------------------------------------------------------------------------

pub async fn parameter_subscriptions(tier: &mut Tier) {
    tier.run(
        "5 parameter subscriptions",
        160 * MIB,
        |addr, pid, _| async move {
            let mut checks = Checks::new();
            let mut c = Raw::open(addr).await.expect("connect");
            for part in 0..4 {
                let names: Vec<String> = (0..500_000)
                    .map(|i| format!("/n.p{}", part * 500_000 + i))
                    .collect();
                let msg = json!({"op": "subscribeParameterUpdates", "parameterNames": names});
                c.text(&msg.to_string()).await.expect("send");
            }
            let mut statuses = Vec::new();
            let started = Instant::now();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while statuses.len() < 4 {
                match tokio::time::timeout_at(deadline, c.next()).await {
                    Ok(Ok(Some(f))) => statuses.extend(
                        (f.opcode == TEXT)
                            .then(|| status_text(&f.payload))
                            .flatten()
                            .filter(|s| s.contains("max_parameter_subscriptions")),
                    ),
                    _ => break,
                }
            }
            let held = rss(pid);
            // The attacker stays connected a while: the bystander is measured over 3 s at least.
            tokio::time::sleep(Duration::from_secs(3).saturating_sub(started.elapsed())).await;
            checks.push((
                statuses.len() == 4,
                format!(
                    "2,000,000 names: all but {MAX_PARAMETER_SUBSCRIPTIONS} refused, told in {} \
                 statuses ({:?}); RSS {:.0} MiB",
                    statuses.len(),
                    statuses.last(),
                    held as f64 / MIB as f64
                ),
            ));
            checks
        },
    )
    .await;
}

// --- 6 ------------------------------------------------------------------------------------

/// Frames of one connection until `within` passes or it closes.
async fn frames_for(c: &mut Raw, within: Duration) -> (Vec<ServerFrame>, bool) {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, c.next()).await {
            Err(_) => return (out, false),
            Ok(Ok(Some(f))) => {
                let close = f.opcode == CLOSE;
                out.push(f);
                if close {
                    return (out, true);
                }
            }
            Ok(_) => return (out, true),
        }
    }
}

pub async fn refusals(tier: &mut Tier) {
    let rate = tier.rate;
    tier.run("6 refusals", 160 * MIB, |addr, _, _| async move {
        let mut checks = Checks::new();
        let mut c = Raw::open(addr).await.expect("connect");
        let odom = loop {
            let f = c.next().await.expect("read").expect("open");
            let Some(v) = json(&f) else { continue };
            let found = v["channels"]
                .as_array()
                .and_then(|a| a.iter().find(|ch| ch["topic"] == "/odom"))
                .and_then(|ch| ch["id"].as_u64());
            if let Some(id) = found {
                break id;
            }
        };
        let sub = json!({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": odom}]});
        c.text(&sub.to_string()).await.expect("send");
        let bad: Vec<_> = (0..50_000u32)
            .map(|i| json!({"id": 10 + i, "channelId": 10_000_000 + i}))
            .collect();
        c.text(&json!({"op": "subscribe", "subscriptions": bad}).to_string())
            .await
            .expect("send");
        for call in 0..3000u32 {
            let mut f = vec![0x02];
            f.extend_from_slice(&99_999u32.to_le_bytes());
            f.extend_from_slice(&call.to_le_bytes());
            f.extend_from_slice(&3u32.to_le_bytes());
            f.extend_from_slice(b"cdr");
            f.extend_from_slice(&[0, 1, 0, 0, 0]);
            c.binary(&f).await.expect("send");
        }
        let (frames, closed) = frames_for(&mut c, Duration::from_secs(3)).await;
        let statuses: Vec<String> = frames
            .iter()
            .filter(|f| f.opcode == TEXT)
            .filter_map(|f| status_text(&f.payload))
            .collect();
        let failures = tally(&frames, |f| {
            json(f).is_some_and(|v| v["op"] == "serviceCallFailure")
        });
        let data = tally(&frames, |f| {
            f.opcode == BINARY && f.payload.first() == Some(&1)
        });
        let summary = statuses
            .iter()
            .find(|s| s.contains("more refused request(s)"));
        checks.push((
            !closed && summary.is_some(),
            format!(
                "50,000 bad subscriptions + 3,000 service calls: still connected, {} statuses \
                 and {failures} call failures one by one, then {summary:?}",
                statuses.len()
            ),
        ));
        checks.push((
            data as f64 >= 0.5 * 3.0 * rate,
            format!("it kept receiving /odom: {data} messages in the 3 s after the storm"),
        ));

        // Protocol violations, each on its own connection.
        let cases: [(&str, Vec<u8>, u16, &str); 4] = [
            (
                "an unmasked frame",
                vec![0x81, 0x02, b'{', b'}'],
                1002,
                "mask",
            ),
            (
                "reserved bits",
                [&[0xc1, 0x82][..], &[0; 4], b"{}"].concat(),
                1002,
                "Reserved",
            ),
            (
                "invalid UTF-8 text",
                [&[0x81, 0x82][..], &[0; 4], &[0xff, 0xfe]].concat(),
                1007,
                "UTF-8",
            ),
            (
                "a continuation with nothing to continue",
                [&[0x80, 0x82][..], &[0; 4], b"{}"].concat(),
                1002,
                "protocol error",
            ),
        ];
        for (what, bytes, code, word) in cases {
            let mut c = Raw::open(addr).await.expect("connect");
            c.tcp.write_all(&bytes).await.expect("send");
            let (close, _) = c.until_close(Duration::from_secs(5)).await;
            let ok = close
                .as_ref()
                .is_some_and(|(c, r)| *c == code && r.contains(word));
            checks.push((
                ok,
                format!("{what}: closed with {close:?}, expected {code}"),
            ));
        }
        checks
    })
    .await;
    let log = tier.gateway.log_text();
    tier.report.check(
        "6 refusals",
        log.contains("closing the connection: protocol error")
            && log.contains("closing the connection: a text message is not valid UTF-8"),
        "INFO log lines say why (1002 protocol error, 1007 invalid UTF-8)",
    );
}

// --- 7 ------------------------------------------------------------------------------------

pub async fn asset_paths(tier: &mut Tier) {
    tier.run("7 asset paths", 128 * MIB, |addr, _, prefix| async move {
        let mut checks = Checks::new();
        let mut c = Raw::open(addr).await.expect("connect");
        let root = prefix.display().to_string();
        let ws = prefix
            .parent()
            .and_then(Path::parent)
            .map(|p| p.display().to_string());
        let cases = [
            (
                "package://abuse_assets/meshes/missing.stl",
                false,
                "not found",
            ),
            (
                "package://abuse_assets/meshes/passwd.stl",
                false,
                "symbolic link",
            ),
            (
                "package://abuse_assets/meshes/../../../../etc/passwd.stl",
                false,
                "..",
            ),
            (
                "package://abuse_assets/meshes/%2e%2e/%2e%2e/etc/passwd.stl",
                false,
                "not found",
            ),
            ("file:///etc/passwd", false, "not allowed"),
            ("package://abuse_assets/meshes/linked.stl", true, ""),
        ];
        for (id, (uri, served, word)) in cases.iter().enumerate() {
            c.text(&fetch(uri, id as u32)).await.expect("send");
            let (frames, _) = frames_for(&mut c, Duration::from_millis(500)).await;
            let answer = frames
                .iter()
                .find(|f| f.opcode == BINARY && f.payload.first() == Some(&4));
            let Some(a) = answer else {
                checks.push((false, format!("{uri}: no answer")));
                continue;
            };
            let n = u32::from_le_bytes(a.payload[6..10].try_into().unwrap()) as usize;
            let text = String::from_utf8_lossy(&a.payload[10..10 + n]).to_string();
            let data = &a.payload[10 + n..];
            let leaks = text.contains(&root)
                || ws.as_ref().is_some_and(|w| text.contains(w.as_str()))
                || text.contains("/share/")
                || String::from_utf8_lossy(data).contains("root:");
            let ok = if *served {
                a.payload[5] == 0 && data == b"solid linked"
            } else {
                a.payload[5] == 1 && text.to_lowercase().contains(&word.to_lowercase()) && !leaks
            };
            checks.push((
                ok,
                if *served {
                    format!("{uri}: a --symlink-install link into the workspace is served")
                } else {
                    format!("{uri}: refused without a path on the robot: {text:?}")
                },
            ));
        }
        checks
    })
    .await;
}
