import NIOCore

/// The text of a streamed chat answer, gathered from its `chat.completion.chunk` events as they
/// pass through to the client: what a persona's voice says once the stream has ended (the seed's
/// background synthesis). An answer the gateway ended with an error event, or that never reached
/// `[DONE]`, is not whole and gives nothing.
struct StreamedAnswer {
    private var splitter = SSEEventSplitter()
    private var text = ""
    /// `text.count`, kept as it grows: counting a String's characters walks all of it.
    private var characters = 0
    private var done = false
    private var broken = false
    /// A spoken answer is cut at this many characters anyway (SpeechService's input limit).
    static let maxCharacters = 4096

    mutating func add(_ buffer: ByteBuffer) {
        guard !broken else { return }
        do {
            for event in try splitter.push(buffer) {
                let parsed = SSEEvent(bytes: event)
                guard let data = parsed.data else { continue }
                if parsed.isDone {
                    done = true
                } else if Secretary.streamError(data) != nil {
                    broken = true
                } else if characters < Self.maxCharacters, let piece = Secretary.delta(data) {
                    text += piece
                    characters += piece.count
                }
            }
        } catch {
            broken = true
        }
    }

    /// The whole answer, or nil when it was cut, failed or empty.
    var whole: String? {
        guard done, !broken, !text.isEmpty else { return nil }
        return String(text.prefix(Self.maxCharacters))
    }
}
