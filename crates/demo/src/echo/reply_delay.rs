//! The pause before a streamed reply (`delay_ms`), as a reusable timer that reply streams
//! poll by hand.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// One timer per reply stream, allocated on first use and re-armed for each reply.
#[derive(Debug, Default)]
pub(crate) struct ReplyDelay {
    sleep: Option<Pin<Box<Sleep>>>,
    is_armed: bool,
}

impl ReplyDelay {
    /// Whether a pause was started and has not yet been waited out.
    pub(crate) fn is_armed(&self) -> bool {
        self.is_armed
    }

    /// Starts a pause of `delay` from now.
    pub(crate) fn start(&mut self, delay: Duration) {
        let deadline = Instant::now() + delay;
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        self.is_armed = true;
    }

    /// Ready once the started pause is over (at once when none was started).
    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let (true, Some(sleep)) = (self.is_armed, &mut self.sleep) {
            ready!(sleep.as_mut().poll(cx));
        }
        self.is_armed = false;
        Poll::Ready(())
    }
}
