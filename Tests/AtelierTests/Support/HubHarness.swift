import AsyncHTTPClient
import Core
import Foundation
import Hub
import Logging

/// A downloader wired to loopback fakes, with its own HTTP client and work folder.
struct DownloaderHarness {
    let http: HubHTTP
    let downloader: RangeDownloader
    let dir: String

    static func run(_ body: @Sendable (DownloaderHarness) async throws -> Void) async throws {
        let client = HubHTTP.makeClient()
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let http = HubHTTP(outbound: HubHTTP.makeOutbound(client: client, allowPrivate: true), logger: logger)
        let dir = TestDatabase.temporaryDirectory()
        let harness = DownloaderHarness(http: http, downloader: RangeDownloader(http: http, logger: logger), dir: dir)
        let result = await Result { try await body(harness) }
        try? await client.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
        try result.get()
    }

    var workDir: String { (dir as NSString).appendingPathComponent("tmp") }
    func destination(_ name: String) -> String { (dir as NSString).appendingPathComponent("out/\(name)") }

    static func request(
        _ url: String,
        sha256: String? = nil,
        size: Int64? = nil,
        name: String = "model.safetensors",
        credentials: Secret? = nil
    ) -> FileRequest {
        FileRequest(url: URL(string: url)!, credentials: credentials, expectedSize: size, expectedSHA256: sha256, filename: name) {
            status,
            _,
            _ in AppError(.badGateway, "upstream answered \(status.code)")
        }
    }
}

/// A valid safetensors file of about `size` bytes: an 8-byte header length, a JSON header, then data.
func safetensorsContent(size: Int, seed: UInt64 = 7) -> Data {
    let header = Data(#"{"__metadata__":{"format":"pt"}}"#.utf8)
    var data = Data()
    var length = UInt64(header.count).littleEndian
    data.append(Data(bytes: &length, count: 8))
    data.append(header)
    data.append(FakeFileServer.content(size: max(0, size - data.count), seed: seed))
    return data
}
