import Foundation

/// A voice the assistant can speak with, and how espeak-ng renders it.
package struct VoiceProfile: Sendable, Equatable {
    /// What API callers send as `voice`, e.g. "anna_ru" or OpenAI's "alloy".
    package var id: String
    /// What a person picking a voice sees.
    package var name: String
    /// ISO 639-1 code of the language the voice reads.
    package var language: String
    /// espeak-ng's `-v` value: a language voice plus a variant ("ru+f3" is Russian with the third female variant).
    package var espeakVoice: String
    /// espeak-ng's `-p` (0–99, 50 is its default); nil keeps the variant's own pitch.
    package var pitch: Int?

    package init(id: String, name: String, language: String, espeakVoice: String, pitch: Int? = nil) {
        self.id = id
        self.name = name
        self.language = language
        self.espeakVoice = espeakVoice
        self.pitch = pitch
    }
}

/// The voices callers may ask for. Besides the assistant's own, OpenAI's voice names are mapped to English espeak-ng
/// voices of a similar character, so SDK code written for OpenAI (`voice="alloy"`) works unchanged.
package enum VoiceCatalog {
    package static let annaRussian = VoiceProfile(
        id: "anna_ru",
        name: "Анна (Russian)",
        language: "ru",
        espeakVoice: "ru+f3",
        pitch: 55
    )
    package static let marinaRussian = VoiceProfile(
        id: "marina_ru",
        name: "Марина (Russian)",
        language: "ru",
        espeakVoice: "ru+f4",
        pitch: 45
    )
    package static let annaEnglish = VoiceProfile(
        id: "anna_en",
        name: "Anna (English)",
        language: "en",
        espeakVoice: "en-us+f3",
        pitch: 55
    )
    package static let marinaEnglish = VoiceProfile(
        id: "marina_en",
        name: "Marina (English)",
        language: "en",
        espeakVoice: "en-us+f4",
        pitch: 45
    )

    /// The voice used when a caller names none.
    package static let standard = annaRussian

    package static let all: [VoiceProfile] = [annaRussian, marinaRussian, annaEnglish, marinaEnglish] + openAICompatible

    /// OpenAI's voices, female ones on female variants and male ones on male variants.
    private static let openAICompatible: [VoiceProfile] = [
        openAI("alloy", "en-us+f2", pitch: 45),
        openAI("ash", "en-us+m3", pitch: 45),
        openAI("ballad", "en-gb+m1", pitch: 50),
        openAI("coral", "en-us+f3", pitch: 60),
        openAI("echo", "en-us+m1", pitch: 50),
        openAI("fable", "en-gb+m2", pitch: 55),
        openAI("onyx", "en-us+m7", pitch: 30),
        openAI("nova", "en-us+f3", pitch: 55),
        openAI("sage", "en-us+f1", pitch: 50),
        openAI("shimmer", "en-us+f4", pitch: 60),
        openAI("verse", "en-us+m2", pitch: 50),
        openAI("marin", "en-us+f5", pitch: 50),
        openAI("cedar", "en-us+m4", pitch: 40),
    ]

    /// Case and surrounding spaces are ignored: "Alloy" and " anna_ru " are found.
    package static func find(_ id: String) -> VoiceProfile? {
        let wanted = id.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        return all.first { $0.id == wanted }
    }

    private static func openAI(_ id: String, _ espeakVoice: String, pitch: Int) -> VoiceProfile {
        let name = id.prefix(1).uppercased() + id.dropFirst() + " (English)"
        return VoiceProfile(id: id, name: name, language: "en", espeakVoice: espeakVoice, pitch: pitch)
    }
}
