import Foundation

/// Wall-clock time, passed in explicitly so tests can move it (token expiry, throttling windows).
public struct WallClock: Sendable {
    private let read: @Sendable () -> Date

    public init(_ read: @escaping @Sendable () -> Date) { self.read = read }

    public static let system = WallClock { Date() }

    public func now() -> Date { read() }

    /// Milliseconds since 1970, the form every timestamp column uses.
    public func millis() -> Int64 { Timestamp.millis(now()) }
}

/// Conversions between `Date` and the BIGINT millisecond columns. Integers compare and index the same
/// on SQLite and PostgreSQL, which keeps one set of queries for both.
public enum Timestamp {
    public static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    public static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
}
