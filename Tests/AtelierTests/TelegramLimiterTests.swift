import AsyncHTTPClient
import Core
import Foundation
import Telegram
import Testing

/// Telegram's flood limits kept by construction: the schedule never puts more than 30 sends in a
/// second, more than 20 in a minute to a group, or more than a short burst to one person, and a
/// 429 is waited out in full before the call goes again.
@Suite("Telegram outbound limits", .timeLimit(.minutes(2)))
struct TelegramLimiterTests {
    /// The most instants of `slots` inside any closed window of `width`.
    static func busiestWindow(_ slots: [ContinuousClock.Instant], width: Duration) -> Int {
        let sorted = slots.sorted()
        var best = 0
        var start = 0
        for end in sorted.indices {
            while sorted[end] - sorted[start] > width { start += 1 }
            best = max(best, end - start + 1)
        }
        return best
    }

    @Test("overall: 1,000 sends to 1,000 people at once go out at no more than 30 in any second, at 29 or more per second")
    func globalRate() {
        var schedule = RateSchedule()
        let start = ContinuousClock.now
        let slots = (0..<1000).map { chat in schedule.reserveGlobal(now: start + .milliseconds(chat % 3)) }
        #expect(Self.busiestWindow(slots, width: .seconds(1)) <= 30)
        let span = slots.max()! - start
        let perSecond = 999 / (Double(span.components.seconds) + Double(span.components.attoseconds) / 1e18)
        #expect(perSecond >= 29, "\(perSecond) per second")
    }

    @Test("one person: a burst of 3, then one a second; a group: never more than 20 in a minute")
    func perChat() {
        var schedule = RateSchedule()
        let start = ContinuousClock.now
        let person = (0..<10).map { _ in schedule.reserveChat(5, now: start) }
        #expect(person.prefix(3).allSatisfy { $0 == start })
        #expect(person[3] == start + .seconds(1) && person[9] == start + .seconds(7))
        let group = (0..<60).map { _ in schedule.reserveChat(-100_200, now: start) }
        #expect(Self.busiestWindow(group, width: .seconds(60)) <= 20)
        // Another person is not held back by either.
        #expect(schedule.reserveChat(6, now: start) == start)
    }

    @Test("after a 429 nothing goes to that chat, nor anywhere, before retry_after")
    func pause() {
        var schedule = RateSchedule()
        let start = ContinuousClock.now
        schedule.pause(chat: 5, until: start + .seconds(4), everything: true)
        #expect(schedule.reserveChat(5, now: start) == start + .seconds(4))
        #expect(schedule.reserveGlobal(now: start) == start + .seconds(4))
        #expect(schedule.reserveChat(6, now: start) == start, "another chat's own limit is untouched")
    }

    @Test("the limiter sends again only after retry_after, and passes other refusals on at once")
    func retriesAfterFloodControl() async throws {
        try await TelegramClientTests.withFake { fake, client in
            let limiter = OutboundLimiter()
            fake.floodControl("sendMessage", retryAfter: 1)
            let sent = try await limiter.send(to: 42) { try await client.sendMessage(chatID: 42, text: "after the wait") }
            #expect(sent.text == "after the wait")
            let calls = fake.calls("sendMessage")
            try #require(calls.count == 2)
            #expect(calls[1].at - calls[0].at >= .seconds(1), "retried \(calls[1].at - calls[0].at) after a retry_after of 1 s")

            fake.state.withLockedValue { _ = $0.blocked.insert(77) }
            await #expect(throws: BotAPIError.blocked(description: "Forbidden: bot was blocked by the user")) {
                _ = try await limiter.send(to: 77) { try await client.sendMessage(chatID: 77, text: "x") }
            }
            #expect(fake.calls("sendMessage").count == 3, "a blocked person is not asked twice")

            let stubborn = OutboundLimiter(maxRetries: 1)
            fake.floodControl("sendMessage", retryAfter: 1, times: 2)
            await #expect(throws: BotAPIError.retryAfter(seconds: 1, description: "Too Many Requests: retry after 1")) {
                _ = try await stubborn.send(to: 43) { try await client.sendMessage(chatID: 43, text: "x") }
            }
        }
    }
}
