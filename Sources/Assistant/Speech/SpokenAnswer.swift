import Foundation
import Synchronization

/// A persona's streamed answer spoken while it streams (seed 004: "the audio is generated in
/// parallel"): each sentence is synthesized as soon as it is complete, one after another in the
/// background, and each lands in the speech cache. When the stream ends whole, the sentences'
/// audio joined is stored as the whole answer's, so the client's /v1/audio/speech of the answer
/// is served from the cache the moment the text is there, instead of waiting for a synthesis of
/// the whole. A stream that breaks stops the work; nothing is stored for its whole.
package final class SpokenAnswer: Sendable {
    private let sentences: AsyncStream<String>.Continuation
    private let whole: WholeText

    /// Set by `finish` before the sentences end, read by the speaking task after.
    private final class WholeText: Sendable {
        let text = Mutex<String?>(nil)
    }

    package init(speech: SpeechService, voice: VoiceProfile) {
        let (stream, sentences) = AsyncStream<String>.makeStream()
        let whole = WholeText()
        self.sentences = sentences
        self.whole = whole
        Task.detached(priority: .background) {
            var parts: [WAVAudio] = []
            var failed = false
            for await sentence in stream where !failed {
                do {
                    let spoken = try await speech.synthesize(text: sentence, voice: voice, speed: nil)
                    parts.append(try WAVAudio.parse(spoken.wav))
                } catch {
                    // The rest is still drained (and dropped); the whole is not stored from parts.
                    failed = true
                }
            }
            guard !failed, let text = whole.text.withLock({ $0 }), let first = parts.first,
                let checked = try? SpeechService.checkedText(text, field: "input")
            else { return }
            var samples: [Int16] = []
            samples.reserveCapacity(parts.reduce(0) { $0 + $1.samples.count })
            for part in parts {
                samples += part.sampleRate == first.sampleRate ? part.samples : part.resampled(to: first.sampleRate).samples
            }
            let joined = WAVAudio(sampleRate: first.sampleRate, samples: samples).wavData()
            try? await speech.cache.put(speech.cacheKey(text: checked, voice: voice, speed: nil), data: joined)
        }
    }

    /// A complete sentence of the answer, spoken after those before it.
    package func say(_ sentence: String) {
        sentences.yield(sentence)
    }

    /// The stream ended: `text` is the whole answer (as the sentences said it), or nil when the
    /// stream broke and the audio must not stand for an answer the client never got whole.
    package func finish(whole text: String?) {
        whole.text.withLock { $0 = text }
        sentences.finish()
    }
}

/// How a persona's answers are spoken into the cache: a whole one at once (answers that were not
/// streamed, /chat), a streamed one sentence by sentence (`SpokenAnswer`).
package struct AnswerVoice: Sendable {
    package var whole: @Sendable (Persona, String) -> Void
    /// nil when the persona's voice is unknown.
    package var streaming: @Sendable (Persona) -> SpokenAnswer?

    package init(whole: @escaping @Sendable (Persona, String) -> Void, streaming: @escaping @Sendable (Persona) -> SpokenAnswer?) {
        self.whole = whole
        self.streaming = streaming
    }
}
