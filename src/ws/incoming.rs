//! The bytes viewers send, metered before tungstenite buffers them.
//!
//! tungstenite caps one message at `max_incoming_message_size`, but it keeps an unfinished one
//! for as long as the connection lives, and any frame keeps a connection alive: without more, N
//! viewers could pin N × the limit. So every connection reads through a [`Metered`] stream that
//! follows the frame headers ([`FrameTracker`], sans I/O) and knows how large the message being
//! received will be before its payload arrives. Up to [`FREE_BYTES`] of a message cost nothing;
//! beyond that the message must reserve its size from one [`IncomingBudget`] shared by all
//! connections (4 × `max_incoming_message_size`). When the budget is full, the connection
//! holding the largest unfinished message (the oldest among equals) is closed (1008, naming the
//! limit) to make room, unless the newcomer's is larger still: a viewer that starts large
//! messages and never finishes them slows only itself, and a legitimate large message gets
//! through.
//!
//! The reservation is taken before the bytes are handed to tungstenite (which reserves the
//! frame's declared length when it sees the header) and released when the message's last frame
//! is in.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes of one message a connection may receive without reserving from the shared budget:
/// every request and teleop command of a real viewer fits, so they never wait for the budget.
pub const FREE_BYTES: u64 = 64 * 1024;

/// What the tracker saw in a chunk of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The header of a data frame: with it, the message in progress will have `total` payload
    /// bytes.
    DataFrame {
        /// Payload bytes of the message so far, this frame's included.
        total: u64,
    },
    /// The last byte of a message's final frame.
    MessageEnd,
}

/// Follows the frame boundaries of a client's byte stream (RFC 6455 §5.2) without keeping its
/// payload: a header is at most 14 bytes.
#[derive(Debug, Default)]
pub struct FrameTracker {
    header: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to come (after its header).
    remaining: u64,
    in_payload: bool,
    /// The current frame is a data frame and the final one of its message.
    ends_message: bool,
    /// Payload bytes of the data message in progress, as declared so far.
    message: u64,
}

impl FrameTracker {
    /// A tracker at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Follow `bytes`, calling `on` for each event in order. Stops early (returning the error)
    /// if `on` fails.
    pub fn feed<E>(
        &mut self,
        mut bytes: &[u8],
        mut on: impl FnMut(Event) -> Result<(), E>,
    ) -> Result<(), E> {
        while !bytes.is_empty() {
            if self.in_payload {
                let take = (bytes.len() as u64).min(self.remaining);
                self.remaining -= take;
                bytes = &bytes[take as usize..];
                if self.remaining == 0 {
                    self.end_frame(&mut on)?;
                }
                continue;
            }
            // Header bytes: take what is missing of it.
            let need = self.header_len() - self.have;
            let take = need.min(bytes.len());
            self.header[self.have..self.have + take].copy_from_slice(&bytes[..take]);
            self.have += take;
            bytes = &bytes[take..];
            if self.have == self.header_len() {
                self.start_frame(&mut on)?;
            }
        }
        Ok(())
    }

    /// Length of the current header, as far as its first two bytes tell (2 until they are in).
    fn header_len(&self) -> usize {
        if self.have < 2 {
            return 2;
        }
        let ext = match self.header[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.header[1] & 0x80 != 0 { 4 } else { 0 };
        2 + ext + mask
    }

    fn start_frame<E>(&mut self, on: &mut impl FnMut(Event) -> Result<(), E>) -> Result<(), E> {
        let fin = self.header[0] & 0x80 != 0;
        let opcode = self.header[0] & 0x0f;
        let len = match self.header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.header[2..10]);
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        self.have = 0;
        self.remaining = len;
        self.in_payload = true;
        // Opcodes below 8 are data frames (0 continues a message); 8 and up are control frames,
        // which may come between the fragments of a message.
        let data = opcode < 8;
        self.ends_message = data && fin;
        if data {
            if opcode != 0 {
                self.message = 0;
            }
            self.message = self.message.saturating_add(len);
            on(Event::DataFrame {
                total: self.message,
            })?;
        }
        if len == 0 {
            self.end_frame(on)?;
        }
        Ok(())
    }

    fn end_frame<E>(&mut self, on: &mut impl FnMut(Event) -> Result<(), E>) -> Result<(), E> {
        self.in_payload = false;
        if self.ends_message {
            self.ends_message = false;
            self.message = 0;
            on(Event::MessageEnd)?;
        }
        Ok(())
    }
}

/// Why a connection's read was stopped by the budget. Travels as the `io::Error`'s inner error,
/// so the connection can close with 1008 and this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BudgetError {
    /// A message that will be larger than `max_incoming_message_size`: refused at the header of
    /// the frame that takes it over, before that frame's payload is read.
    #[error(
        "message of at least {size} bytes over the limit of {limit} (max_incoming_message_size)"
    )]
    TooLarge {
        /// The message's size as declared so far.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// This connection's unfinished message was the largest (or the oldest of the largest)
    /// when room was needed.
    #[error(
        "unfinished incoming messages of all viewers together are limited to {limit} bytes (4 x \
         max_incoming_message_size); yours ({held} bytes over the first 64 KiB) was the largest \
         when room was needed"
    )]
    Evicted {
        /// Bytes this connection held beyond the free allowance.
        held: u64,
        /// The budget.
        limit: u64,
    },
}

struct Holder {
    bytes: u64,
    /// When its message started taking from the budget (a sequence number: smaller is older).
    since: u64,
    evicted: bool,
    waker: Option<Waker>,
}

#[derive(Default)]
struct BudgetState {
    used: u64,
    holders: HashMap<u64, Holder>,
    next_id: u64,
    next_since: u64,
}

/// The budget all connections' large incoming messages share.
pub struct IncomingBudget {
    limit: u64,
    max_message: u64,
    state: Mutex<BudgetState>,
}

impl IncomingBudget {
    /// A budget of `limit` bytes for messages of at most `max_message` bytes.
    pub fn new(limit: u64, max_message: u64) -> Arc<Self> {
        Arc::new(IncomingBudget {
            limit,
            max_message,
            state: Mutex::new(BudgetState::default()),
        })
    }

    /// Bytes reserved now, all connections.
    pub fn used(&self) -> u64 {
        self.state.lock().used
    }

    fn register(&self) -> u64 {
        let mut s = self.state.lock();
        s.next_id += 1;
        s.next_id
    }

    /// Take `extra` more bytes for connection `id`, which then holds `total`; evict larger
    /// holders if needed. Fails if `id` was evicted, or is itself the largest.
    fn grow(&self, id: u64, extra: u64, total: u64) -> Result<(), BudgetError> {
        let mut s = self.state.lock();
        let evicted = s.holders.get(&id).is_some_and(|h| h.evicted);
        if evicted {
            return Err(self.evicted(total - extra));
        }
        let pending: u64 = s
            .holders
            .values()
            .filter(|h| h.evicted)
            .map(|h| h.bytes)
            .sum();
        let mut effective = s.used - pending;
        while effective + extra > self.limit {
            // The largest, the oldest among equals; never one smaller than the newcomer.
            let victim = s
                .holders
                .iter()
                .filter(|(k, h)| **k != id && !h.evicted && h.bytes >= total)
                .max_by_key(|(_, h)| (h.bytes, std::cmp::Reverse(h.since)))
                .map(|(k, _)| *k);
            let Some(victim) = victim else {
                return Err(self.evicted(total - extra));
            };
            if let Some(h) = s.holders.get_mut(&victim) {
                h.evicted = true;
                effective -= h.bytes;
                if let Some(w) = h.waker.take() {
                    w.wake();
                }
            }
        }
        s.used += extra;
        s.next_since += 1;
        let since = s.next_since;
        s.holders
            .entry(id)
            .or_insert(Holder {
                bytes: 0,
                since,
                evicted: false,
                waker: None,
            })
            .bytes += extra;
        Ok(())
    }

    fn evicted(&self, held: u64) -> BudgetError {
        BudgetError::Evicted {
            held,
            limit: self.limit,
        }
    }

    /// Give back everything connection `id` holds.
    fn release(&self, id: u64) {
        let mut s = self.state.lock();
        if let Some(h) = s.holders.remove(&id) {
            s.used -= h.bytes;
        }
    }

    /// Check eviction and remember who to wake; only for connections holding something.
    fn poll_evicted(&self, id: u64, held: u64, cx: &Context<'_>) -> Result<(), BudgetError> {
        let mut s = self.state.lock();
        match s.holders.get_mut(&id) {
            Some(h) if h.evicted => Err(self.evicted(held)),
            Some(h) => {
                if !h.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    h.waker = Some(cx.waker().clone());
                }
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// A connection's stream, read through the tracker and the budget. Bytes read beyond the HTTP
/// request during the handshake are handed out first (`surplus`).
pub struct Metered<S> {
    inner: S,
    surplus: Vec<u8>,
    tracker: FrameTracker,
    budget: Arc<IncomingBudget>,
    id: u64,
    /// Bytes this connection holds from the budget (for the message in progress).
    held: u64,
}

impl<S> Metered<S> {
    /// Meter `inner`, whose first bytes (already read) are `surplus`.
    pub fn new(inner: S, surplus: Vec<u8>, budget: Arc<IncomingBudget>) -> Self {
        let id = budget.register();
        Metered {
            inner,
            surplus,
            tracker: FrameTracker::new(),
            budget,
            id,
            held: 0,
        }
    }

    /// Account for bytes about to be handed to tungstenite.
    fn account(&mut self, bytes: &[u8]) -> Result<(), BudgetError> {
        let Metered {
            tracker,
            budget,
            id,
            held,
            ..
        } = self;
        tracker.feed(bytes, |event| match event {
            Event::DataFrame { total } => {
                // tungstenite checks a fragmented message's size only once the fragment that
                // takes it over is complete; here it is refused at that fragment's header.
                if total > budget.max_message {
                    return Err(BudgetError::TooLarge {
                        size: total,
                        limit: budget.max_message,
                    });
                }
                let need = total.saturating_sub(FREE_BYTES);
                if need > *held {
                    budget.grow(*id, need - *held, need)?;
                    *held = need;
                }
                Ok(())
            }
            Event::MessageEnd => {
                if *held > 0 {
                    budget.release(*id);
                    *held = 0;
                }
                Ok(())
            }
        })
    }
}

impl<S> Drop for Metered<S> {
    fn drop(&mut self) {
        if self.held > 0 {
            self.budget.release(self.id);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.held > 0 {
            if let Err(e) = this.budget.poll_evicted(this.id, this.held, cx) {
                return Poll::Ready(Err(io::Error::other(e)));
            }
        }
        let start = buf.filled().len();
        if !this.surplus.is_empty() {
            let n = this.surplus.len().min(buf.remaining());
            buf.put_slice(&this.surplus[..n]);
            this.surplus.drain(..n);
            if this.surplus.is_empty() {
                this.surplus = Vec::new();
            }
        } else {
            match Pin::new(&mut this.inner).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
        match this.account(&buf.filled()[start..]) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(io::Error::other(e))),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: FIN, opcode, masked, with `len` payload bytes of `fill`.
    fn frame(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match len {
            0..=125 => f.push(0x80 | len as u8),
            126..=0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.extend(std::iter::repeat_n(0xab, len));
        f
    }

    fn events(stream: &[u8], split: &[usize]) -> Vec<Event> {
        let mut t = FrameTracker::new();
        let mut out = Vec::new();
        let mut at = 0;
        for &cut in split.iter().chain(std::iter::once(&stream.len())) {
            let cut = cut.clamp(at, stream.len());
            t.feed::<()>(&stream[at..cut], |e| {
                out.push(e);
                Ok(())
            })
            .unwrap();
            at = cut;
        }
        out
    }

    fn sample() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend(frame(true, 1, 5)); // a small text message
        s.extend(frame(false, 2, 300)); // a fragmented binary message…
        s.extend(frame(true, 9, 4)); // …with a ping in between
        s.extend(frame(false, 0, 70_000));
        s.extend(frame(true, 0, 0)); // …ending with an empty final fragment
        s.extend(frame(true, 10, 0)); // a pong
        s.extend(frame(true, 2, 1)); // and one more message
        s
    }

    fn expected() -> Vec<Event> {
        use Event::*;
        vec![
            DataFrame { total: 5 },
            MessageEnd,
            DataFrame { total: 300 },
            DataFrame { total: 70_300 },
            DataFrame { total: 70_300 },
            MessageEnd,
            DataFrame { total: 1 },
            MessageEnd,
        ]
    }

    #[test]
    fn follows_frames_in_one_piece() {
        assert_eq!(events(&sample(), &[]), expected());
    }

    #[test]
    fn follows_frames_split_anywhere() {
        use proptest::prelude::*;
        use proptest::test_runner::TestRunner;
        let stream = sample();
        let mut runner = TestRunner::deterministic();
        runner
            .run(
                &proptest::collection::vec(0..stream.len(), 0..40),
                |mut cuts| {
                    cuts.sort();
                    prop_assert_eq!(events(&stream, &cuts), expected());
                    Ok(())
                },
            )
            .unwrap();
        // Byte by byte.
        let cuts: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(events(&stream, &cuts), expected());
    }

    #[test]
    fn a_huge_declared_length_is_seen_at_the_header() {
        let mut t = FrameTracker::new();
        let header = &frame(false, 2, 0)[..2];
        let mut h = vec![header[0], 0x80 | 127];
        h.extend_from_slice(&(60u64 << 20).to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0]);
        let mut seen = Vec::new();
        t.feed::<()>(&h, |e| {
            seen.push(e);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![Event::DataFrame { total: 60 << 20 }]);
    }

    #[test]
    fn the_budget_evicts_the_largest_oldest_holder_never_a_smaller_one() {
        let b = IncomingBudget::new(1000, 10_000);
        let (a, c, d, e) = (b.register(), b.register(), b.register(), b.register());
        b.grow(a, 400, 400).unwrap();
        b.grow(c, 400, 400).unwrap();
        assert_eq!(b.used(), 800);
        // 300 more do not fit; a and c hold more than 300: the oldest of them goes.
        b.grow(d, 300, 300).unwrap();
        assert!(b.state.lock().holders[&a].evicted);
        assert!(!b.state.lock().holders[&c].evicted);
        assert!(matches!(
            b.grow(a, 10, 410),
            Err(BudgetError::Evicted { .. })
        ));
        b.release(a);
        assert_eq!(b.used(), 700);
        // 500 for e: c (400) and d (300) are smaller than e's message: e is refused.
        assert!(b.grow(e, 500, 500).is_err());
        assert_eq!(b.used(), 700);
        // Messages that end give back their share.
        b.release(c);
        b.release(d);
        assert_eq!(b.used(), 0);
        b.grow(e, 500, 500).unwrap();
        assert_eq!(b.used(), 500);
    }

    /// A stream of already-known bytes that then never ends.
    struct Script(std::collections::VecDeque<u8>);

    impl AsyncRead for Script {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.0.is_empty() {
                return Poll::Pending;
            }
            let n = buf.remaining().min(self.0.len());
            let bytes: Vec<u8> = self.0.drain(..n).collect();
            buf.put_slice(&bytes);
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn an_evicted_reader_wakes_up_with_the_reason() {
        use tokio::io::AsyncReadExt;
        let budget = IncomingBudget::new(200_000, 1 << 20);
        // A connection that starts a 200 KiB message and stalls after 100 KiB.
        let mut bytes = frame(false, 2, 200 * 1024);
        bytes.truncate(100 * 1024);
        let mut slow = Metered::new(Script(bytes.into()), Vec::new(), budget.clone());
        let mut sink = vec![0u8; 1 << 20];
        let mut got = 0;
        let stalled = loop {
            match tokio::time::timeout(
                std::time::Duration::from_millis(50),
                slow.read(&mut sink[got..]),
            )
            .await
            {
                Ok(Ok(n)) => got += n,
                Ok(Err(e)) => panic!("{e}"),
                Err(_) => break got,
            }
        };
        assert_eq!(stalled, 100 * 1024);
        assert_eq!(budget.used(), 200 * 1024 - FREE_BYTES);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            slow.read(&mut buf).await
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // Another connection starts a message of the same size: the stalled one is evicted
        // and its pending read ends with the reason.
        let other = Metered::new(
            Script(frame(true, 2, 200 * 1024).into()),
            Vec::new(),
            budget.clone(),
        );
        let mut other = other;
        let mut buf = vec![0u8; 300 * 1024];
        assert!(other.read(&mut buf).await.unwrap() > 0);
        let err = tokio::time::timeout(std::time::Duration::from_secs(2), reader)
            .await
            .expect("woken")
            .unwrap()
            .unwrap_err();
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<BudgetError>());
        assert!(matches!(inner, Some(BudgetError::Evicted { .. })), "{err}");
        assert!(err.to_string().contains("max_incoming_message_size"));
    }
}
