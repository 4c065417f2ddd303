import AtelierApp
import Atomics
import CompressNIO
import Core
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SQLKit
import Storage
import Testing

@testable import Generation

/// A backend that renders like the mock after a short pause and counts what it was given: how
/// many renders ran at once and how often each job came.
struct CountingBackend: GenerationBackend {
    struct Counts {
        var now = 0
        var most = 0
        var calls: [String: Int] = [:]
    }

    let counts = NIOLockedValueBox(Counts())
    var delay: Duration = .milliseconds(3)
    var name: String { "counting@test" }

    func loadedModel() async throws -> String? { nil }

    func check() async throws {}

    func generate(_ job: BackendJob, progress: @escaping @Sendable (Double) -> Void) async throws -> GeneratedImage {
        counts.withLockedValue {
            $0.now += 1
            $0.most = max($0.most, $0.now)
            $0.calls[job.id, default: 0] += 1
        }
        defer { counts.withLockedValue { $0.now -= 1 } }
        try await Task.sleep(for: delay)
        return MockBackend.render(job.params, seed: job.seed)
    }
}
