import NIOCore

/// Cuts an upstream's `text/event-stream` bytes into whole events (each ending in a blank line,
/// `\n\n` or `\r\n\r\n`), as they arrive: a network read may end in the middle of an event, and
/// the gateway looks at each event (usage, `[DONE]`) before passing it on unchanged. Events are
/// slices of the received buffers, not copies, except an event split across two reads.
struct SSEEventSplitter {
    private var pending = ByteBuffer()
    /// An event longer than this is not an LLM chunk; the stream is refused instead of growing.
    static let maxEvent = 4 << 20

    struct TooLong: Error {}

    mutating func push(_ buffer: ByteBuffer) throws -> [ByteBuffer] {
        var input = buffer
        if pending.readableBytes > 0 {
            pending.writeBuffer(&input)
            input = pending
            pending = ByteBuffer()
        }
        var events: [ByteBuffer] = []
        let bytes = input.readableBytesView
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "\n") {
                var end: Int?
                if index + 1 < bytes.endIndex, bytes[index + 1] == UInt8(ascii: "\n") {
                    end = index + 2
                } else if index + 2 < bytes.endIndex, bytes[index + 1] == UInt8(ascii: "\r"), bytes[index + 2] == UInt8(ascii: "\n") {
                    end = index + 3
                }
                if let end {
                    if let event = input.getSlice(at: input.readerIndex + (start - bytes.startIndex), length: end - start) {
                        events.append(event)
                    }
                    start = end
                    index = end
                    continue
                }
            }
            index += 1
        }
        if start < bytes.endIndex {
            guard bytes.endIndex - start <= Self.maxEvent else { throw TooLong() }
            pending = input.getSlice(at: input.readerIndex + (start - bytes.startIndex), length: bytes.endIndex - start) ?? ByteBuffer()
        }
        return events
    }

    /// Bytes after the last complete event when the stream ended (an upstream that ends without
    /// a blank line): passed on as they are.
    mutating func rest() -> ByteBuffer? {
        defer { pending = ByteBuffer() }
        return pending.readableBytes > 0 ? pending : nil
    }
}

/// What the gateway needs to know of one event.
struct SSEEvent {
    var bytes: ByteBuffer

    /// The `data:` payload (events from OpenAI-compatible servers have one data line).
    var data: Substring? {
        let text = String(buffer: bytes)
        for line in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            if line.hasPrefix("data:") { return line.dropFirst(5).drop { $0 == " " } }
        }
        return nil
    }

    var isDone: Bool { data?.hasPrefix("[DONE]") == true }

    /// Only comment lines (`: …`): keep-alives and notes such as OpenRouter's
    /// `: OPENROUTER PROCESSING`, which some upstreams send before their first token.
    var isComment: Bool {
        let lines = String(buffer: bytes).split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        return !lines.isEmpty && lines.allSatisfy { $0.hasPrefix(":") }
    }

    /// Cheap check before decoding: most chunks carry no usage, or `"usage": null` (OpenAI puts
    /// that in every chunk when usage was asked for), which is not worth decoding.
    var mentionsUsage: Bool {
        let text = String(buffer: bytes)
        guard let range = text.range(of: "\"usage\"") else { return false }
        let rest = text[range.upperBound...].drop { $0 == " " || $0 == ":" }
        return rest.hasPrefix("{")
    }
}
