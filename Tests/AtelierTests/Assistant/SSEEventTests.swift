import Foundation
import NIOCore
import Testing

@testable import Assistant

/// The gateway's view of an upstream's event stream: events cut whole however the reads split
/// them (LF and CRLF), comments told apart from data, and usage noticed without decoding chunks
/// that carry none.
@Suite("SSE events")
struct SSEEventTests {
    static let stream =
        ": OPENROUTER PROCESSING\n\n"
        + "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n"
        + "data: {\"choices\":[],\"usage\": {\"prompt_tokens\":3,\"completion_tokens\":1}}\r\n\r\n"
        + "data: [DONE]\n\n"

    @Test("the same events whatever the reads: at once, byte by byte, in uneven pieces")
    func splits() throws {
        let bytes = Array(Self.stream.utf8)
        for size in [bytes.count, 1, 2, 7, 33] {
            var splitter = SSEEventSplitter()
            var events: [String] = []
            var offset = 0
            while offset < bytes.count {
                let piece = ByteBuffer(bytes: bytes[offset..<min(bytes.count, offset + size)])
                events += try splitter.push(piece).map { String(buffer: $0) }
                offset += size
            }
            #expect(splitter.rest() == nil)
            #expect(events.count == 4, "reads of \(size) bytes: \(events)")
            #expect(events.joined() == Self.stream, "unchanged, in order")
        }
        var splitter = SSEEventSplitter()
        _ = try splitter.push(ByteBuffer(string: "data: {\"partial\""))
        #expect(splitter.rest().map { String(buffer: $0) } == "data: {\"partial\"")
    }

    @Test("comments, data, [DONE] and usage, from the bytes")
    func inspects() throws {
        var splitter = SSEEventSplitter()
        let events = try splitter.push(ByteBuffer(string: Self.stream)).map { SSEEvent(bytes: $0) }
        #expect(events.map(\.isComment) == [true, false, false, false])
        #expect(events.map(\.mentionsUsage) == [false, false, true, false], "a null usage is not worth decoding")
        #expect(events.map(\.isDone) == [false, false, false, true])
        #expect(events[1].data?.hasPrefix("{\"choices\"") == true)
        #expect(SSEEvent(bytes: ByteBuffer(string: ": ping\r\n: again\n\n")).isComment)
        #expect(!SSEEvent(bytes: ByteBuffer(string: ": ping\ndata: x\n\n")).isComment)
        #expect(!SSEEvent(bytes: ByteBuffer(string: "\n\n")).isComment)
        #expect(!SSEEvent(bytes: ByteBuffer(string: "data: {\"content\":\"say \\\"usage\\\" {\"}\n\n")).mentionsUsage)
        #expect(SSEEvent(bytes: ByteBuffer(string: "data: {\"usage\":null,\"x\":{\"usage\" :{\"a\":1}}}\n\n")).mentionsUsage)
    }

    static func delta(_ text: String) -> ByteBuffer {
        let json = try! JSONSerialization.data(withJSONObject: ["choices": [["delta": ["content": text]]]])
        return ByteBuffer(string: "data: " + String(decoding: json, as: UTF8.self) + "\n\n")
    }

    @Test("a streamed answer gives its sentences as they complete; marks alone wait for words; a cut stream gives no whole")
    func sentences() {
        var answer = StreamedAnswer()
        var said: [String] = []
        for piece in ["Hello", " there! ", "... ", "1. ", "Line one\n", "Да? ", "Конец"] { said += answer.add(Self.delta(piece)) }
        #expect(said == ["Hello there!", " ... 1.", " Line one\n", "Да?"])
        #expect(answer.rest == nil, "no rest before [DONE]")
        _ = answer.add(ByteBuffer(string: "data: [DONE]\n\n"))
        #expect(answer.rest == " Конец")
        #expect(answer.whole == "Hello there! ... 1. Line one\nДа? Конец")

        var cut = StreamedAnswer()
        _ = cut.add(Self.delta("One. Two"))
        _ = cut.add(ByteBuffer(string: "data: {\"error\": {\"message\": \"upstream cut\"}}\n\n"))
        #expect(cut.whole == nil && cut.rest == nil)
    }
}
