//! Periodic watermarks for live sources.
//!
//! A processor closes a delivery when its deadline passes in *event time*,
//! which only advances when records arrive. A quiet cluster would leave its
//! deliveries open forever, so live collectors publish the wall clock as a
//! watermark every interval, to every partition (each processor reads only
//! its own). The `file` source publishes the largest event time it read
//! instead (see `crate::file`), since its records are not live.

use std::sync::Arc;
use std::time::Duration;

use lunettes_runtime::Shutdown;

use crate::deadletter::now_us;
use crate::publish::Publisher;

/// Publishes `HyperEvent::watermark(cluster, now)` for each cluster every
/// `interval` until shutdown. Failures are logged and counted; the next tick
/// tries again.
pub fn spawn_wall_clock(
    publisher: Arc<Publisher>,
    clusters: Vec<String>,
    interval: Duration,
    shutdown: Shutdown,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wait = shutdown.clone().wait();
            tokio::select! {
                _ = tick.tick() => {}
                _ = wait => return,
            }
            let now = now_us();
            for cluster in &clusters {
                if let Err(e) = publisher.publish_watermark(cluster, now).await {
                    tracing::warn!(cluster, error = %e, "watermark not published");
                }
            }
        }
    })
}
