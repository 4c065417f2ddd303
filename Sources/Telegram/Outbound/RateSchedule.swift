/// When each message to Telegram may go, by Telegram's limits for one bot
/// (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this): about 30
/// messages a second overall, about one a second to one private chat (a short burst is
/// tolerated), 20 a minute to one group. Each limit is a GCRA cell rate (a token bucket kept as
/// one "theoretical arrival time"): a send at `t` is allowed when `t ≥ tat - (burst - 1) · period`,
/// and moves `tat` one period on. Pure arithmetic on instants, so tests drive it without sleeping.
package struct RateSchedule: Sendable {
    package struct Limit: Sendable, Equatable {
        package var period: Duration
        package var burst: Int

        package init(period: Duration, burst: Int) {
            self.period = period
            self.burst = max(1, burst)
        }

        /// Telegram's, kept inside any sliding window: overall one every 34 ms with no burst (never
        /// more than 30 in a second), a private chat one a second after a burst of 3, a group one
        /// every 3.05 s with no burst (never more than 20 in a minute).
        package static let global = Limit(period: .milliseconds(34), burst: 1)
        package static let privateChat = Limit(period: .seconds(1), burst: 3)
        package static let group = Limit(period: .milliseconds(3050), burst: 1)
    }

    /// Per-limit state: the theoretical arrival time, and a pause after a 429.
    struct Cell: Sendable {
        var tat: ContinuousClock.Instant
        var pausedUntil: ContinuousClock.Instant

        init(_ now: ContinuousClock.Instant) {
            tat = now
            pausedUntil = now
        }

        /// The earliest instant at or after `now` that `limit` allows.
        func earliest(_ now: ContinuousClock.Instant, _ limit: Limit) -> ContinuousClock.Instant {
            max(now, pausedUntil, tat - limit.period * (limit.burst - 1))
        }

        /// Takes the slot at `at` (which `earliest` gave).
        mutating func take(_ at: ContinuousClock.Instant, _ limit: Limit) {
            tat = max(tat, at) + limit.period
        }
    }

    package var global: Limit
    package var privateChat: Limit
    package var group: Limit
    var globalCell: Cell?
    var chats: [Int64: Cell] = [:]

    package init(global: Limit = .global, privateChat: Limit = .privateChat, group: Limit = .group) {
        self.global = global
        self.privateChat = privateChat
        self.group = group
    }

    /// Reserves the chat's next slot: when a message to `chat` may go as far as its own limit
    /// says. Private chats have positive ids, groups and channels negative ones.
    package mutating func reserveChat(_ chat: Int64, now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        let limit = chat < 0 ? group : privateChat
        var cell = chats[chat] ?? Cell(now)
        let at = cell.earliest(now, limit)
        cell.take(at, limit)
        chats[chat] = cell
        forgetIdle(now)
        return at
    }

    /// Reserves the bot's next overall slot, at or after `now`.
    package mutating func reserveGlobal(now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        var cell = globalCell ?? Cell(now)
        let at = cell.earliest(now, global)
        cell.take(at, global)
        globalCell = cell
        return at
    }

    /// After a 429: nothing goes to `chat`, nor (when `everything`) anywhere, before `until`.
    package mutating func pause(chat: Int64, until: ContinuousClock.Instant, everything: Bool) {
        var cell = chats[chat] ?? Cell(until)
        cell.pausedUntil = max(cell.pausedUntil, until)
        chats[chat] = cell
        if everything {
            var global = globalCell ?? Cell(until)
            global.pausedUntil = max(global.pausedUntil, until)
            globalCell = global
        }
    }

    /// Chats whose bucket is full again hold no state (a bot talks to millions of people).
    mutating func forgetIdle(_ now: ContinuousClock.Instant) {
        guard chats.count > 10_000 else { return }
        chats = chats.filter { $0.value.tat > now || $0.value.pausedUntil > now }
    }
}
