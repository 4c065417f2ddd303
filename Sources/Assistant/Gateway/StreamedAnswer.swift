import NIOCore

/// The text of a streamed chat answer, gathered from its `chat.completion.chunk` events as they
/// pass through to the client, and handed on sentence by sentence as each completes, so a
/// persona's voice can say it while it streams (the seed's background synthesis). An answer the
/// gateway ended with an error event, or that never reached `[DONE]`, is not whole and gives
/// nothing at the end.
struct StreamedAnswer {
    private var splitter = SSEEventSplitter()
    private var text = ""
    /// The part of `text` not yet handed on as a sentence.
    private var pending = ""
    /// Unicode scalars in `text` (what SpeechService's input limit counts), kept as it grows:
    /// counting a String walks all of it.
    private var characters = 0
    private var done = false
    private var broken = false
    /// A spoken answer is cut at this many unicode scalars anyway (SpeechService's input limit).
    static let maxCharacters = 4096

    /// Reads `buffer`'s events; returns what they completed, up to the last end of a sentence (one
    /// string, which may hold several sentences).
    mutating func add(_ buffer: ByteBuffer) -> [String] {
        guard !broken else { return [] }
        do {
            for event in try splitter.push(buffer) {
                let parsed = SSEEvent(bytes: event)
                guard let data = parsed.data else { continue }
                if parsed.isDone {
                    done = true
                } else if Secretary.streamError(data) != nil {
                    broken = true
                } else if characters < Self.maxCharacters, let piece = Secretary.delta(data) {
                    let room = Self.maxCharacters - characters
                    let scalars = piece.unicodeScalars
                    let kept = scalars.count <= room ? piece : String(String.UnicodeScalarView(scalars.prefix(room)))
                    text += kept
                    pending += kept
                    characters += min(scalars.count, room)
                }
            }
        } catch {
            broken = true
        }
        return broken ? [] : takeSentences()
    }

    /// The sentences complete in `pending`: up to its last end of sentence (., !, ?, … or ; then a
    /// space, or a line break), when that part has something to say (a word or a number).
    private mutating func takeSentences() -> [String] {
        var end: String.Index?
        var index = pending.startIndex
        while index < pending.endIndex {
            let character = pending[index]
            let next = pending.index(after: index)
            if character.isNewline {
                end = next
            } else if ".!?…;".contains(character), next < pending.endIndex, pending[next].isWhitespace {
                end = next
            }
            index = next
        }
        guard let end else { return [] }
        let sentence = String(pending[..<end])
        guard sentence.contains(where: { $0.isLetter || $0.isNumber }) else { return [] }
        pending = String(pending[end...])
        return [sentence]
    }

    /// What is left after the last sentence, once the stream ended whole (nil otherwise, or when
    /// it has nothing to say).
    var rest: String? {
        guard whole != nil, pending.contains(where: { $0.isLetter || $0.isNumber }) else { return nil }
        return pending
    }

    /// The whole answer, or nil when it was cut, failed or empty.
    var whole: String? {
        guard done, !broken, !text.isEmpty else { return nil }
        return text
    }
}
