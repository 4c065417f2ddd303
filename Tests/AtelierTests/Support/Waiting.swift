import Testing

/// Polls `condition` every 25 ms until it holds, or records `what` as timed out after `timeout`.
func waitUntil(_ what: String, timeout: Duration, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    let met = try await condition()
    try #require(met, "timed out waiting for \(what)")
}
