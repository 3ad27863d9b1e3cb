//! Rows the signups of this process handed over already leased (`signup::handover`): held,
//! their tokens minted, and queued for the send loop like a claimed batch, without a claim.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::record::Outcomes;
use super::{Job, Worker};
use crate::signup::Handed;

impl Worker {
    /// Until shutdown: each handed row joins the held set (its lease renewed from then on) and
    /// goes to the send loop. At shutdown the channel closes (signups fall back to queueing for
    /// a claimer), the signups that took a place before that finish putting their rows in, and
    /// all of it is handed back for the next worker. (Found by faults/run: a signup in flight at
    /// SIGTERM left its row locked after the stop.) Should the stop's bound cut this short, the
    /// leases bring those rows back.
    pub(super) async fn handed_loop(
        self: Arc<Self>,
        mut handed: mpsc::Receiver<Handed>,
        ready: mpsc::Sender<Job>,
        outcomes: Outcomes,
        shutdown: CancellationToken,
    ) {
        let mut batch = Vec::new();
        'receiving: loop {
            let received = tokio::select! {
                n = handed.recv_many(&mut batch, self.batch_size) => n,
                () = shutdown.cancelled() => break,
            };
            if received == 0 {
                break;
            }
            for h in &batch {
                self.leases.hold([h.delivery.id], h.leased_at);
            }
            let jobs = self.prepare(batch.drain(..).map(|h| h.delivery).collect(), &outcomes).await;
            let mut jobs = jobs.into_iter();
            while let Some(job) = jobs.next() {
                let id = job.id;
                let stopped = tokio::select! {
                    sent = ready.send(job) => sent.is_err(),
                    () = shutdown.cancelled() => true,
                };
                if stopped {
                    let ids: Vec<i64> = std::iter::once(id).chain(jobs.map(|j| j.id)).collect();
                    self.release(&ids).await;
                    break 'receiving;
                }
            }
        }
        handed.close();
        // Ends once the channel is empty and no place is taken (tokio's `recv` after `close`).
        let mut left = Vec::new();
        while let Some(h) = handed.recv().await {
            left.push(h.delivery.id);
        }
        self.release(&left).await;
    }
}
