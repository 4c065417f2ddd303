import Foundation
import NIOConcurrencyHelpers

/// Live progress of the downloads this process runs, for `…/events`. Downloads run by another
/// process are followed through the database instead.
package final class DownloadBoard: Sendable {
    package struct Live: Sendable, Equatable {
        package var file: String?
        package var totalBytes: Int64?
        package var receivedBytes: Int64
        package var bytesPerSecond: Double
    }

    private let live = NIOLockedValueBox<[String: Live]>([:])

    package init() {}

    func update(_ id: String, _ value: Live) { live.withLockedValue { $0[id] = value } }
    func remove(_ id: String) { _ = live.withLockedValue { $0.removeValue(forKey: id) } }
    package func snapshot(_ id: String) -> Live? { live.withLockedValue { $0[id] } }
}
