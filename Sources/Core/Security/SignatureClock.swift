/// Whether a signed message's timestamp is recent enough to accept (older ones could be replays).
///
/// The timestamp comes from the request, so it can be any `Int`: `abs(now - time)` would trap on
/// overflow (`Int.min`) and take the whole process down. Comparing against `now ± tolerance`
/// cannot overflow for any real clock.
package enum SignatureClock {
    package static func isFresh(_ time: Int, now: Int, tolerance: Int) -> Bool {
        time >= now - tolerance && time <= now + tolerance
    }
}
