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
        // Event boundaries found on the raw bytes (a chunk is scanned once per byte, no copies).
        let (ends, last) = input.withUnsafeReadableBytes { bytes -> ([Int], Int) in
            var ends: [Int] = []
            var start = 0
            var index = 0
            let count = bytes.count
            while index < count {
                if bytes[index] == UInt8(ascii: "\n") {
                    if index + 1 < count, bytes[index + 1] == UInt8(ascii: "\n") {
                        start = index + 2
                        ends.append(start)
                        index = start
                        continue
                    } else if index + 2 < count, bytes[index + 1] == UInt8(ascii: "\r"), bytes[index + 2] == UInt8(ascii: "\n") {
                        start = index + 3
                        ends.append(start)
                        index = start
                        continue
                    }
                }
                index += 1
            }
            return (ends, start)
        }
        var from = 0
        for end in ends {
            if let event = input.getSlice(at: input.readerIndex + from, length: end - from) { events.append(event) }
            from = end
        }
        let start = last
        let total = input.readableBytes
        if start < total {
            guard total - start <= Self.maxEvent else { throw TooLong() }
            pending = input.getSlice(at: input.readerIndex + start, length: total - start) ?? ByteBuffer()
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
    /// Made once, not for every event.
    static let usageKey = Array("\"usage\"".utf8)

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
        bytes.withUnsafeReadableBytes { bytes in
            var sawLine = false
            var lineStart = true
            for byte in bytes {
                if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                    lineStart = true
                } else if lineStart {
                    guard byte == UInt8(ascii: ":") else { return false }
                    sawLine = true
                    lineStart = false
                }
            }
            return sawLine
        }
    }

    /// Cheap check before decoding, on the raw bytes: most chunks carry no usage, or
    /// `"usage": null` (OpenAI puts that in every chunk when usage was asked for), which is not
    /// worth decoding.
    var mentionsUsage: Bool {
        let key = Self.usageKey
        return bytes.withUnsafeReadableBytes { bytes in
            guard bytes.count >= key.count else { return false }
            var index = 0
            while index <= bytes.count - key.count {
                if bytes[index] == key[0], (1..<key.count).allSatisfy({ bytes[index + $0] == key[$0] }) {
                    var after = index + key.count
                    while after < bytes.count, bytes[after] == UInt8(ascii: " ") || bytes[after] == UInt8(ascii: ":") { after += 1 }
                    if after < bytes.count, bytes[after] == UInt8(ascii: "{") { return true }
                    index = after
                    continue
                }
                index += 1
            }
            return false
        }
    }
}
