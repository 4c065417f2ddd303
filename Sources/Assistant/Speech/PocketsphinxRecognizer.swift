import Foundation

/// English speech recognition with CMU pocketsphinx, offline.
///
/// Free speech is heard poorly (scripts/speech-wer: about 85% word error rate on espeak-ng speech), so callers that
/// know what may be said pass it as `phrases`: recognition is then restricted to those phrases by a JSGF grammar and is
/// near exact (0% on the same corpus), returning one of the phrases (normalised) or nothing.
/// Cost, measured on a 3 s clip (release build, 2 cores): about 2.1 s unconstrained, 0.25–0.3 s with phrases, mostly
/// model loading; the first call with phrases also reads the dictionary once (0.45 s, 1.7 s in a debug build).
package struct PocketsphinxRecognizer: SpeechRecognizer {
    package var executable: String
    /// Holds `en-us/` (the acoustic model), `en-us.lm.bin` and `cmudict-en-us.dict`, as Debian's pocketsphinx-en-us does.
    package var modelDirectory: String
    package var timeout: Duration
    /// A grammar of thousands of phrases is slow to compile and no longer constrains much.
    package var maxPhrases: Int
    private let dictionary: PronouncingDictionary

    /// The acoustic model is trained on 16 kHz audio.
    static let modelSampleRate = 16_000

    package init(
        executable: String = "/usr/bin/pocketsphinx_continuous",
        modelDirectory: String = "/usr/share/pocketsphinx/model/en-us",
        timeout: Duration = .seconds(120),
        maxPhrases: Int = 1000
    ) {
        self.executable = executable
        self.modelDirectory = modelDirectory
        self.timeout = timeout
        self.maxPhrases = maxPhrases
        dictionary = PronouncingDictionary(path: modelDirectory + "/cmudict-en-us.dict")
    }

    private var acousticModel: String { modelDirectory + "/en-us" }
    private var languageModel: String { modelDirectory + "/en-us.lm.bin" }

    /// True when the binary and the model files are where this recognizer looks for them.
    package static func isAvailable(
        executable: String = "/usr/bin/pocketsphinx_continuous",
        modelDirectory: String = "/usr/share/pocketsphinx/model/en-us"
    ) -> Bool {
        PocketsphinxRecognizer(executable: executable, modelDirectory: modelDirectory).missingFiles().isEmpty
    }

    private func missingFiles() -> [String] {
        let manager = FileManager.default
        var missing = [acousticModel, languageModel, dictionary.path].filter { !manager.fileExists(atPath: $0) }
        if !manager.isExecutableFile(atPath: executable) { missing.insert(executable, at: 0) }
        return missing
    }

    package static func isEnglish(_ language: String?) -> Bool {
        guard let language = language?.trimmingCharacters(in: .whitespaces).lowercased(), !language.isEmpty else { return true }
        return language == "en" || language == "english" || language.hasPrefix("en-") || language.hasPrefix("en_")
    }

    package func transcribe(_ audio: WAVAudio, language: String?, phrases: [String]) async throws -> Transcript {
        guard Self.isEnglish(language) else {
            throw SpeechEngineError(
                "the embedded recognizer hears English only, not '\(language ?? "")'; "
                    + "for Russian and other languages set ATELIER_STT_URL to an OpenAI-compatible speech server"
            )
        }
        let missing = missingFiles()
        guard missing.isEmpty else {
            throw SpeechEngineError(
                "speech recognition is not installed: missing \(missing.joined(separator: ", ")); "
                    + "install pocketsphinx and pocketsphinx-en-us or set ATELIER_STT_URL"
            )
        }
        guard !audio.samples.isEmpty else { return Transcript(text: "", language: "en", duration: 0) }

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-stt-" + UUID().uuidString, isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: folder) }

        let audioFile = folder.appendingPathComponent("speech.wav")
        try audio.resampled(to: Self.modelSampleRate).wavData().write(to: audioFile)
        var arguments = ["-infile", audioFile.path, "-logfn", "/dev/null", "-hmm", acousticModel, "-dict", dictionary.path]

        let grammarPhrases = Self.grammarPhrases(Array(phrases.prefix(maxPhrases)), known: await dictionary.words())
        if grammarPhrases.isEmpty {
            arguments += ["-lm", languageModel]
        } else {
            let grammarFile = folder.appendingPathComponent("phrases.jsgf")
            try Self.grammar(grammarPhrases).write(to: grammarFile, atomically: false, encoding: .utf8)
            // A grammar is small, so wide beams cost little; with the default ones the search sometimes loses the only
            // path through the grammar ("Final result does not match the grammar") and hears nothing at all.
            arguments += ["-jsgf", grammarFile.path, "-beam", "1e-80", "-pbeam", "1e-80", "-wbeam", "1e-60"]
        }

        let result = try await SpeechProcess.run(executable: executable, arguments: arguments, timeout: timeout)
        if result.timedOut {
            throw SpeechEngineError("pocketsphinx took longer than \(timeout) and was stopped; send a shorter clip")
        }
        guard result.status == 0 else {
            throw SpeechEngineError(
                "pocketsphinx_continuous failed (exit \(result.status)); check the model files in \(modelDirectory)"
            )
        }
        // One line per utterance the voice activity detector found.
        let lines = String(decoding: result.standardOutput, as: UTF8.self).split(whereSeparator: \.isNewline)
        let text = lines.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
        return Transcript(text: text, language: "en", duration: audio.duration)
    }

    /// Lowercased, punctuation gone, words the dictionary cannot pronounce dropped (the decoder refuses a grammar
    /// naming them), duplicates removed. What remains is safe inside a JSGF rule: letters, digits and apostrophes.
    static func grammarPhrases(_ phrases: [String], known: Set<String>) -> [String] {
        var seen = Set<String>()
        var result: [String] = []
        for phrase in phrases {
            let spaced = String(phrase.lowercased().map { $0.isLetter || $0.isNumber || $0 == "'" ? $0 : " " })
            let words = spaced.split(separator: " ")
                .map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
                .filter { known.contains($0) }
            let normalized = words.joined(separator: " ")
            if !normalized.isEmpty, seen.insert(normalized).inserted {
                result.append(normalized)
            }
        }
        return result
    }

    static func grammar(_ phrases: [String]) -> String {
        "#JSGF V1.0;\ngrammar assistant;\npublic <s> = " + phrases.joined(separator: " | ") + ";\n"
    }
}

/// The words cmudict can pronounce, read once on first use: 135 000 entries, too many to read per request.
actor PronouncingDictionary {
    nonisolated let path: String
    private var loaded: Set<String>?

    init(path: String) {
        self.path = path
    }

    func words() -> Set<String> {
        if let loaded { return loaded }
        var words = Set<String>()
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            for line in text.split(whereSeparator: \.isNewline) {
                // "read(2) R EH D": alternate pronunciations carry a "(n)" suffix.
                guard let word = line.split(separator: " ", maxSplits: 1).first else { continue }
                words.insert(String(word.split(separator: "(").first ?? word))
            }
        }
        // An unreadable file is not remembered, so installing the model later needs no restart.
        if !words.isEmpty { loaded = words }
        return words
    }
}
