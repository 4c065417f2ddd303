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

@Suite("Image store", .timeLimit(.minutes(5)))
struct ImageStoreTests {
    /// Both ways of linking the unnamed file: by its descriptor (allowed to root, as the tests
    /// run in CI) and by its /proc name (what an unprivileged server falls back to).
    @Test(
        "an image is stored once under its SHA-256, complete, with no temporary file left; storing it again changes nothing",
        arguments: [true, false]
    )
    func contentAddressed(byDescriptor: Bool) async throws {
        let root = JobQueueTests.imageFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = ImageStore(root: root)
        store.linksByDescriptor.store(byDescriptor, ordering: .relaxed)
        let png = PNGEncoder.encode(width: 4, height: 4, rgb: [UInt8](repeating: 7, count: 48))
        let hash = try await store.put(png)
        #expect(hash == Hex.encode(SHA256.hash(data: png)))
        #expect(try await store.put(png) == hash)
        #expect(store.get(hash) == png)
        let files = try FileManager.default.subpathsOfDirectory(atPath: root).filter { !$0.hasSuffix("/") && $0.contains(".") }
        #expect(files == ["\(hash.prefix(2))/\(hash).png"])
        #expect(store.get(String(repeating: "0", count: 64)) == nil && store.get("../etc/passwd") == nil)
    }
}
