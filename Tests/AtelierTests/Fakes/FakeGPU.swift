import AsyncHTTPClient
import Core
import Foundation
import Generation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOConcurrencyHelpers
import NIOCore

/// What every fake GPU backend shares: a recorded request log, scripted failures (N answers of
/// 503, N cut connections), and a real PNG to hand out.
struct Script: Sendable {
    var failures = 0
    var cuts = 0
    var requests: [(method: String, path: String, authorization: String?, body: Data)] = []

    /// The scripted fault for the next generation request, if any.
    mutating func nextFault() -> Response? {
        if failures > 0 {
            failures -= 1
            return FakeGPU.json(.serviceUnavailable, ["detail": "CUDA out of memory. Tried to allocate 2.00 GiB"])
        }
        if cuts > 0 {
            cuts -= 1
            return FakeGPU.cut()
        }
        return nil
    }
}

enum FakeGPU {
    static let png: Data = PNGEncoder.encode(width: 16, height: 24, rgb: [UInt8](repeating: 200, count: 16 * 24 * 3))

    static func json(_ status: HTTPResponse.Status, _ value: Any) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    /// Promises a body and stops half way: the client sees the connection cut.
    static func cut() -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json", .contentLength: "4096"],
            body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: #"{"images": ["iVBORw0KGgo"#))
                throw CancellationError()
            }
        )
    }

    static func record(_ script: NIOLockedValueBox<Script>, _ request: Request) async throws -> Data {
        let body = Data(buffer: try await request.body.collect(upTo: 32 << 20))
        script.withLockedValue {
            $0.requests.append((request.method.rawValue, request.uri.path, request.headers[.authorization], body))
        }
        return body
    }

    static func object(_ data: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }
}
