//! Who may post callbacks and how much: the optional IP allow-list, the per-IP rate limit
//! (a token bucket per address, idle ones forgotten) and the body size limit.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::{Relay, lock};

/// The rate limiter drops idle (full) buckets once it tracks this many addresses.
const RATE_PRUNE_AT: usize = 4096;

impl Relay {
    /// The caller's address: the socket's, or `X-Forwarded-For`'s last hop from a trusted proxy.
    fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let ip = peer.ip();
        if self.cfg.trusted_proxies.contains(&ip)
            && let Some(fwd) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
            && let Some(last) = fwd.rsplit(',').next().and_then(|s| s.trim().parse().ok())
        {
            return last;
        }
        ip
    }

    /// Allow-list and per-IP token bucket. `Err` is the answer to send.
    pub(crate) fn admit(&self, peer: SocketAddr, headers: &HeaderMap) -> Result<(), Response> {
        let ip = self.client_ip(peer, headers);
        if !self.cfg.allow_ips.is_empty() && !self.cfg.allow_ips.contains(&ip) {
            return Err(self.refuse("ip_not_allowed", StatusCode::FORBIDDEN));
        }
        if !self.take_token(ip, Instant::now()) {
            return Err(self.refuse("rate_limited", StatusCode::TOO_MANY_REQUESTS));
        }
        Ok(())
    }

    /// Addresses the rate limiter tracks now.
    pub fn rate_tracked(&self) -> usize {
        lock(&self.rates).len()
    }

    /// The per-IP token bucket (capacity 2 s of the rate). A bucket idle long enough to be full
    /// again is the same as no bucket, so such entries are dropped once the map grows: memory
    /// follows the addresses seen in the last two seconds, not all addresses ever seen.
    fn take_token(&self, ip: IpAddr, now: Instant) -> bool {
        let Some(rate) = self.cfg.rate_limit_per_ip else {
            return true;
        };
        let refill = Duration::from_secs(2);
        {
            let mut rates = lock(&self.rates);
            // At most every 100 ms, so a flood of new addresses costs no scan per request.
            let mut pruned = lock(&self.rates_pruned);
            if rates.len() >= RATE_PRUNE_AT
                && now.saturating_duration_since(*pruned) >= Duration::from_millis(100)
            {
                rates.retain(|_, (_, last)| now.saturating_duration_since(*last) < refill);
                *pruned = now;
            }
            drop(pruned);
            let (tokens, last) = rates.entry(ip).or_insert((f64::from(rate) * 2.0, now));
            *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * f64::from(rate))
                .min(f64::from(rate) * 2.0);
            *last = now;
            if *tokens < 1.0 {
                return false;
            }
            *tokens -= 1.0;
        }
        true
    }

    /// The body size limit for every route (`Config::max_body`); a larger callback body is
    /// refused `too_large` (413) when its handler reads it.
    pub(crate) fn body_limit(&self) -> DefaultBodyLimit {
        DefaultBodyLimit::max(self.cfg.max_body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Store};

    #[test]
    fn the_rate_limiter_forgets_idle_addresses_so_many_sources_cannot_grow_it_without_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::new(dir.path().to_path_buf());
        cfg.rate_limit_per_ip = Some(10);
        let relay = Relay::new(Store::open(dir.path()).unwrap(), cfg);
        let start = Instant::now();
        let mut most = 0;
        // 100,000 distinct addresses, one request each, 1 ms apart.
        for i in 0..100_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(relay.take_token(ip, start + Duration::from_millis(u64::from(i))));
            most = most.max(relay.rate_tracked());
        }
        // Idle buckets go every 100 ms once 4,096 are tracked: at most 4,096 + 2.1 s of new ones.
        assert!(
            most <= RATE_PRUNE_AT + 2_100,
            "tracked at most {most} addresses"
        );
        // Still a limit: one address sending fast is held to its bucket.
        let one = IpAddr::from([192, 0, 2, 1]);
        let t = start + Duration::from_secs(200);
        let taken = (0..100).filter(|_| relay.take_token(one, t)).count();
        assert_eq!(taken, 20, "two seconds of the rate, then refused");
    }
}
