import Foundation

/// Wall-clock time, passed in explicitly so tests can move it (token expiry, throttling windows).
package struct WallClock: Sendable {
    private let read: @Sendable () -> Date

    package init(_ read: @escaping @Sendable () -> Date) { self.read = read }

    package static let system = WallClock { Date() }

    package func now() -> Date { read() }

    /// Milliseconds since 1970, the form every timestamp column uses.
    package func millis() -> Int64 { Timestamp.millis(now()) }
}

/// Conversions between `Date` and the BIGINT millisecond columns. Integers compare and index the same
/// on SQLite and PostgreSQL, which keeps one set of queries for both.
package enum Timestamp {
    package static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    package static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
}
