import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A `text/event-stream` response. `produce` writes events until it returns; the client
/// disconnecting ends it (the write throws).
package enum ServerSentEvents {
    package struct Writer: Sendable {
        let write: @Sendable (ByteBuffer) async throws -> Void

        /// `event: NAME` (optional) and `data: JSON` lines, then a blank line.
        package func send(event: String? = nil, json: some Encodable) async throws {
            let data = try APIJSON.encoder.encode(json)
            var text = ""
            if let event { text += "event: \(event)\n" }
            text += "data: \(String(decoding: data, as: UTF8.self))\n\n"
            try await write(ByteBuffer(string: text))
        }

        package func send(raw data: String) async throws {
            try await write(ByteBuffer(string: "data: \(data)\n\n"))
        }

        /// A comment line that keeps proxies from closing an idle stream.
        package func keepAlive() async throws {
            try await write(ByteBuffer(string: ": keep-alive\n\n"))
        }
    }

    package static func response(_ produce: @escaping @Sendable (Writer) async throws -> Void) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: .init { writer in
                // The producer runs as a child task and hands its events over a stream; when the
                // client goes away the write throws, and leaving the group cancels the producer.
                let (events, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            try await produce(Writer(write: { continuation.yield($0) }))
                            continuation.finish()
                        } catch {
                            continuation.finish(throwing: error)
                        }
                    }
                    for try await event in events { try await writer.write(event) }
                    group.cancelAll()
                }
                try await writer.finish(nil)
            }
        )
    }
}
