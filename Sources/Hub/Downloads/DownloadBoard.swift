import Foundation
import NIOConcurrencyHelpers

/// Live progress of the downloads this process runs, for `…/events`. Downloads run by another
/// process are followed through the database instead.
public final class DownloadBoard: Sendable {
    public struct Live: Sendable, Equatable {
        public var file: String?
        public var totalBytes: Int64?
        public var receivedBytes: Int64
        public var bytesPerSecond: Double
    }

    private let live = NIOLockedValueBox<[String: Live]>([:])

    public init() {}

    func update(_ id: String, _ value: Live) { live.withLockedValue { $0[id] = value } }
    func remove(_ id: String) { _ = live.withLockedValue { $0.removeValue(forKey: id) } }
    public func snapshot(_ id: String) -> Live? { live.withLockedValue { $0[id] } }
}
